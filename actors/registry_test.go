package actors_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"errors"
	"flashsale"
	"flashsale/actors"
	"flashsale/store/storetest"
	"fmt"
	"sync"

	"flashsale/actors/actorstest"
	"flashsale/store"
)

// newRegistry starts product actors whose holds last ttl.
func newRegistry(t testing.TB, db *store.DB, ttl time.Duration) *actorstest.Service {
	t.Helper()
	cfg := actors.DefaultConfig()
	cfg.HoldTTL = ttl
	return actorstest.NewService(t, db, cfg)
}

// assertBooks checks the product's books, with wantHeld units held.
func assertBooks(t testing.TB, db *store.DB, id, wantHeld int64) {
	t.Helper()
	if p := actorstest.CheckBooks(t, db, id).Product; p.Held != wantHeld {
		t.Fatalf("product %+v; want held %d", p, wantHeld)
	}
}

// TestTwoRegistriesNeverOversell runs two registries, as two server
// processes would, on one database and one product. Each believes it alone
// owns the product; the version check in the batch transaction is what
// keeps the second from overselling.
func TestTwoRegistriesNeverOversell(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		db := storetest.Open(t, dialect)
		const stock = 40
		id := storetest.CreateProduct(t, db, stock)
		held, insufficient, unavailable := holdThroughEach(t, id, 200, newRegistry(t, db, time.Hour), newRegistry(t, db, time.Hour))
		t.Logf("%d held, %d insufficient, %d unavailable", len(held), insufficient, unavailable)
		if len(held) > stock {
			t.Fatalf("%d holds acknowledged for %d units", len(held), stock)
		}
		assertBooks(t, db, id, int64(len(held)))
	})
}

// holdThroughEach places n holds of one unit of a product at once, in
// turn through each of regs, and returns the acknowledged holds (id → qty)
// and how many were refused as insufficient stock and as unavailable.
func holdThroughEach(t *testing.T, id int64, n int, regs ...*actorstest.Service) (held map[int64]int64, insufficient, unavailable int) {
	held = map[int64]int64{}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			h, err := regs[i%len(regs)].PlaceHold(ctx, id, 1, "")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				if _, twice := held[h.ID]; twice {
					t.Errorf("hold %d acknowledged twice", h.ID)
				}
				held[h.ID] = h.Qty
			case errors.Is(err, flashsale.ErrInsufficientStock):
				insufficient++
			case errors.Is(err, flashsale.ErrUnavailable):
				unavailable++
			default:
				t.Errorf("PlaceHold: %v", err)
			}
		})
	}
	wg.Wait()
	return held, insufficient, unavailable
}

// TestExpiredWhileDownIsReleasedOnLoad: holds that expired while no
// process ran are released as soon as the product's actor loads.
func TestExpiredWhileDownIsReleasedOnLoad(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		db := storetest.Open(t, dialect)
		id := storetest.CreateProduct(t, db, 10)
		ctx := context.Background()
		first := actorstest.NewService(t, db, actors.Config{HoldTTL: time.Second, CommitTimeout: 5 * time.Second,
			KeyMemory: time.Minute, ReloadBackoff: 100 * time.Millisecond, IDBlock: 10})
		h, err := first.PlaceHold(ctx, id, 4, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := first.Drain(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(h.ExpiresAt) + 50*time.Millisecond)
		assertBooks(t, db, id, 4) // nobody has released it yet

		second := newRegistry(t, db, time.Hour)
		p, err := second.Product(ctx, id)
		if err != nil || p.Available() != 10 {
			t.Fatalf("Product = %+v, %v; want all 10 available", p, err)
		}
		actorstest.Eventually(t, 2*time.Second, func() string {
			got, err := db.Hold(ctx, h.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != flashsale.HoldExpired {
				return fmt.Sprintf("hold %d %s after the reload", h.ID, got.Status)
			}
			return ""
		})
		assertBooks(t, db, id, 0)
	})
}

