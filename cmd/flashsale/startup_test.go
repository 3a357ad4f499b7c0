package main

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"testing"
	"time"

	"flashsale/migrations"
	"flashsale/store/storetest"
)

// Servers started at the same moment on a fresh MySQL database, as the
// nodes of a cluster are, all come up: one migrates while the others wait
// for it, and one seeds product 1. Each round is a new race; without the
// migration lock most rounds lost it ("Table 'products' already exists").
// SQLite is left out: its file is not shared between machines.
func TestServersStartedTogetherMigrateAndSeedOnce(t *testing.T) {
	t.Parallel()
	files, err := fs.Glob(migrations.MySQL(), "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("the MySQL migrations: %v, %v", files, err)
	}
	c := newClient(t)
	const servers = 4
	for round := range 3 {
		url := storetest.URL(t, "mysql")
		procs := make([]*proc, servers)
		for i := range procs {
			procs[i] = launchServer(t, fmt.Sprintf("round %d server %d", round, i), serverArgs("serve", url))
		}
		var applied []int
		seeded := 0
		for _, p := range procs {
			p.awaitListening(t)
			mustCall(t, c, http.MethodGet, p.base+"/readyz", "", nil, http.StatusOK, nil)
			if got := getProduct(t, c, p, 1); got.Stock != 50 || got.AvailableStock != 50 {
				t.Errorf("%s: product 1 is %+v; want the seeded stock of 50, all available", p.name, got)
			}
			applied = append(applied, p.log.count("migration applied"))
			seeded += p.log.count("seeded product 1")
		}
		slices.Sort(applied)
		if want := append(make([]int, servers-1), len(files)); !slices.Equal(applied, want) {
			t.Errorf("round %d: migrations applied per server %v; want one server to apply all %d", round, applied, len(files))
		}
		if seeded != 1 {
			t.Errorf("round %d: %d servers seeded product 1; want 1", round, seeded)
		}

		db := storetest.OpenURL(t, url)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if ids, err := db.ProductIDs(ctx); err != nil || !slices.Equal(ids, []int64{1}) {
			t.Errorf("round %d: products %v, %v; want only product 1", round, ids, err)
		}
		if events, err := db.Events(ctx, 1, 0, 10); err != nil || len(events) != 1 {
			t.Errorf("round %d: product 1's journal %+v, %v; want its one creation", round, events, err)
		}
		for _, p := range procs {
			p.terminate(t)
		}
	}
}
