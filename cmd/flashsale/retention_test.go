package main

import (
	"errors"
	"flashsale"
	"fmt"
	"net/http"
	"testing"
	"time"

	"flashsale/actors/actorstest"
	"flashsale/store/storetest"
)

// TestServiceLetsGoOfEarlyWebhooks: a webhook for an order that never
// appears is kept for the retention period, then dropped by the running
// service, so such webhooks do not pile up; its key is free again.
func TestServiceLetsGoOfEarlyWebhooks(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		t.Parallel()
		url := storetest.URL(t, dialect)
		p := startServer(t, "server", serverArgs("serve", url, "--retention", "1s"))
		c := newClient(t)
		webhook := func(status string) (int, string) {
			code, raw, err := call(c, http.MethodPost, p.base+"/api/payments/webhook", "",
				map[string]any{"idempotency_key": "pay-never", "order_id": 999999, "status": status})
			if err != nil {
				t.Fatal(err)
			}
			return code, string(raw)
		}
		if code, raw := webhook("success"); code != http.StatusAccepted {
			t.Fatalf("early webhook = %d %s; want 202", code, raw)
		}
		// Within the retention period the key is taken: another payload is refused.
		if code, raw := webhook("failed"); code != http.StatusConflict {
			t.Fatalf("same key, other payload, at once = %d %s; want 409", code, raw)
		}
		db := storetest.OpenURL(t, url)
		actorstest.Eventually(t, 10*time.Second, func() string {
			if _, err := db.PaymentByKey(t.Context(), "pay-never"); !errors.Is(err, flashsale.ErrPaymentNotFound) {
				return fmt.Sprintf("the early webhook is still recorded (%v) after a retention of 1s", err)
			}
			return ""
		})
		if code, raw := webhook("failed"); code != http.StatusAccepted {
			t.Fatalf("the key after retention = %d %s; want 202, a new webhook", code, raw)
		}
		if p.log.count("retention pass") == 0 {
			t.Errorf("no retention pass was logged")
		}
	})
}
