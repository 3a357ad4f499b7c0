package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"flashsale/store/storetest"
)

// TestIntegersAsStrings: clients written against Laravel's integer rule
// send "2" for 2. Every integer field takes a string that spells the
// integer as JSON would, means the same by it (one idempotency key covers
// both spellings), and refuses every other string as before.
func TestIntegersAsStrings(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		s := newTestServer(t, dialect)

		r := s.do(http.MethodPost, "/api/holds", `{"product_id":"1","qty":"2"}`, "Idempotency-Key", "laravel-hold")
		if r.Status != http.StatusCreated || r.Body["product_id"] != 1.0 || r.Body["qty"] != 2.0 {
			t.Fatalf("hold with string integers = %d %s; want 201 for 2 of product 1", r.Status, r.Raw)
		}
		holdID := itoa(int64(r.Body["hold_id"].(float64)))
		// The same key with the numbers spelled as numbers is the same request.
		if again := s.do(http.MethodPost, "/api/holds", `{"product_id":1,"qty":2}`, "Idempotency-Key", "laravel-hold"); again.Raw != r.Raw {
			t.Fatalf("the same hold in numbers = %d %s; want the first answer %s", again.Status, again.Raw, r.Raw)
		}
		s.checkBooks(1, 2)

		r = s.do(http.MethodPost, "/api/orders", `{"hold_id":"`+holdID+`"}`)
		if r.Status != http.StatusCreated || itoa(int64(r.Body["hold_id"].(float64))) != holdID {
			t.Fatalf("order with a string hold_id = %d %s; want 201 for hold %s", r.Status, r.Raw, holdID)
		}
		orderID := itoa(int64(r.Body["order_id"].(float64)))
		r = s.do(http.MethodPost, "/api/payments/webhook", `{"idempotency_key":"laravel-pay","order_id":"`+orderID+`","status":"success"}`)
		if r.Status != http.StatusOK || r.Body["status"] != "paid" {
			t.Fatalf("webhook with a string order_id = %d %s; want 200 paid", r.Status, r.Raw)
		}

		r = s.admin(http.MethodPost, "/api/admin/products", `{"name":"Strings","price":"1.00","stock":"0"}`)
		if r.Status != http.StatusCreated || r.Body["stock"] != 0.0 {
			t.Fatalf("create with a string stock = %d %s; want 201 with stock 0", r.Status, r.Raw)
		}
		product := itoa(int64(r.Body["id"].(float64)))
		r = s.admin(http.MethodPatch, "/api/admin/products/"+product, `{"stock":"40"}`)
		if r.Status != http.StatusOK || r.Body["stock"] != 40.0 || r.Body["available_stock"] != 40.0 {
			t.Fatalf("patch with a string stock = %d %s; want 200 with stock 40", r.Status, r.Raw)
		}

		// Every other string is refused as before, naming the field.
		refused := []string{`"two"`, `"1.5"`, `""`, `" 1"`, `"1 "`, `"-1"`, `"+1"`, `"007"`, `"1e2"`, `"0x1"`,
			`"99999999999999999999"`, `1.5`, `-1`}
		fields := []struct{ method, path, body, field string }{
			{http.MethodPost, "/api/holds", `{"product_id":1,"qty":%}`, "qty"},
			{http.MethodPost, "/api/holds", `{"product_id":%,"qty":1}`, "product_id"},
			{http.MethodPost, "/api/orders", `{"hold_id":%}`, "hold_id"},
			{http.MethodPost, "/api/payments/webhook", `{"idempotency_key":"k","order_id":%,"status":"success"}`, "order_id"},
			{http.MethodPost, "/api/admin/products", `{"name":"n","price":"1","stock":%}`, "stock"},
			{http.MethodPatch, "/api/admin/products/" + product, `{"stock":%}`, "stock"},
		}
		for _, f := range fields {
			for _, value := range refused {
				body := strings.Replace(f.body, "%", value, 1)
				r := s.admin(f.method, f.path, body)
				errs, _ := r.Body["errors"].(map[string]any)
				if msgs, _ := errs[f.field].([]any); r.Status != http.StatusUnprocessableEntity || len(msgs) == 0 {
					t.Errorf("%s %s %s = %d %s; want 422 naming %s", f.method, f.path, body, r.Status, r.Raw, f.field)
				}
			}
		}
		if got := s.available(1); got != 48 {
			t.Fatalf("product 1 has %d available after the paid order of 2 and the refusals; want 48", got)
		}
	})
}
