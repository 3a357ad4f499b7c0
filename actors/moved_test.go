package actors

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"flashsale"
	"flashsale/store/storetest"
)

// TestAMovedProductStopsHereAndDecidesNothing: in a cluster, a product this
// node no longer owns is not decided here, whether the node's view moved
// it before its actor heard (each request is checked) or the host took the
// actor out (moved): its callers hear errNotOwner, nothing is written, and
// the actor stops. When the product comes back, a new actor starts from
// the database, not from the stale copy.
func TestAMovedProductStopsHereAndDecidesNothing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		db := storetest.Open(t, dialect)
		id := storetest.CreateProduct(t, db, 10)
		ctx := context.Background()
		s := NewService(Config{HoldTTL: time.Hour, CommitTimeout: 5 * time.Second, KeyMemory: time.Minute,
			ReloadBackoff: 100 * time.Millisecond, IDBlock: 10}, db, zerolog.Nop())
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Drain(ctx); err != nil {
				t.Error(err)
			}
		})
		h := s.local
		var owned atomic.Bool
		owned.Store(true)
		h.owns = func(int64) bool { return owned.Load() }

		hold := func() error {
			m := &placeHold{envelope: newEnvelope(), replyTo: newReply[flashsale.Hold](), ctx: ctx, qty: 1,
				hash: flashsale.HoldRequestHash(id, 1)}
			_, err := ask(ctx, h, id, m, m.replyTo)
			return err
		}
		if err := hold(); err != nil {
			t.Fatal(err)
		}

		// The view moves the product away; the actor has not been told.
		owned.Store(false)
		h.view.Add(1)
		var wg sync.WaitGroup
		errs := make([]error, 50)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = hold()
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, errNotOwner) {
				t.Fatalf("hold %d on a product this node does not own = %v; want errNotOwner", i, err)
			}
		}
		waitStopped(t, h, id)
		if st, err := db.LoadProduct(ctx, id); err != nil || st.Product.Held != 1 {
			t.Fatalf("the database holds %+v, %v; want the one hold made while it was owned", st.Product, err)
		}

		// It comes back, and another writer (its owner meanwhile) sold
		// units: the new actor sees them.
		owned.Store(true)
		h.view.Add(1)
		other := NewService(Config{HoldTTL: time.Hour, CommitTimeout: 5 * time.Second, KeyMemory: time.Minute,
			ReloadBackoff: 100 * time.Millisecond, IDBlock: 10}, db, zerolog.Nop())
		if _, err := other.PlaceHold(ctx, id, 3, ""); err != nil {
			t.Fatal(err)
		}
		if err := other.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		p, err := s.Product(ctx, id)
		if err != nil || p.Available() != 6 {
			t.Fatalf("back on this node: %+v, %v; want 6 available (10 less 1 held here, 3 by the owner meanwhile)", p, err)
		}

		// The host takes the actor out when the view moves the product.
		owned.Store(false)
		if n := h.moved(); n != 1 {
			t.Fatalf("moved() stopped %d actors; want 1", n)
		}
		if err := hold(); !errors.Is(err, errNotOwner) {
			t.Fatalf("hold after the move = %v; want errNotOwner", err)
		}
		waitStopped(t, h, id)
	})
}

// waitStopped waits until the host runs no actor for a product.
func waitStopped(t *testing.T, h *Host, id int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, running := h.running(id); !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the actor of product %d still runs", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
