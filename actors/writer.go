package actors

import (
	"context"
	"flashsale"
	"sync"
	"time"
)

// maxGroup bounds how many products' batches share one transaction.
const maxGroup = 256

// writer commits the batches of many product actors together: with many
// products each taking a request now and then, every actor's batch is
// small, and one transaction per batch would make the commit, not the
// actors, the limit. Each actor still has at most one batch in flight, so
// two batches of one product never meet, in a group or between groups.
type writer struct {
	store   Store
	timeout time.Duration

	mu    sync.Mutex // guards queue
	queue []writeJob
	wake  chan struct{} // a token: work may be queued
	stop  chan struct{}
	done  sync.WaitGroup
}

type writeJob struct {
	batch *flashsale.Batch
	done  func(error)
}

// newWriter starts n goroutines that commit queued batches.
func newWriter(store Store, timeout time.Duration, n int) *writer {
	w := &writer{store: store, timeout: timeout, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	for range max(n, 1) {
		w.done.Add(1)
		go w.run()
	}
	return w
}

// submit queues a batch; done gets the outcome of its commit, from a
// writer goroutine. It never blocks the actor.
func (w *writer) submit(b *flashsale.Batch, done func(error)) {
	w.mu.Lock()
	w.queue = append(w.queue, writeJob{batch: b, done: done})
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *writer) run() {
	defer w.done.Done()
	for {
		select {
		case <-w.wake:
		case <-w.stop:
			w.commitQueued()
			return
		}
		w.commitQueued()
	}
}

// commitQueued commits groups until the queue is empty.
func (w *writer) commitQueued() {
	for {
		w.mu.Lock()
		n := min(len(w.queue), maxGroup)
		group := make([]writeJob, n)
		copy(group, w.queue)
		w.queue = w.queue[n:]
		if len(w.queue) > 0 {
			// More than one group waits: let another writer take some.
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
		w.mu.Unlock()
		if n == 0 {
			return
		}
		batches := make([]*flashsale.Batch, n)
		for i, job := range group {
			batches[i] = job.batch
		}
		// The write must not hang on any one caller's context: it has its own.
		ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
		errs := w.store.CommitBatches(ctx, batches)
		cancel()
		for i, job := range group {
			job.done(errs[i])
		}
	}
}

// close commits what is queued and stops the goroutines.
func (w *writer) close() {
	close(w.stop)
	w.done.Wait()
}
