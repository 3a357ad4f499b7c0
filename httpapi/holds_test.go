package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"flashsale"
	"flashsale/store/storetest"
	"math/rand/v2"
	"sync"
	"time"
)

func TestGetProduct(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		s := newTestServer(t, dialect)
		r := s.do(http.MethodGet, "/api/products/1", "")
		want := `{"id":1,"name":"Flash Sale Item","price":"49.99","stock":50,"available_stock":50}` + "\n"
		if r.Status != http.StatusOK || r.Raw != want {
			t.Fatalf("GET /api/products/1 = %d %s; want 200 %s", r.Status, r.Raw, want)
		}
		for _, path := range []string{"/api/products/abc", "/api/products/-1", "/api/products/0", "/api/products/999", "/api/products/99999999999999999999"} {
			if r := s.do(http.MethodGet, path, ""); r.Status != http.StatusNotFound || r.Body["message"] == "" {
				t.Errorf("GET %s = %d %s; want 404 with a message", path, r.Status, r.Raw)
			}
		}
	})
}

func TestCreateHoldValidation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		s := newTestServer(t, dialect)
		cases := []struct {
			name   string
			body   string
			status int
			field  string // the field a 422 must name
		}{
			{"fractional qty", `{"product_id":1,"qty":1.5}`, 422, "qty"},
			{"qty as a word", `{"product_id":1,"qty":"two"}`, 422, "qty"},
			{"qty as a decimal string", `{"product_id":1,"qty":"1.5"}`, 422, "qty"},
			{"missing qty", `{"product_id":1}`, 422, "qty"},
			{"null qty", `{"product_id":1,"qty":null}`, 422, "qty"},
			{"zero qty", `{"product_id":1,"qty":0}`, 422, "qty"},
			{"negative qty", `{"product_id":1,"qty":-3}`, 422, "qty"},
			{"huge qty", `{"product_id":1,"qty":123456789012345678901234567890}`, 422, "qty"},
			{"missing product_id", `{"qty":1}`, 422, "product_id"},
			{"product_id as a signed string", `{"product_id":"+1","qty":1}`, 422, "product_id"},
			{"empty object", `{}`, 422, "qty"},
			{"malformed JSON", `{"product_id":1,`, 400, ""},
			{"not an object", `[1,2]`, 400, ""},
			{"empty body", ``, 400, ""},
			{"trailing garbage", `{"product_id":1,"qty":1} x`, 400, ""},
			{"unknown product", `{"product_id":999,"qty":1}`, 404, ""},
			{"more than the stock", `{"product_id":1,"qty":51}`, 409, ""},
			{"body over 64 KiB", `{"product_id":1,"qty":1,"pad":"` + strings.Repeat("x", 65<<10) + `"}`, 413, ""},
		}
		for _, c := range cases {
			r := s.do(http.MethodPost, "/api/holds", c.body)
			if r.Status != c.status {
				t.Errorf("%s: status %d %s; want %d", c.name, r.Status, r.Raw, c.status)
				continue
			}
			if msg, _ := r.Body["message"].(string); msg == "" {
				t.Errorf("%s: no message in %s", c.name, r.Raw)
			}
			if c.field != "" {
				errs, _ := r.Body["errors"].(map[string]any)
				if msgs, _ := errs[c.field].([]any); len(msgs) == 0 {
					t.Errorf("%s: errors %v name no %q", c.name, errs, c.field)
				}
			}
		}
		if r := s.do(http.MethodPost, "/api/holds", `{"product_id":1,"qty":51}`); r.Body["message"] != "Insufficient stock" {
			t.Errorf("409 message %q; want Insufficient stock", r.Body["message"])
		}
		// Nothing above took stock.
		s.checkBooks(1, 0)
	})
}

func TestCreateHoldAnswersWithTheHold(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		s := newTestServer(t, dialect, withHoldTTL(2*time.Minute))
		before := time.Now()
		// curl -d sends a form content type; the body is JSON all the same.
		r := s.do(http.MethodPost, "/api/holds", `{"product_id":1,"qty":2}`, "Content-Type", "application/x-www-form-urlencoded")
		if r.Status != http.StatusCreated {
			t.Fatalf("POST /api/holds = %d %s", r.Status, r.Raw)
		}
		if r.Body["product_id"] != 1.0 || r.Body["qty"] != 2.0 || r.Body["status"] != "active" || r.Body["hold_id"].(float64) < 1 {
			t.Fatalf("hold %s", r.Raw)
		}
		expires, err := time.Parse(time.RFC3339, r.Body["expires_at"].(string))
		if err != nil || !strings.HasSuffix(r.Body["expires_at"].(string), "Z") {
			t.Fatalf("expires_at %q is not RFC 3339 UTC: %v", r.Body["expires_at"], err)
		}
		if d := expires.Sub(before); d < 2*time.Minute || d > 2*time.Minute+2*time.Second {
			t.Fatalf("expires_at is %v after the request; want about 2m", d)
		}
		got := s.do(http.MethodGet, "/api/holds/"+itoa(r.Body["hold_id"]), "")
		if got.Status != http.StatusOK || got.Raw != r.Raw {
			t.Fatalf("GET hold = %d %s; want 200 %s", got.Status, got.Raw, r.Raw)
		}
		for _, path := range []string{"/api/holds/999999", "/api/holds/x", "/api/holds/-1"} {
			if r := s.do(http.MethodGet, path, ""); r.Status != http.StatusNotFound {
				t.Errorf("GET %s = %d; want 404", path, r.Status)
			}
		}
		s.checkBooks(1, 2)
	})
}

