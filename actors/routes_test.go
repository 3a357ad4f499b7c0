package actors_test

import (
	"context"
	"errors"
	"flashsale"
	"testing"
	"time"

	"flashsale/actors/actorstest"
	"flashsale/store/storetest"
)

// TestOrdersAndWebhooksAfterTheActorForgot: the service sends the order of
// a hold it placed, and the webhook of an order it made, straight to the
// product's actor. Once that actor has stopped and come back, it no longer
// knows holds that became orders or expired: the answers stay the
// database's (hold used, naming its order; hold expired; the order's
// status).
func TestOrdersAndWebhooksAfterTheActorForgot(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		db := storetest.Open(t, dialect)
		cfg := forgetful(100*time.Millisecond, 300*time.Millisecond)
		s := actorstest.NewService(t, db, cfg)
		ctx := context.Background()
		id := storetest.CreateProduct(t, db, 5)

		order := s.Order(t, id, 2)
		if _, err := s.ApplyPayment(ctx, "paid-1", order.ID, flashsale.PaymentSuccess); err != nil {
			t.Fatal(err)
		}
		expired, err := s.PlaceHold(ctx, id, 1, "")
		if err != nil {
			t.Fatal(err)
		}
		// The hold expires, and then the actor, with nothing left to
		// watch, stops.
		waitForNoActors(t, cfg.Metrics)

		_, err = s.CreateOrder(ctx, order.HoldID, "")
		if e, ok := errors.AsType[*flashsale.HoldUsedError](err); !ok || e.OrderID != order.ID {
			t.Errorf("order for hold %d again: %v; want hold used, naming order %d", order.HoldID, err, order.ID)
		}
		if _, err := s.CreateOrder(ctx, expired.ID, ""); !errors.Is(err, flashsale.ErrHoldExpired) {
			t.Errorf("order for the expired hold %d: %v; want hold expired", expired.ID, err)
		}
		res, err := s.ApplyPayment(ctx, "paid-2", order.ID, flashsale.PaymentFailed)
		if err != nil || res.Status != flashsale.OrderPaid {
			t.Errorf("a late failure for the paid order: %+v, %v; want it left paid", res, err)
		}
		if _, err := s.ApplyPayment(ctx, "stray", order.ID+1_000_000, flashsale.PaymentSuccess); !errors.Is(err, flashsale.ErrOrderNotFound) {
			t.Errorf("a webhook for an order never made: %v; want order not found", err)
		}
		actorstest.CheckBooks(t, db, id)
	})
}
