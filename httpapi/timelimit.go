package httpapi

import (
	"context"
	"slices"
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
	limits          *timeLimits
	deadline        time.Time
	done            chan struct{}
	// Guarded by limits.mu:
	err   error        // set before done is closed
	index int          // in live; -1 once ended
	after []*afterFunc // to call when it ends
}

// afterFunc is a function to call when a limited context ends, unless
// stopped first.
type afterFunc struct {
	f    func()
	over bool // called or stopped; guarded by timeLimits.mu
}

// start bounds a request's context; end must be called when the request
// is answered.
func (l *timeLimits) start(parent context.Context) *limited {
	c := &limited{Context: parent, limits: l, deadline: time.Now().Add(l.timeout), done: make(chan struct{})}
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
	for _, a := range c.after {
		if !a.over {
			a.over = true
			go a.f()
		}
	}
	c.after = nil
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

// AfterFunc calls f in a goroutine of its own once c ends, unless stop is
// called first, as context.AfterFunc does. A context derived from c (a
// database query's, say) is ended through it: for a Context that is not
// one of its own and has no AfterFunc, the context package would watch
// c with a goroutine per derived context.
func (c *limited) AfterFunc(f func()) (stop func() bool) {
	l := c.limits
	a := &afterFunc{f: f}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.index < 0 {
		a.over = true
		go f()
	} else {
		c.after = append(c.after, a)
	}
	return func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		if a.over {
			return false
		}
		a.over = true
		if i := slices.Index(c.after, a); i >= 0 {
			c.after = slices.Delete(c.after, i, i+1)
		}
		return true
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
