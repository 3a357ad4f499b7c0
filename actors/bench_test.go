package actors_test

import (
	"context"
	"testing"
	"time"

	"flashsale/store"
	"flashsale/store/storetest"
)

// BenchmarkPlaceHold drives holds of one unit through one product's actor
// from many goroutines, each durably committed before it returns: the hot
// path of a flash sale. holds/s is the figure to compare across changes.
func BenchmarkPlaceHold(b *testing.B) {
	stores := map[string]func(b *testing.B) *store.DB{
		"sqlite-memory": func(b *testing.B) *store.DB { return storetest.OpenURL(b, "sqlite://:memory:") },
		"sqlite":        func(b *testing.B) *store.DB { return storetest.Open(b, "sqlite") },
		"mysql":         func(b *testing.B) *store.DB { return storetest.Open(b, "mysql") },
	}
	for _, name := range []string{"sqlite-memory", "sqlite", "mysql"} {
		b.Run(name, func(b *testing.B) {
			db := stores[name](b)
			id := storetest.CreateProduct(b, db, int64(b.N)+1)
			r := newRegistry(b, db, time.Hour)
			ctx := context.Background()
			if _, err := r.Product(ctx, id); err != nil { // load the actor outside the timing
				b.Fatal(err)
			}
			b.SetParallelism(32)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := r.PlaceHold(ctx, id, 1, ""); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "holds/s")
		})
	}
}
