package main

import (
	"errors"
	"flashsale"
	"net/http"
	"testing"
	"time"

	"flashsale/store/storetest"
)

// TestServiceBoundsEarlyWebhooks, as an operator sees it: a webhook for an
// order id no server has reserved is refused with 404; one for a reserved
// id whose order does not appear is kept for --early-webhook-ttl, then
// dropped by the running service, so such webhooks do not pile up, its key
// is free again, and the order that later gets its id is not paid by it.
func TestServiceBoundsEarlyWebhooks(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		t.Parallel()
		url := storetest.URL(t, dialect)
		p := startServer(t, "server", serverArgs("serve", url, "--early-webhook-ttl", "1s"))
		c := newClient(t)
		webhook := func(key string, orderID int64, status string) (int, string) {
			code, raw, err := call(c, http.MethodPost, p.base+"/api/payments/webhook", "",
				map[string]any{"idempotency_key": key, "order_id": orderID, "status": status})
			if err != nil {
				t.Fatal(err)
			}
			return code, string(raw)
		}
		if code, raw := webhook("stray-1", 1, "success"); code != http.StatusNotFound {
			t.Fatalf("webhook before any order id is reserved = %d %s; want 404", code, raw)
		}
		order := func() (id int64, status string) {
			var o struct {
				OrderID int64  `json:"order_id"`
				Status  string `json:"status"`
			}
			h := placeHold(t, c, p, 1, 1)
			mustCall(t, c, http.MethodPost, p.base+"/api/orders", "", map[string]int64{"hold_id": h.HoldID}, http.StatusCreated, &o)
			return o.OrderID, o.Status
		}
		if id, status := order(); id != 1 || status != "pending_payment" {
			t.Fatalf("first order = %d %s; want 1 pending_payment, unpaid by the stray webhook", id, status)
		}
		if code, raw := webhook("pay-never", 2, "success"); code != http.StatusAccepted {
			t.Fatalf("early webhook for order 2 = %d %s; want 202", code, raw)
		}
		// Within its TTL the key is taken: another payload is refused.
		if code, raw := webhook("pay-never", 2, "failed"); code != http.StatusConflict {
			t.Fatalf("same key, other payload, at once = %d %s; want 409", code, raw)
		}
		db := storetest.OpenURL(t, url)
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := db.PaymentByKey(t.Context(), "pay-never"); errors.Is(err, flashsale.ErrPaymentNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the early webhook is still recorded 10s after a TTL of 1s")
			}
			time.Sleep(100 * time.Millisecond)
		}
		if id, status := order(); id != 2 || status != "pending_payment" {
			t.Fatalf("second order = %d %s; want 2 pending_payment, unpaid by the dropped webhook", id, status)
		}
		if code, raw := webhook("pay-never", 3, "failed"); code != http.StatusAccepted {
			t.Fatalf("the key after its TTL = %d %s; want 202, a new webhook", code, raw)
		}
		if p.log.count("retention pass") == 0 {
			t.Errorf("no retention pass was logged")
		}
	})
}