// TestDueProductsWakeWithoutARequest: holds of a product whose process
// went away are released on time by another process, though nobody asks
// for the product: its host looks for products with something due.
func TestDueProductsWakeWithoutARequest(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		db := storetest.Open(t, dialect)
		id := storetest.CreateProduct(t, db, 10)
		other := storetest.CreateProduct(t, db, 10)
		ctx := context.Background()
		cfg := actors.Config{HoldTTL: 300 * time.Millisecond, CommitTimeout: 5 * time.Second,
			KeyMemory: time.Minute, ReloadBackoff: 100 * time.Millisecond, IDBlock: 10}
		// Two processes that go away (WakeDue zero: they never look);
		// the second's hold is not due for an hour.
		gone := actorstest.NewService(t, db, cfg)
		h, err := gone.PlaceHold(ctx, id, 4, "")
		if err != nil {
			t.Fatal(err)
		}
		later := cfg
		later.HoldTTL = time.Hour
		goneToo := actorstest.NewService(t, db, later)
		kept, err := goneToo.PlaceHold(ctx, other, 2, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []*actorstest.Service{gone, goneToo} {
			if err := s.Drain(); err != nil {
				t.Fatal(err)
			}
		}

		cfg.WakeDue = 50 * time.Millisecond
		actorstest.NewService(t, db, cfg)
		actorstest.Eventually(t, 5*time.Second, func() string {
			got, err := db.Hold(ctx, h.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != flashsale.HoldExpired {
				return fmt.Sprintf("hold %d is %s %v after its expiry, with nobody asking", h.ID, got.Status,
					time.Since(h.ExpiresAt).Round(time.Millisecond))
			}
			return ""
		})
		assertBooks(t, db, id, 0)
		if got, err := db.Hold(ctx, kept.ID); err != nil || got.Status != flashsale.HoldActive {
			t.Fatalf("hold %d not yet due = %+v, %v; want it active", kept.ID, got, err)
		}
	})
}

func TestStockChangeGoesThroughTheActor(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		db := storetest.Open(t, dialect)
		id := storetest.CreateProduct(t, db, 5)
		r := newRegistry(t, db, time.Hour)
		ctx := context.Background()
		if _, err := r.PlaceHold(ctx, id, 5, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := r.PlaceHold(ctx, id, 1, ""); !errors.Is(err, flashsale.ErrInsufficientStock) {
			t.Fatalf("hold beyond stock: %v", err)
		}
		if _, err := r.SetStock(ctx, id, 4); !errors.Is(err, flashsale.ErrStockBelowCommitted) {
			t.Fatalf("cut below held: %v", err)
		}
		p, err := r.SetStock(ctx, id, 8)
		if err != nil || p.Stock != 8 || p.Available() != 3 {
			t.Fatalf("restock = %+v, %v", p, err)
		}
		if _, err := r.PlaceHold(ctx, id, 3, ""); err != nil {
			t.Fatalf("hold after restock: %v", err)
		}
		assertBooks(t, db, id, 8)
	})
}

func TestUnknownProduct(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	r := newRegistry(t, db, time.Hour)
	ctx := context.Background()
	if _, err := r.PlaceHold(ctx, 77, 1, ""); !errors.Is(err, flashsale.ErrProductNotFound) {
		t.Fatalf("PlaceHold on unknown product: %v", err)
	}
	// A product created later is found: misses are not remembered.
	id := storetest.CreateProduct(t, db, 3)
	if _, err := r.Product(ctx, id); err != nil {
		t.Fatalf("Product after create: %v", err)
	}
}

func ExampleService() {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://:memory:", zerolog.Nop())
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		panic(err)
	}
	p, _ := db.CreateProduct(ctx, flashsale.NewProduct{Name: "Sneaker", Price: 1999, Stock: 3})

	products := actors.NewService(actors.DefaultConfig(), db, zerolog.Nop())
	defer products.Drain(ctx)

	hold, err := products.PlaceHold(ctx, p.ID, 2, "")
	fmt.Println(hold.Qty, hold.Status, err)
	_, err = products.PlaceHold(ctx, p.ID, 2, "")
	fmt.Println(err)
	p, _ = products.Product(ctx, p.ID)
	fmt.Println(p.Available(), "of", p.Stock, "available")
	// Output:
	// 2 active <nil>
	// insufficient stock
	// 1 of 3 available
}

// TestManyProductsLoadTogether: hundreds of products touched for the first
// time at once are loaded many to a read, each with its own state, and an
// unknown product among them is not found.
func TestManyProductsLoadTogether(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		db := storetest.Open(t, dialect)
		const n = 600
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = storetest.CreateProduct(t, db, int64(i+1))
		}
		s := actorstest.NewService(t, db, actors.DefaultConfig())
		var wg sync.WaitGroup
		errs := make([]error, n+1)
		for i, id := range append(ids, ids[n-1]+1000) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := s.Product(context.Background(), id)
				switch {
				case i == n:
					if !errors.Is(err, flashsale.ErrProductNotFound) {
						errs[i] = fmt.Errorf("unknown product %d: %+v, %v; want ErrProductNotFound", id, p, err)
					}
				case err != nil:
					errs[i] = fmt.Errorf("product %d: %v", id, err)
				case p.ID != id || p.Stock != int64(i+1) || p.Available() != int64(i+1):
					errs[i] = fmt.Errorf("product %d: %+v; want stock and available %d", id, p, i+1)
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	})
}

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
