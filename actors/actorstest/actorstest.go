// Package actorstest starts product actors for tests as a server process
// would, and holds what the tests of the actors and of the layers above
// them check the same way: that a product's books add up, its journal,
// a condition that comes to hold in time, and a log read while it is
// written. The database is a real one, from storetest.
package actorstest

import (
	"bytes"
	"context"
	"encoding/json"
	"flashsale"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"flashsale/actors"
	"flashsale/store"
)

// drainTimeout bounds a test's drain, so that a stuck actor fails the
// test rather than hanging it.
const drainTimeout = 10 * time.Second

// Service is product actors started for one test. They are drained when
// the test ends, unless the test drained them before, as a server does
// when it stops.
type Service struct {
	*actors.Service
	once sync.Once
	err  error
}

// NewService starts product actors on db with cfg, logging nothing.
func NewService(t testing.TB, db *store.DB, cfg actors.Config) *Service {
	t.Helper()
	return NewLoggedService(t, db, cfg, zerolog.Nop())
}

// NewLoggedService starts product actors on db with cfg, logging to log.
func NewLoggedService(t testing.TB, db *store.DB, cfg actors.Config, log zerolog.Logger) *Service {
	t.Helper()
	r := &Service{Service: actors.NewService(cfg, db, log)}
	t.Cleanup(func() {
		if err := r.Drain(); err != nil {
			t.Errorf("draining the product actors: %v", err)
		}
	})
	return r
}

// Order places a hold of qty units of a product, without a key, and
// turns it into an order awaiting payment; any error fails the test.
func (r *Service) Order(t testing.TB, productID, qty int64) flashsale.Order {
	t.Helper()
	ctx := context.Background()
	h, err := r.PlaceHold(ctx, productID, qty, "")
	if err != nil {
		t.Fatal(err)
	}
	o, err := r.CreateOrder(ctx, h.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// Drain stops the actors once each has committed what it decided, within
// ten seconds. Only the first call drains; later ones return its result.
// It stands in for the embedded Service's Drain, which a test never
// needs to call.
func (r *Service) Drain() error {
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		r.err = r.Service.Drain(ctx)
	})
	return r.err
}

// CheckBooks requires a product's row to agree with its rows in one
// reading: held = Σ qty of its active holds, awaiting payment and paid =
// Σ qty of its orders in those states, and available ≥ 0. It returns the
// product as loaded after.
func CheckBooks(t testing.TB, db *store.DB, productID int64) flashsale.ProductState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tally, err := db.Tally(ctx, productID)
	if err != nil {
		t.Fatalf("the books of product %d: %v", productID, err)
	}
	if tally.Row != tally.Tables || tally.Row.Available() < 0 {
		t.Fatalf("product %d: row %+v (available %d), holds and orders tables %+v",
			productID, tally.Row, tally.Row.Available(), tally.Tables)
	}
	st, err := db.LoadProduct(ctx, productID)
	if err != nil {
		t.Fatalf("LoadProduct(%d): %v", productID, err)
	}
	return st
}

// Journal reads a product's whole journal.
func Journal(t testing.TB, db *store.DB, productID int64) []flashsale.Event {
	t.Helper()
	events, err := db.Events(context.Background(), productID, 0, 100_000)
	if err != nil {
		t.Fatalf("the journal of product %d: %v", productID, err)
	}
	return events
}

// pollEvery is how often Eventually asks.
const pollEvery = 10 * time.Millisecond

// Poll calls f every interval until it reports nothing wrong ("") or
// within has passed. It returns f's last complaint: "" when the condition
// came to hold.
func Poll(within, every time.Duration, f func() string) string {
	deadline := time.Now().Add(within)
	for {
		problem := f()
		if problem == "" || time.Now().After(deadline) {
			return problem
		}
		time.Sleep(every)
	}
}

// Eventually fails the test unless f, asked every 10ms, reports nothing
// wrong ("") within the given time; the failure says f's last complaint.
func Eventually(t testing.TB, within time.Duration, f func() string) {
	t.Helper()
	if problem := Poll(within, pollEvery, f); problem != "" {
		t.Fatalf("%s, still after %v", problem, within)
	}
}

// LockedBuffer is an output that a server or a command writes while the
// test reads it.
type LockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines is the complete lines written so far.
func (b *LockedBuffer) Lines() []string {
	s := b.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return strings.Split(s[:i], "\n")
	}
	return nil
}

// JSONLines decodes the complete lines that are JSON objects, such as
// zerolog's.
func (b *LockedBuffer) JSONLines() []map[string]any {
	var out []map[string]any
	for _, l := range b.Lines() {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}
