package actors_test

import (
	"context"
	"errors"
	"flashsale"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"flashsale/actors"
	"flashsale/actors/actorstest"
	"flashsale/store"
	"flashsale/store/storetest"
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
