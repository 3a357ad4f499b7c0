package actors_test

import (
	"context"
	"errors"
	"flashsale"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"flashsale/actors/actorstest"
	"flashsale/store/storetest"
)

// TestWebhooksRedeliveredAfterTheActorForgot: a provider redelivers
// webhooks after the product's actor has forgotten their keys (it stopped
// and came back). The service does not look keys up before the actor: the
// commit finds them. Each redelivery gets the first delivery's answer and
// changes nothing, even where the order moved on since; a key reused with
// another payload is refused, and the order it names is left as it was.
// Only a delivery that would have changed an order costs a reload.
func TestWebhooksRedeliveredAfterTheActorForgot(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		db := storetest.Open(t, dialect)
		cfg := forgetful(100*time.Millisecond, time.Hour)
		s := actorstest.NewService(t, db, cfg)
		ctx := context.Background()
		id := storetest.CreateProduct(t, db, 5)

		order := func() flashsale.Order { return s.Order(t, id, 1) }
		pay := func(key string, orderID int64, status flashsale.PaymentStatus, want flashsale.OrderStatus) {
			t.Helper()
			res, err := s.ApplyPayment(ctx, key, orderID, status)
			if err != nil || res.OrderID != orderID || res.Status != want || res.Pending {
				t.Fatalf("webhook %q (%s) for order %d: %+v, %v; want the order %s", key, status, orderID, res, err, want)
			}
		}
		paid := order()
		pay("paid", paid.ID, flashsale.PaymentSuccess, flashsale.OrderPaid)
		revived := order()
		pay("failed", revived.ID, flashsale.PaymentFailed, flashsale.OrderCancelled)
		pay("revived", revived.ID, flashsale.PaymentSuccess, flashsale.OrderPaid)
		waitForNoActors(t, cfg.Metrics)
		events := len(actorstest.Journal(t, db, id))

		// The same payload, the same result: found by the commit.
		pay("paid", paid.ID, flashsale.PaymentSuccess, flashsale.OrderPaid)
		// The order was paid since; the first answer stands.
		pay("failed", revived.ID, flashsale.PaymentFailed, flashsale.OrderCancelled)
		if _, err := s.ApplyPayment(ctx, "paid", paid.ID, flashsale.PaymentFailed); !errors.Is(err, flashsale.ErrIdempotencyConflict) {
			t.Errorf("key %q again with another status: %v; want an idempotency conflict", "paid", err)
		}
		pending := order()
		if _, err := s.ApplyPayment(ctx, "revived", pending.ID, flashsale.PaymentSuccess); !errors.Is(err, flashsale.ErrIdempotencyConflict) {
			t.Errorf("key %q again for another order: %v; want an idempotency conflict", "revived", err)
		}
		if o, err := db.Order(ctx, pending.ID); err != nil || o.Status != flashsale.OrderPendingPayment {
			t.Errorf("order %d after a webhook with a reused key: %+v, %v; want it still pending", pending.ID, o, err)
		}
		// Only the last order's hold and creation were journaled.
		if got := len(actorstest.Journal(t, db, id)); got != events+2 {
			t.Errorf("%d events journaled after the redeliveries; want 2 (the last order's hold and creation)", got-events)
		}
		for _, c := range []struct {
			counter prometheus.Counter
			want    float64
			what    string
		}{
			{cfg.Metrics.WebhooksDeduplicated, 4, "webhooks answered from an earlier delivery"},
			// Only the delivery that would have paid another order was
			// refused by its commit: the others changed nothing, and their
			// batches committed.
			{cfg.Metrics.VersionConflicts, 1, "batches refused"},
		} {
			var m dto.Metric
			if err := c.counter.Write(&m); err != nil {
				t.Fatal(err)
			}
			if got := m.GetCounter().GetValue(); got != c.want {
				t.Errorf("%v %s; want %v", got, c.what, c.want)
			}
		}
		actorstest.CheckBooks(t, db, id)
	})
}
