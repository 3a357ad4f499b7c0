package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"flashsale/store"
	"flashsale/store/storetest"
)

// openUnmigrated opens n stores on the database at url, as n processes
// would, without migrating it.
func openUnmigrated(t *testing.T, url string, n int) []*store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dbs := make([]*store.DB, n)
	for i := range dbs {
		db, err := store.Open(ctx, url, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	return dbs
}

// together runs f for every store at the same moment and returns their
// errors.
func together(dbs []*store.DB, f func(db *store.DB) error) []error {
	errs := make([]error, len(dbs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() {
			<-start
			errs[i] = f(db)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// Several processes started at once on a fresh MySQL database all migrate
// it; without the migration lock all but one failed with "Table 'products'
// already exists". SQLite files are not shared between machines.
func TestMigrateTogetherOnOneMySQLDatabase(t *testing.T) {
	t.Parallel()
	// One round loses the race about half the time without the lock.
	for round := range 5 {
		dbs := openUnmigrated(t, storetest.URL(t, "mysql"), 6)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for i, err := range together(dbs, func(db *store.DB) error { return db.Migrate(ctx) }) {
			if err != nil {
				t.Fatalf("round %d: Migrate #%d: %v", round, i, err)
			}
		}
		if first, err := dbs[0].NextIDs(ctx, "hold", 1); err != nil || first != 1 {
			t.Fatalf("round %d: NextIDs(hold) = %d, %v; want the sequence seeded once, starting at 1", round, first, err)
		}
	}
}

func TestSeedTogetherCreatesOneProduct(t *testing.T) {
	storetest.RunParallel(t, func(t *testing.T, dialect string) {
		for round := range 3 {
			url := storetest.URL(t, dialect)
			storetest.OpenURL(t, url)
			dbs := openUnmigrated(t, url, 6)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			created := 0
			var mu sync.Mutex
			errs := together(dbs, func(db *store.DB) error {
				c, err := db.Seed(ctx)
				if c {
					mu.Lock()
					created++
					mu.Unlock()
				}
				return err
			})
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d: Seed #%d: %v", round, i, err)
				}
			}
			if created != 1 {
				t.Errorf("round %d: %d seeds report creating product 1; want 1", round, created)
			}
			ids, err := dbs[0].ProductIDs(ctx)
			if err != nil || len(ids) != 1 || ids[0] != 1 {
				t.Errorf("round %d: products %v, %v; want only product 1", round, ids, err)
			}
			events, err := dbs[0].Events(ctx, 1, 0, 10)
			if err != nil || len(events) != 1 {
				t.Errorf("round %d: product 1's journal %+v, %v; want its one creation", round, events, err)
			}
		}
	})
}
