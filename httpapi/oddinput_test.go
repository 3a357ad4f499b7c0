package httpapi_test

import (
	"net/http"
	"testing"

	"flashsale/store/storetest"
)

// TestOddInput sends what careless or hostile clients send. Every one gets
// a 4xx with a message, and the books do not move.
func TestOddInput(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		s := newTestServer(t, dialect)
		cases := []struct {
			name, path, body string
			status           int
		}{
			{"huge product id", "/api/holds", `{"product_id":92233720368547758070,"qty":1}`, 422},
			{"zero product id", "/api/holds", `{"product_id":0,"qty":1}`, 422},
			{"negative qty", "/api/holds", `{"product_id":1,"qty":-1}`, 422},
			{"qty as an exponent", "/api/holds", `{"product_id":1,"qty":1e1}`, 422},
			{"null body", "/api/holds", `null`, 400},
			{"array where an object belongs", "/api/holds", `[{"product_id":1,"qty":1}]`, 400},
			{"object where a number belongs", "/api/holds", `{"product_id":{"id":1},"qty":1}`, 422},
			{"duplicate keys", "/api/holds", `{"product_id":1,"qty":1,"qty":40}`, 400},
			{"trailing garbage", "/api/holds", `{"product_id":1,"qty":1}]`, 400},
			{"two objects", "/api/holds", `{"product_id":1,"qty":1}{"product_id":1,"qty":1}`, 400},
			{"invalid UTF-8", "/api/holds", "{\"product_id\":1,\"qty\":1,\"note\":\"\xff\xfe\"}", 400},
			{"zero hold id", "/api/orders", `{"hold_id":0}`, 422},
			{"null hold id", "/api/orders", `{"hold_id":null}`, 422},
			{"duplicate webhook keys", "/api/payments/webhook",
				`{"idempotency_key":"a","idempotency_key":"b","order_id":1,"status":"success"}`, 400},
			{"webhook order id too large", "/api/payments/webhook",
				`{"idempotency_key":"a","order_id":1e30,"status":"success"}`, 422},
		}
		for _, c := range cases {
			r := s.do(http.MethodPost, c.path, c.body)
			if r.Status != c.status {
				t.Errorf("%s: %d %s; want %d", c.name, r.Status, r.Raw, c.status)
			}
			if msg, _ := r.Body["message"].(string); msg == "" {
				t.Errorf("%s: no message in %s", c.name, r.Raw)
			}
		}
		s.checkBooks(1, 0)

		// Unknown fields are ignored, not refused.
		if r := s.do(http.MethodPost, "/api/holds", `{"product_id":1,"qty":2,"coupon":"X"}`); r.Status != http.StatusCreated {
			t.Fatalf("unknown field: %d %s; want 201", r.Status, r.Raw)
		}
		s.checkBooks(1, 2)
	})
}
