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
// actors, the limit. Two batches of one product never meet in a group, and
// a product's next batch starts only once its previous one holds the row
// lock or has ended (takeGroup, release): the version each expects orders
// them.
type writer struct {
	store   Store
	timeout time.Duration
	// overlap: a product's next batch may begin while this one commits,
	// which only another writer goroutine can do. Alone, a writer does not
	// ask the store when the rows are locked, and the store may commit a
	// group in one round trip, not two.
	overlap bool

	mu    sync.Mutex // guards queue and busy
	queue []writeJob
	busy  map[int64]bool // products with a batch committing
	wake  chan struct{}  // a token: work may be queued
	stop  chan struct{}
	done  sync.WaitGroup
}

type writeJob struct {
	batch *flashsale.Batch
	done  func(error)
}

// newWriter starts n goroutines that commit queued batches.
func newWriter(store Store, timeout time.Duration, n int) *writer {
	w := &writer{store: store, timeout: timeout, overlap: n > 1, busy: map[int64]bool{}, wake: make(chan struct{}, 1), stop: make(chan struct{})}
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
		group, more := w.takeGroup()
		w.mu.Unlock()
		if more {
			// More than one group waits: let another writer take some.
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
		if len(group) == 0 {
			return
		}
		batches := make([]*flashsale.Batch, len(group))
		for i, job := range group {
			batches[i] = job.batch
		}
		// The write must not hang on any one caller's context: it has its own.
		ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
		var (
			errs     []error
			released bool // guarded by w.mu
		)
		if ls, ok := w.store.(lockingStore); ok && w.overlap {
			errs = ls.CommitBatchesLocked(ctx, batches, func() { w.release(group, &released) })
		} else {
			errs = w.store.CommitBatches(ctx, batches)
		}
		cancel()
		w.release(group, &released)
		for i, job := range group {
			job.done(errs[i])
		}
	}
}

// release lets the next batches of a group's products go: once the group
// holds their rows' locks, or has ended. Only its first call per group
// counts (released): by the second, a product may be busy with its next
// batch, which is not this group's to release.
func (w *writer) release(group []writeJob, released *bool) {
	w.mu.Lock()
	if *released {
		w.mu.Unlock()
		return
	}
	*released = true
	for _, job := range group {
		delete(w.busy, job.batch.ProductID)
	}
	waiting := len(w.queue) > 0
	w.mu.Unlock()
	if waiting {
		// Batches held back for these products may go now.
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// lockingStore is a store whose group commit says when it holds the locks
// of the products' rows. A product's next batch may then begin its own
// transaction while this one commits: its lock waits for this commit, so
// the database applies the two in order, and the round trips of one
// overlap the commit of the other.
type lockingStore interface {
	CommitBatchesLocked(ctx context.Context, batches []*flashsale.Batch, locked func()) []error
}

// takeGroup takes up to maxGroup queued batches of different products, none
// of whose product has a batch starting to commit: a product's next batch
// expects the version its previous one writes, so it waits until that one
// holds the row's lock (or has ended), and release wakes a writer for it. more
// reports batches left that another writer may take now. w.mu is held.
func (w *writer) takeGroup() (group []writeJob, more bool) {
	rest := w.queue[:0]
	for _, job := range w.queue {
		id := job.batch.ProductID
		switch {
		case w.busy[id]:
			rest = append(rest, job)
		case len(group) == maxGroup:
			rest = append(rest, job)
			more = true
		default:
			w.busy[id] = true
			group = append(group, job)
		}
	}
	clear(w.queue[len(rest):])
	w.queue = rest
	return group, more
}

// close commits what is queued and stops the goroutines.
func (w *writer) close() {
	close(w.stop)
	w.done.Wait()
}
