package httpapi

import (
	"context"
	"errors"
	"flashsale"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestRequestTimeLimit: a request that waits longer than RequestTimeout
// sees its context end with DeadlineExceeded, not before its deadline,
// and is answered 503 as an unavailable answer is.
func TestRequestTimeLimit(t *testing.T) {
	s := New(Config{RequestTimeout: 50 * time.Millisecond}, nil, nil, zerolog.Nop())
	var (
		err               error
		deadline, endedAt time.Time
	)
	s.route("/api/test/wait", s.handle(func(_ http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		deadline, _ = ctx.Deadline()
		<-ctx.Done()
		endedAt, err = time.Now(), ctx.Err()
		return fmt.Errorf("%w: %v", flashsale.ErrUnavailable, err)
	}), http.MethodGet)

	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/test/wait", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", rec.Code, rec.Body)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the context ended with %v, want DeadlineExceeded", err)
	}
	if endedAt.Before(deadline) {
		t.Fatalf("the context ended at %v, before its deadline %v", endedAt, deadline)
	}
}

// TestRequestTimeLimitEndsWhenTheClientGoes: the limited context ends
// with the request's own, as a client that goes away ends it, long
// before the limit.
func TestRequestTimeLimitEndsWhenTheClientGoes(t *testing.T) {
	s := New(Config{RequestTimeout: time.Hour}, nil, nil, zerolog.Nop())
	var err error
	s.route("/api/test/wait", s.handle(func(_ http.ResponseWriter, r *http.Request) error {
		<-r.Context().Done()
		err = r.Context().Err()
		return err
	}), http.MethodGet)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/test/wait", nil))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the context ended with %v, want Canceled", err)
	}
}

// TestTimeLimitsEndEveryRequest: requests ended in any order, some
// expired and some ended by their client, each end once, with their own
// reason, and the sweeping goroutine stops once none is in flight.
func TestTimeLimitsEndEveryRequest(t *testing.T) {
	// Long enough that every goroutine answers or cancels before its
	// limit, even 200 of them started under -race on a busy machine (at
	// 20 ms, one sometimes started too late, and its request expired).
	l := newTimeLimits(time.Second)
	const n = 200
	cs := make([]*limited, n)
	parents := make([]context.CancelFunc, n)
	for i := range cs {
		var parent context.Context
		parent, parents[i] = context.WithCancel(context.Background())
		cs[i] = l.start(parent)
	}
	defer func() {
		for _, cancel := range parents {
			cancel()
		}
	}()
	var wg sync.WaitGroup
	for _, i := range rand.Perm(n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 3 {
			case 0: // answered in time
				l.end(cs[i])
			case 1: // the client went
				parents[i]()
			}
			<-cs[i].Done()
			l.end(cs[i]) // as the handler's defer does; a second end changes nothing
		}()
	}
	wg.Wait()
	for i, c := range cs {
		want := []error{context.Canceled, context.Canceled, context.DeadlineExceeded}[i%3]
		if !errors.Is(c.Err(), want) {
			t.Errorf("request %d ended with %v, want %v", i, c.Err(), want)
		}
	}
	for l.stillSweeping() {
		time.Sleep(l.tick)
	}
	if len(l.live) != 0 {
		t.Fatalf("%d requests still in flight", len(l.live))
	}
}

func (l *timeLimits) stillSweeping() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sweeping
}

// TestTimeLimitEndsDerivedContexts: a context derived from a request's
// (a database query's) ends with it, through AfterFunc rather than a
// goroutine watching it, and leaves nothing behind when it ends first.
func TestTimeLimitEndsDerivedContexts(t *testing.T) {
	l := newTimeLimits(30 * time.Millisecond)
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	c := l.start(parent)

	done, cancelDone := context.WithCancel(c)
	expired, cancelExpired := context.WithCancel(c)
	defer cancelExpired()
	if n := afterFuncs(l, c); n != 2 {
		t.Fatalf("%d functions registered for 2 derived contexts", n)
	}
	cancelDone() // a query over before the request
	if n := afterFuncs(l, c); n != 1 {
		t.Fatalf("%d functions registered once one derived context ended, want 1", n)
	}
	<-expired.Done()
	if !errors.Is(expired.Err(), context.DeadlineExceeded) || !errors.Is(done.Err(), context.Canceled) {
		t.Fatalf("derived contexts ended with %v and %v, want DeadlineExceeded and Canceled", expired.Err(), done.Err())
	}
	late, cancelLate := context.WithCancel(c) // derived once c has ended: ends at once
	defer cancelLate()
	<-late.Done()
	l.end(c)
}

func afterFuncs(l *timeLimits, c *limited) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(c.after)
}
