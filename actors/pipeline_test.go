package actors_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"flashsale"
	"flashsale/actors"
	"flashsale/actors/actorstest"
	"flashsale/store/storetest"
)

// TestBatchesAfterAFailedOneAckOnlyWhatCommitted: one product's batches
// are pipelined three deep, and the commit of one of them fails on the
// wire (MariaDB through the fault proxy): its COMMIT is lost, or its
// COMMIT is carried out and the answer lost. The batches sent after it
// expected the version it would write. Nothing of them is acknowledged
// unless it committed, every acknowledged hold is in the database under
// its key, nothing is in the database that its caller was refused, and
// the books add up.
func TestBatchesAfterAFailedOneAckOnlyWhatCommitted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		landed bool
	}{
		{"COMMIT lost", false},
		{"COMMIT carried out, answer lost", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := storetest.URL(t, "mysql")
			direct := storetest.OpenURL(t, url)
			proxy, viaProxy := storetest.ViaProxy(t, url)
			db := storetest.OpenURL(t, viaProxy)
			id := storetest.CreateProduct(t, db, 1000)
			cfg := actors.DefaultConfig()
			cfg.HoldTTL, cfg.Pipeline, cfg.CommitTimeout, cfg.ReloadBackoff = time.Hour, 3, 3*time.Second, 50*time.Millisecond
			logs := &actorstest.LockedBuffer{}
			s := actorstest.NewLoggedService(t, db, cfg, zerolog.New(logs).Level(zerolog.WarnLevel))
			ctx := context.Background()
			if _, err := s.PlaceHold(ctx, id, 1, "warm-up"); err != nil { // loads the actor, reserves ids
				t.Fatal(err)
			}

			trap := proxy.DropBefore
			if tc.landed {
				trap = proxy.DropAfter
			}
			// The first batch of the burst may hold one hold and be sent
			// before the others come: with some latency on the wire, the
			// batches after it are in flight when its COMMIT fails.
			proxy.SetLatency(5 * time.Millisecond)
			fired := trap([]byte("COMMIT"))
			const holds = 300
			type outcome struct {
				hold flashsale.Hold
				err  error
			}
			outcomes := make([]outcome, holds)
			var (
				wg    sync.WaitGroup
				yeses atomic.Int64 // holds acknowledged so far
				stale atomic.Value // the first read that missed an acknowledged hold
			)
			for i := range holds {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
					h, err := s.PlaceHold(ctx, id, 1, fmt.Sprintf("hold-%d", i))
					outcomes[i] = outcome{h, err}
					if err != nil {
						return
					}
					// A read after a yes shows that hold and every one
					// acknowledged before it, the warm-up's too.
					seen := yeses.Add(1)
					if p, err := s.Product(ctx, id); err == nil && p.Available() > 1000-1-seen {
						stale.CompareAndSwap(nil, fmt.Sprintf("%d available after %d holds were acknowledged", p.Available(), seen))
					}
				}()
			}
			wg.Wait()
			if msg := stale.Load(); msg != nil {
				t.Errorf("a read missed acknowledged holds: %s", msg)
			}
			select {
			case <-fired:
			case <-time.After(5 * time.Second):
				t.Fatal("the proxy saw no COMMIT")
			}

			var acked, unknown int
			for i, o := range outcomes {
				key := fmt.Sprintf("hold-%d", i)
				stored, err := direct.HoldByKey(ctx, key)
				switch {
				case o.err == nil:
					acked++
					if err != nil || stored.ID != o.hold.ID {
						t.Errorf("hold %s was acknowledged as %d; the database has %+v, %v", key, o.hold.ID, stored, err)
					}
				case errors.Is(o.err, flashsale.ErrUnavailable):
					unknown++ // committed or not: a retry with its key finds out
				default:
					t.Errorf("hold %s: %v", key, o.err)
					if err == nil {
						t.Errorf("hold %s was refused, yet the database has it", key)
					}
				}
			}
			t.Logf("%d holds acknowledged, %d of unknown outcome", acked, unknown)
			if unknown == 0 {
				t.Errorf("no hold was left in doubt: the failed batch had no callers")
			}
			behind := 0
			for _, l := range logs.JSONLines() {
				if l["message"] == "batch failed; reloading" && l["in_flight"].(float64) > 0 {
					behind++
				}
			}
			if behind == 0 {
				t.Errorf("no batch failed with others in flight behind it; the log:\n%s", logs.String())
			}
			actorstest.CheckBooks(t, direct, id)
		})
	}
}