// TestConcurrentHoldsAtStockBoundary sends 400 holds at once for 50 units.
func TestConcurrentHoldsAtStockBoundary(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		s := newTestServer(t, dialect)
		const buyers = 400
		statuses := make(chan int, buyers)
		var start, wg sync.WaitGroup
		start.Add(1)
		for range buyers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				statuses <- s.do(http.MethodPost, "/api/holds", `{"product_id":1,"qty":1}`).Status
			}()
		}
		start.Done()
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for st := range statuses {
			count[st]++
		}
		if count[201] != 50 || count[409] != 350 || len(count) != 2 {
			t.Fatalf("statuses %v; want 50×201 and 350×409", count)
		}
		s.checkBooks(1, 50)
	})
}

// TestMixedQuantitiesUnderContention: whatever order the holds land in,
// the units acknowledged are exactly the units taken.
func TestMixedQuantitiesUnderContention(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		s := newTestServer(t, dialect)
		id := s.createProduct(100)
		const buyers = 300
		var (
			mu       sync.Mutex
			taken    int64
			rejected int
			wg       sync.WaitGroup
		)
		for range buyers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				qty := rand.IntN(5) + 1
				r := s.do(http.MethodPost, "/api/holds", `{"product_id":`+itoa(id)+`,"qty":`+itoa(qty)+`}`)
				mu.Lock()
				defer mu.Unlock()
				switch r.Status {
				case http.StatusCreated:
					if r.Body["qty"] != float64(qty) {
						t.Errorf("hold for %d answered %s", qty, r.Raw)
					}
					taken += int64(qty)
				case http.StatusConflict:
					rejected++
				default:
					t.Errorf("status %d %s", r.Status, r.Raw)
				}
			}()
		}
		wg.Wait()
		if taken > 100 || rejected == 0 {
			t.Fatalf("%d units acknowledged, %d rejected; want at most 100 and some rejections", taken, rejected)
		}
		// 300 buyers want ~900 units: every rejection came when fewer than
		// 5 units were left, so at most 4 are.
		if left := s.available(id); left > 4 {
			t.Fatalf("%d units left unsold though buyers were turned away", left)
		}
		s.checkBooks(id, taken)
	})
}

func TestHoldExpiresOnTime(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		s := newTestServer(t, dialect, withHoldTTL(time.Second))
		r := s.do(http.MethodPost, "/api/holds", `{"product_id":1,"qty":5}`)
		if r.Status != http.StatusCreated {
			t.Fatalf("hold: %d %s", r.Status, r.Raw)
		}
		if got := s.available(1); got != 45 {
			t.Fatalf("available %d while held; want 45", got)
		}
		expires, _ := time.Parse(time.RFC3339, r.Body["expires_at"].(string))
		time.Sleep(time.Until(expires))
		// From expires_at on, the hold no longer counts, written or not.
		if got := s.available(1); got != 50 {
			t.Fatalf("available %d at expires_at; want 50", got)
		}
		if got := s.do(http.MethodGet, "/api/holds/"+itoa(r.Body["hold_id"]), ""); got.Body["status"] != "expired" {
			t.Fatalf("hold at expires_at: %s; want expired", got.Raw)
		}
		// The release is written within a second by the actor itself.
		s.awaitHold(num(r.Body["hold_id"]), flashsale.HoldExpired, time.Second)
		s.checkBooks(1, 0)
	})
}

func TestIdempotencyKey(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		s := newTestServer(t, dialect)
		body := `{"product_id":1,"qty":3}`
		first := s.do(http.MethodPost, "/api/holds", body, "Idempotency-Key", "order-abc")
		again := s.do(http.MethodPost, "/api/holds", body, "Idempotency-Key", "order-abc")
		if first.Status != http.StatusCreated || again.Status != first.Status || again.Raw != first.Raw {
			t.Fatalf("retry = %d %s; want %d %s", again.Status, again.Raw, first.Status, first.Raw)
		}
		other := s.do(http.MethodPost, "/api/holds", `{"product_id":1,"qty":4}`, "Idempotency-Key", "order-abc")
		if other.Status != http.StatusConflict || other.Body["message"] != "Idempotency key reused with a different payload" {
			t.Fatalf("other body, same key = %d %s; want 409", other.Status, other.Raw)
		}
		s.checkBooks(1, 3)

		// Twenty retries at once of a request not yet seen: one hold.
		var wg sync.WaitGroup
		raws := make(chan string, 20)
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := s.do(http.MethodPost, "/api/holds", `{"product_id":1,"qty":2}`, "Idempotency-Key", "burst")
				raws <- itoa(r.Status) + " " + r.Raw
			}()
		}
		wg.Wait()
		close(raws)
		seen := map[string]int{}
		for raw := range raws {
			seen[raw]++
		}
		if len(seen) != 1 {
			t.Fatalf("20 deliveries got different answers: %v", seen)
		}
		for raw := range seen {
			if !strings.HasPrefix(raw, "201 ") {
				t.Fatalf("answer %s; want 201", raw)
			}
		}
		s.checkBooks(1, 5)

		for _, key := range []string{"", strings.Repeat("k", 256)} {
			if r := s.do(http.MethodPost, "/api/holds", body, "Idempotency-Key", key); r.Status != http.StatusBadRequest {
				t.Errorf("key of %d chars: %d %s; want 400", len(key), r.Status, r.Raw)
			}
		}
		s.checkBooks(1, 5)
	})
}

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
