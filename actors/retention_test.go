package actors_test

import (
	"context"
	"errors"
	"flashsale"
	"runtime"
	"testing"
	"time"
	"unsafe"
	"weak"

	"flashsale/actors/actorstest"
	"flashsale/store/storetest"
)

// caller stands for what a request carries: the HTTP request, its
// headers and body reader, its logger, all reachable from its context.
type caller struct{ _ [4 << 10]byte }

type callerKey struct{}

// TestAnsweredHoldsKeepNoRequest: once a hold is answered, its product's
// actor keeps nothing of the request that asked for it, though the
// product stays loaded with the hold. An actor that kept its last batch
// would keep one request per product: after spread's load on 10,000
// products, two fifths of the live heap, for the collector to mark again
// and again.
func TestAnsweredHoldsKeepNoRequest(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		db := storetest.Open(t, dialect)
		cfg := forgetful(time.Hour, time.Hour)
		s := actorstest.NewService(t, db, cfg)
		id := storetest.CreateProduct(t, db, 5)

		for i, qty := range []int64{1, 2} {
			gone := holdAndForget(t, s, id, qty)
			actorstest.Eventually(t, 2*time.Second, func() string {
				runtime.GC()
				if gone.Value() != nil {
					return "the request of the answered hold is still reachable"
				}
				return ""
			})
			if n := gauge(cfg.Metrics.LiveActors); n != 1 {
				t.Fatalf("after hold %d: %v product actors running; want 1, still holding its units", i+1, n)
			}
		}
		actorstest.CheckBooks(t, db, id)
	})
}

// holdAndForget places a hold whose context carries a caller, and
// returns a weak pointer to that caller.
func holdAndForget(t *testing.T, s *actorstest.Service, productID, qty int64) weak.Pointer[caller] {
	t.Helper()
	c := new(caller)
	ctx := context.WithValue(context.Background(), callerKey{}, c)
	if _, err := s.PlaceHold(ctx, productID, qty, ""); err != nil {
		t.Fatal(err)
	}
	return weak.Make(c)
}

// TestSettledOrdersAreForgottenInTime: a product that keeps selling keeps
// what it sold only for a while. Once an order has been paid for longer
// than the actor remembers keys, the next commit drops it from memory
// (seen here by its idempotency key, which nothing else holds by then),
// and the answers about it stay the database's: its hold is used, and a
// late failure leaves it paid.
func TestSettledOrdersAreForgottenInTime(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		db := storetest.Open(t, dialect)
		cfg := forgetful(time.Hour, time.Hour)
		cfg.KeyMemory = 50 * time.Millisecond
		s := actorstest.NewService(t, db, cfg)
		ctx := context.Background()
		id := storetest.CreateProduct(t, db, 5)

		holdID, orderID, key := paidOrder(t, s, id)
		time.Sleep(2 * cfg.KeyMemory)
		// The next commit forgets what settled before it.
		if _, err := s.PlaceHold(ctx, id, 1, ""); err != nil {
			t.Fatal(err)
		}
		actorstest.Eventually(t, 5*time.Second, func() string {
			runtime.GC()
			if key.Value() != nil {
				return "the paid order is still in memory"
			}
			return ""
		})

		_, err := s.CreateOrder(ctx, holdID, "")
		if e, ok := errors.AsType[*flashsale.HoldUsedError](err); !ok || e.OrderID != orderID {
			t.Errorf("an order for hold %d again: %v; want hold used, naming order %d", holdID, err, orderID)
		}
		res, err := s.ApplyPayment(ctx, "late-failure", orderID, flashsale.PaymentFailed)
		if err != nil || res.Status != flashsale.OrderPaid {
			t.Errorf("a late failure for the forgotten paid order: %+v, %v; want it left paid", res, err)
		}
		if got := gauge(cfg.Metrics.LiveActors); got != 1 {
			t.Errorf("%v product actors running; want 1, which stayed loaded", got)
		}
		actorstest.CheckBooks(t, db, id)
	})
}

// paidOrder holds a unit of a product, orders it under an idempotency key
// of its own allocation, and pays for it. It returns the ids and a weak
// pointer to the key's bytes: what the actor keeps of the order keeps
// them, and nothing the test keeps does.
func paidOrder(t *testing.T, s *actorstest.Service, productID int64) (holdID, orderID int64, key weak.Pointer[byte]) {
	t.Helper()
	ctx := context.Background()
	hold, err := s.PlaceHold(ctx, productID, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	k := string([]byte("order-of-hold-" + time.Now().Format(time.RFC3339Nano)))
	o, err := s.CreateOrder(ctx, hold.ID, k)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.ApplyPayment(ctx, "paid-"+k, o.ID, flashsale.PaymentSuccess)
	if err != nil || res.Status != flashsale.OrderPaid {
		t.Fatalf("paying order %d: %+v, %v", o.ID, res, err)
	}
	return hold.ID, o.ID, weak.Make(unsafe.StringData(k))
}
