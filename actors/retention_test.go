package actors_test

import (
	"context"
	"runtime"
	"testing"
	"time"
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
