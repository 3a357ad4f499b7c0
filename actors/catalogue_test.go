package actors_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"flashsale"
	"flashsale/actors"
	"flashsale/store/storetest"
)

// TestCatalogueWakesNoActor: the catalogue shows every product's exact
// available stock, from the running actor's snapshot or from the committed
// rows as of now (holds past their expiry released, written or not),
// without starting the actor of a product that has none running.
func TestCatalogueWakesNoActor(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		a, b, c := storetest.CreateProduct(t, db, 10), storetest.CreateProduct(t, db, 10), storetest.CreateProduct(t, db, 10)
		clock := &fakeClock{now: time.Now().UTC().Truncate(time.Millisecond)}
		start := func() (*actors.Service, *actors.Metrics) {
			cfg := actors.DefaultConfig()
			cfg.HoldTTL, cfg.Clock = time.Minute, clock.Now
			cfg.Metrics = actors.NewMetrics(prometheus.NewRegistry())
			r := actors.NewService(cfg, db, zerolog.Nop())
			t.Cleanup(func() { _ = r.Drain(context.Background()) })
			return r, cfg.Metrics
		}
		// Holds on a and b are committed by a process that then stops.
		first, _ := start()
		for _, h := range []struct{ id, qty int64 }{{a, 2}, {b, 3}} {
			if _, err := first.PlaceHold(ctx, h.id, h.qty, ""); err != nil {
				t.Fatal(err)
			}
		}
		if err := first.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		r, m := start()
		if _, err := r.PlaceHold(ctx, c, 1, ""); err != nil {
			t.Fatal(err)
		}
		list := func(after int64, limit int, want map[int64]int64) {
			t.Helper()
			got, err := r.Catalogue(ctx, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("Catalogue(%d, %d) = %+v; want %d products", after, limit, got, len(want))
			}
			for i, p := range got {
				if i > 0 && p.ID <= got[i-1].ID {
					t.Fatalf("Catalogue(%d, %d) is not in id order: %+v", after, limit, got)
				}
				if w, ok := want[p.ID]; !ok || p.Available() != w {
					t.Fatalf("Catalogue(%d, %d): product %d available %d; want %d of %v", after, limit, p.ID, p.Available(), w, want)
				}
			}
			var live dto.Metric
			if err := m.LiveActors.Write(&live); err != nil || live.GetGauge().GetValue() != 1 {
				t.Fatalf("%v product actors run after the catalogue (%v); want 1, c's", live.GetGauge().GetValue(), err)
			}
		}
		list(0, 10, map[int64]int64{a: 8, b: 7, c: 9})
		list(a, 1, map[int64]int64{b: 7})
		list(c, 10, map[int64]int64{})
		// Past the holds' expiry nothing has written their release: the
		// rows of a and b still count them, c's snapshot is no longer
		// trusted and its actor is asked.
		clock.Advance(90 * time.Second)
		list(0, 10, map[int64]int64{a: 10, b: 10, c: 10})
		for _, id := range []int64{a, b, c} {
			p, err := r.Product(ctx, id)
			if err != nil || p.Counters != (flashsale.Counters{Stock: 10}) {
				t.Fatalf("Product(%d) = %+v, %v; want stock 10, nothing taken", id, p, err)
			}
		}
	})
}
