package store_test

import (
	"context"
	"errors"
	"flashsale"
	"testing"
	"time"

	"flashsale/store/storetest"
)

// TestEarlyPaymentNeedsAReservedOrderID: a webhook for an order id past
// every id the order sequence has reserved is refused and recorded
// nowhere; one for a reserved id is kept as pending.
func TestEarlyPaymentNeedsAReservedOrderID(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		now := time.Now().UTC().Truncate(time.Millisecond)
		pay := func(key string, orderID int64) error {
			_, _, err := db.RecordEarlyPayment(ctx, flashsale.Payment{Key: key, OrderID: orderID,
				Status: flashsale.PaymentSuccess, Hash: key, CreatedAt: now})
			return err
		}
		if err := pay("before-any", 1); !errors.Is(err, flashsale.ErrOrderNotFound) {
			t.Fatalf("webhook for order 1 before any id is reserved: %v; want ErrOrderNotFound", err)
		}
		first, err := db.NextIDs(ctx, "order", 10) // ids first … first+9
		if err != nil {
			t.Fatal(err)
		}
		if err := pay("past-block", first+10); !errors.Is(err, flashsale.ErrOrderNotFound) {
			t.Fatalf("webhook past the reserved block: %v; want ErrOrderNotFound", err)
		}
		for _, key := range []string{"before-any", "past-block"} {
			if _, err := db.PaymentByKey(ctx, key); !errors.Is(err, flashsale.ErrPaymentNotFound) {
				t.Fatalf("refused webhook %s: %v; want it recorded nowhere", key, err)
			}
		}
		if err := pay("last-reserved", first+9); err != nil {
			t.Fatalf("webhook for the last reserved id: %v", err)
		}
		if p, err := db.PaymentByKey(ctx, "last-reserved"); err != nil || !p.Early {
			t.Fatalf("webhook for the last reserved id = %+v, %v; want pending", p, err)
		}
	})
}

// TestEarlyPaymentPastItsTTL: the transaction that creates an order asks
// for the webhooks recorded for it within the TTL before, and drops older
// ones instead of applying them, whether or not Clean has run.
func TestEarlyPaymentPastItsTTL(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		db.SetEarlyWebhookTTL(time.Minute)
		p, err := db.CreateProduct(ctx, flashsale.NewProduct{Name: "p", Price: 100, Stock: 10})
		if err != nil {
			t.Fatal(err)
		}
		first, err := db.NextIDs(ctx, "order", 10)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now().UTC().Truncate(time.Millisecond)
		hold := flashsale.Hold{ID: 1, ProductID: p.ID, Qty: 1, Status: flashsale.HoldActive, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
		if err := commit(ctx, db, &flashsale.Batch{ProductID: p.ID, Counters: flashsale.Counters{Stock: 10, Held: 1}, At: t0,
			NewHolds: []flashsale.Hold{hold}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.RecordEarlyPayment(ctx, flashsale.Payment{Key: "early", OrderID: first,
			Status: flashsale.PaymentSuccess, Hash: "h", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		orderAt := func(at time.Time) *flashsale.Batch {
			return &flashsale.Batch{ProductID: p.ID, Version: 1, Counters: flashsale.Counters{Stock: 10, AwaitingPayment: 1}, At: at,
				ConvertedHolds: []int64{hold.ID},
				NewOrders: []flashsale.Order{{ID: first, HoldID: hold.ID, ProductID: p.ID, Qty: 1, Amount: 100,
					Status: flashsale.OrderPendingPayment, InitialStatus: flashsale.OrderPendingPayment,
					ExpiresAt: at.Add(15 * time.Minute), CreatedAt: at}}}
		}
		// Within the TTL the order cannot be created without the webhook.
		var early *flashsale.EarlyPaymentsError
		if err := commit(ctx, db, orderAt(t0.Add(59*time.Second))); !errors.As(err, &early) || len(early.Payments) != 1 {
			t.Fatalf("order 59s after its webhook, without it: %v; want EarlyPaymentsError", err)
		}
		// Past the TTL it is created unpaid, and the webhook is dropped.
		if err := commit(ctx, db, orderAt(t0.Add(time.Minute+time.Millisecond))); err != nil {
			t.Fatalf("order past the TTL of its webhook: %v; want it created", err)
		}
		if o, err := db.Order(ctx, first); err != nil || o.Status != flashsale.OrderPendingPayment {
			t.Fatalf("order = %+v, %v; want pending_payment", o, err)
		}
		if _, err := db.PaymentByKey(ctx, "early"); !errors.Is(err, flashsale.ErrPaymentNotFound) {
			t.Fatalf("the stale early webhook: %v; want it dropped", err)
		}
	})
}
