package httpapi

import (
	"context"
	"sync"
	"time"
)

// timeLimits bound requests by a time limit without a timer each.
// context.WithTimeout would give every request a timer, a cancelable
// context registered with the request's own, and a timer set and
// stopped in the runtime's heap: a tenth of the CPU of a hold at load.
// Here one goroutine, running while requests are in flight, looks at them
// every tick and ends those past their deadline or whose own context
// ended (the client went). A request's context so ends at most a tick
// late; the tick is a small part of the limit.
type timeLimits struct {
	timeout time.Duration
	tick    time.Duration

	mu       sync.Mutex // guards live, sweeping and each limited's index and err
	live     []*limited // the requests in flight
	sweeping bool       // the goroutine that ends them runs
}

// maxTick bounds how late a request's context ends.
const maxTick = 10 * time.Millisecond

func newTimeLimits(timeout time.Duration) *timeLimits {
	return &timeLimits{timeout: timeout, tick: min(max(timeout/100, time.Millisecond), maxTick)}
}

// limited is a request's context under the time limit: the request's own
// context, with a deadline and a Done of its own.
type limited struct {
	context.Context // the request's own: its values, and whether the client went
	deadline        time.Time
	done            chan struct{}
	err             error // set, under timeLimits.mu, before done is closed
	index           int   // in live; -1 once ended
}

// start bounds a request's context; end must be called when the request
// is answered.
func (l *timeLimits) start(parent context.Context) *limited {
	c := &limited{Context: parent, deadline: time.Now().Add(l.timeout), done: make(chan struct{})}
	if d, ok := parent.Deadline(); ok && d.Before(c.deadline) {
		c.deadline = d
	}
	l.mu.Lock()
	c.index = len(l.live)
	l.live = append(l.live, c)
	if !l.sweeping {
		l.sweeping = true
		go l.sweep()
	}
	l.mu.Unlock()
	return c
}

// end ends a request's context, as the cancel of context.WithTimeout does.
func (l *timeLimits) end(c *limited) {
	l.mu.Lock()
	l.remove(c, context.Canceled)
	l.mu.Unlock()
}

// remove takes c out of live and ends it with err, unless it has ended.
// l.mu is held.
func (l *timeLimits) remove(c *limited, err error) {
	if c.index < 0 {
		return
	}
	last := len(l.live) - 1
	l.live[c.index] = l.live[last]
	l.live[c.index].index = c.index
	l.live[last] = nil
	l.live = l.live[:last]
	c.index = -1
	c.err = err
	close(c.done)
}

// sweep ends, every tick, the requests past their deadline or whose own
// context ended, until none is in flight.
func (l *timeLimits) sweep() {
	t := time.NewTicker(l.tick)
	defer t.Stop()
	for now := range t.C {
		l.mu.Lock()
		for i := 0; i < len(l.live); {
			c := l.live[i]
			switch err := c.Context.Err(); {
			case err != nil:
				l.remove(c, err)
			case !now.Before(c.deadline):
				l.remove(c, context.DeadlineExceeded)
			default:
				i++
			}
		}
		if len(l.live) == 0 {
			l.sweeping = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
	}
}

func (c *limited) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *limited) Done() <-chan struct{}       { return c.done }

// Err is nil until Done is closed, then why.
func (c *limited) Err() error {
	select {
	case <-c.done:
		// The close happened after err was set, under the lock.
		return c.err
	default:
		return nil
	}
}
