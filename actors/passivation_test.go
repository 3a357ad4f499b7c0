package actors_test

import (
	"context"
	"errors"
	"flashsale"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"flashsale/actors"
	"flashsale/actors/actorstest"
	"flashsale/store/storetest"
)

// TestIdleActorsPassivateAndComeBack: product actors with nothing to watch
// stop after a quiet period, and the next request loads them again with
// their state; one with an active hold stays to release it on time.
func TestIdleActorsPassivateAndComeBack(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	cfg := forgetful(100*time.Millisecond, time.Hour)
	r := actorstest.NewService(t, db, cfg)
	ctx := context.Background()
	var ids []int64
	for range 20 {
		id := storetest.CreateProduct(t, db, 5)
		ids = append(ids, id)
		if _, err := r.Product(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.PlaceHold(ctx, ids[0], 2, ""); err != nil { // ids[0] has a hold to watch
		t.Fatal(err)
	}
	actorstest.Eventually(t, 5*time.Second, func() string {
		if n := gauge(cfg.Metrics.LiveActors); n != 1 {
			return fmt.Sprintf("%v live actors after they went idle; want 1, the one holding units", n)
		}
		return ""
	})
	// Back on the next request, with what was committed.
	if _, err := r.PlaceHold(ctx, ids[1], 5, ""); err != nil {
		t.Fatalf("hold on a passivated product: %v", err)
	}
	if _, err := r.PlaceHold(ctx, ids[1], 1, ""); !errors.Is(err, flashsale.ErrInsufficientStock) {
		t.Fatalf("second hold: %v; want insufficient stock", err)
	}
	p, err := r.Product(ctx, ids[0])
	if err != nil || p.Held != 2 {
		t.Fatalf("the product that kept its actor: %+v, %v", p, err)
	}
}

// TestBacklogIsBounded: when more requests wait for one product than
// MaxBacklog, the rest are refused at once with ErrOverloaded (503), and
// what was accepted is exact.
func TestBacklogIsBounded(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	cfg := actors.DefaultConfig()
	cfg.MaxBacklog = 5
	// A slow clock makes each message slow to decide, so that a queue forms.
	cfg.Clock = func() time.Time { time.Sleep(5 * time.Millisecond); return time.Now() }
	r := actorstest.NewService(t, db, cfg)
	id := storetest.CreateProduct(t, db, 1000)
	ctx := context.Background()
	if _, err := r.Product(ctx, id); err != nil {
		t.Fatal(err)
	}
	var (
		mu               sync.Mutex
		held, overloaded int64
		wg               sync.WaitGroup
	)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.PlaceHold(ctx, id, 1, "")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				held++
			case errors.Is(err, flashsale.ErrOverloaded) && errors.Is(err, flashsale.ErrUnavailable):
				overloaded++
			default:
				t.Errorf("PlaceHold: %v", err)
			}
		}()
	}
	wg.Wait()
	if overloaded == 0 || held == 0 {
		t.Fatalf("%d held, %d refused as overloaded; want both", held, overloaded)
	}
	assertBooks(t, db, id, held)
}

// forgetful is a config whose actors forget their keys and may passivate
// after quiet, with holds that last holdTTL and metrics of their own.
func forgetful(quiet, holdTTL time.Duration) actors.Config {
	cfg := actors.DefaultConfig()
	cfg.KeyMemory, cfg.PassivateAfter, cfg.HoldTTL = quiet, quiet, holdTTL
	cfg.Metrics = actors.NewMetrics(prometheus.NewRegistry())
	return cfg
}

func gauge(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		panic(err)
	}
	return m.GetGauge().GetValue()
}

// TestActorsBusyAtTheirTimeoutStopOnceIdle: an actor that still held
// units when its quiet period first ended stops once they are released.
func TestActorsBusyAtTheirTimeoutStopOnceIdle(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	cfg := forgetful(50*time.Millisecond, 400*time.Millisecond)
	r := actorstest.NewService(t, db, cfg)
	id := storetest.CreateProduct(t, db, 5)
	if _, err := r.PlaceHold(context.Background(), id, 2, ""); err != nil {
		t.Fatal(err)
	}
	waitForNoActors(t, cfg.Metrics)
	if p, err := r.Product(context.Background(), id); err != nil || p.Available() != 5 {
		t.Fatalf("after the hold expired: %+v, %v; want 5 available", p, err)
	}
}

// waitForNoActors waits until every product actor has stopped, its hold
// expired and nothing left to watch.
func waitForNoActors(t *testing.T, m *actors.Metrics) {
	t.Helper()
	actorstest.Eventually(t, 10*time.Second, func() string {
		if n := gauge(m.LiveActors); n != 0 {
			return fmt.Sprintf("%v live actors; want the product's to stop once its hold expired", n)
		}
		return ""
	})
}
