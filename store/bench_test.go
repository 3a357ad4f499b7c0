package store_test

import (
	"context"
	"flashsale"
	"fmt"
	"testing"

	"flashsale/store/storetest"
)

// BenchmarkCommitBatches commits groups of batches of new holds, as the
// actors' writer does: one hot product's batch of many holds, and many
// products' batches of a few. ns/op is one group commit's time.
func BenchmarkCommitBatches(b *testing.B) {
	for _, dialect := range storetest.Dialects {
		for _, shape := range []struct{ products, holds int }{{1, 32}, {256, 2}} {
			b.Run(fmt.Sprintf("%s/%dx%d", dialect, shape.products, shape.holds), func(b *testing.B) {
				ctx := context.Background()
				db := storetest.Open(b, dialect)
				now := storedNow()
				group := make([]*flashsale.Batch, shape.products)
				for i := range group {
					group[i] = holdBatch(storetest.CreateProduct(b, db, int64(b.N*shape.holds)), 0, int64(b.N*shape.holds), 0, 0, shape.holds, 2, now)
				}
				next := int64(1)
				b.ResetTimer()
				for n := range b.N {
					for _, g := range group {
						*g = *holdBatch(g.ProductID, int64(n), g.Stock, int64(n*shape.holds), next, shape.holds, int64(2+n*shape.holds), now)
						next += int64(shape.holds)
					}
					for _, err := range db.CommitBatches(ctx, group) {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.N*shape.products*shape.holds)/b.Elapsed().Seconds(), "holds/s")
			})
		}
	}
}
