package actors_test

import (
	"context"
	"errors"
	"flashsale"
	"fmt"
	"sync"
	"testing"
	"time"

	"flashsale/actors"
	"flashsale/actors/actorstest"
	"flashsale/store"
	"flashsale/store/storetest"
)

// fakeClock is a clock the test moves by hand, so that holds and orders
// expire exactly when a fuzz input says.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// FuzzProductActorInvariant drives one product's actor with a random
// sequence of holds, orders, payments (success, failure, cancellation,
// early), stock changes, clock steps past deadlines and restarts, and
// checks after every step that no unit is sold twice: the counters the
// actor shows, the product row, the holds and orders tables and the
// replayed journal all agree, and available = stock − held − awaiting −
// paid ≥ 0.
func FuzzProductActorInvariant(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 2, 1, 0, 2, 0, 5, 3},       // hold, order, pay
		{0, 1, 1, 0, 3, 0, 2, 0},       // hold, order, fail, late success
		{0, 3, 5, 3, 5, 3, 1, 0},       // hold, let it expire, order it
		{8, 0, 0, 1, 1, 0, 6, 0},       // early webhook, hold, order, restart
		{0, 3, 1, 0, 5, 4, 2, 0, 7, 2}, // payment window, late success, cut stock
		{0, 3, 0, 3, 1, 0, 1, 1, 3, 0, 4, 1, 6, 0, 2, 1},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		runScenario(t, ops)
	})
}

type scenario struct {
	t        *testing.T
	db       *store.DB
	clock    *fakeClock
	registry *actorstest.Service
	product  int64
	holds    []int64
	orders   []int64
	keys     int
}

func runScenario(t *testing.T, ops []byte) {
	ctx := context.Background()
	s := &scenario{t: t, db: storetest.Open(t, "sqlite"), clock: &fakeClock{now: time.Unix(1_800_000_000, 0)}}
	s.product = storetest.CreateProduct(t, s.db, 10)
	s.start()
	next := func(i *int) int {
		if *i >= len(ops) {
			return 0
		}
		*i++
		return int(ops[*i-1])
	}
	for i := 0; i < len(ops); {
		op := next(&i) % 9
		arg := next(&i)
		step := fmt.Sprintf("op %d (%d) at byte %d", op, arg, i)
		switch op {
		case 0: // hold 1–4 units, sometimes under a key used before
			key := ""
			if arg%3 == 0 {
				key = fmt.Sprintf("hold-%d", arg%4)
			}
			h, err := s.registry.PlaceHold(ctx, s.product, int64(arg%4+1), key)
			s.allow(step, err, flashsale.ErrInsufficientStock, flashsale.ErrIdempotencyConflict)
			if err == nil {
				s.holds = append(s.holds, h.ID)
			}
		case 1: // order one of the holds
			if len(s.holds) == 0 {
				continue
			}
			o, err := s.registry.CreateOrder(ctx, s.holds[arg%len(s.holds)], "")
			s.allow(step, err, flashsale.ErrHoldExpired, flashsale.ErrHoldUsed)
			if err == nil {
				s.orders = append(s.orders, o.ID)
			}
		case 2, 3, 4: // a webhook: success, failed, cancelled
			if len(s.orders) == 0 {
				continue
			}
			status := []flashsale.PaymentStatus{flashsale.PaymentSuccess, flashsale.PaymentFailed, flashsale.PaymentCancelled}[op-2]
			s.keys++
			_, err := s.registry.ApplyPayment(ctx, fmt.Sprintf("pay-%d", s.keys), s.orders[arg%len(s.orders)], status)
			s.allow(step, err)
		case 5: // time passes: up to two hold lifetimes
			s.clock.Advance(time.Duration(arg%5) * 30 * time.Second)
		case 6: // the process restarts
			if err := s.registry.Drain(); err != nil {
				t.Fatalf("%s: drain: %v", step, err)
			}
			s.start()
		case 7: // an operator sets the stock
			_, err := s.registry.SetStock(ctx, s.product, int64(arg%16))
			s.allow(step, err, flashsale.ErrStockBelowCommitted)
		case 8: // a webhook for the next order, before it exists
			s.keys++
			next := int64(1)
			for _, id := range s.orders {
				next = max(next, id+1)
			}
			status := flashsale.PaymentSuccess
			if arg%2 == 1 {
				status = flashsale.PaymentFailed
			}
			_, err := s.registry.ApplyPayment(ctx, fmt.Sprintf("pay-%d", s.keys), next, status)
			// Refused when next is past the ids reserved so far.
			s.allow(step, err, flashsale.ErrOrderNotFound)
		}
		s.checkBooks(step)
	}
}

func (s *scenario) start() {
	cfg := actors.DefaultConfig()
	cfg.HoldTTL, cfg.PaymentTTL, cfg.IDBlock = time.Minute, 90*time.Second, 10
	cfg.Clock = s.clock.Now
	s.registry = actorstest.NewService(s.t, s.db, cfg)
}

// allow fails the test on any error but those listed.
func (s *scenario) allow(step string, err error, allowed ...error) {
	s.t.Helper()
	if err == nil {
		return
	}
	for _, a := range allowed {
		if errors.Is(err, a) {
			return
		}
	}
	s.t.Fatalf("%s: %v", step, err)
}

// checkBooks compares what the actor shows with the database, once the
// releases it decided (written by a batch of their own) have committed.
func (s *scenario) checkBooks(step string) {
	s.t.Helper()
	var row flashsale.Counters
	actorstest.Eventually(s.t, 5*time.Second, func() string {
		p, err := s.registry.Product(context.Background(), s.product)
		if err != nil {
			s.t.Fatalf("%s: Product: %v", step, err)
		}
		shown := p.Counters
		if shown.Available() < 0 || shown.Held < 0 || shown.AwaitingPayment < 0 || shown.Paid < 0 {
			s.t.Fatalf("%s: the actor shows %+v", step, shown)
		}
		if row = actorstest.CheckBooks(s.t, s.db, s.product).Product.Counters; shown != row {
			return fmt.Sprintf("%s: the actor shows %+v, the database %+v", step, shown, row)
		}
		return ""
	})
	// The journal replays to what the row and the actor agree on.
	replayed, problems := flashsale.Replay(actorstest.Journal(s.t, s.db, s.product))
	if len(problems) > 0 || replayed != row {
		s.t.Fatalf("%s: journal replays to %+v (row %+v): %v", step, replayed, row, problems)
	}
}
