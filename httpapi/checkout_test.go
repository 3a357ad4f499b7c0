package httpapi_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"crypto/sha256"
	"encoding/hex"
	"flashsale"
	"flashsale/store/storetest"
	"fmt"
	"slices"
	"strings"
	"sync"

	"flashsale/actors/actorstest"
	"flashsale/httpapi"
)

// TestCreateOrder: an order from a hold answers with the order, converts
// the hold, keeps its units taken, and reads back the same; a second order
// from the hold and orders from unknown holds are refused.
func TestCreateOrder(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect, withWebhookSecret(webhookSecret))
		holdID := c.mustHold(1, 2)
		if got := c.available(1); got != 48 {
			t.Fatalf("available %d after holding 2 of 50", got)
		}
		r := c.order(holdID)
		if r.Status != http.StatusCreated {
			t.Fatalf("POST /api/orders = %d %s; want 201", r.Status, r.Raw)
		}
		orderID := num(r.Body["order_id"])
		created := orderRaw(orderID, holdID, 1, 2, "99.98", "pending_payment")
		want(t, "POST /api/orders", r, http.StatusCreated, created)

		if h := c.do(http.MethodGet, "/api/holds/"+itoa(holdID), ""); h.Status != http.StatusOK || h.Body["status"] != "converted" {
			t.Fatalf("GET the ordered hold = %d %s; want status converted", h.Status, h.Raw)
		}
		if got := c.available(1); got != 48 {
			t.Fatalf("available %d after the order; want 48 (the hold's units stay taken)", got)
		}
		want(t, "GET /api/orders/{id}", c.getOrder(orderID), http.StatusOK, created)
		c.expect(1, books{Awaiting: 2, Available: 48})

		want(t, "second order from the hold", c.order(holdID), http.StatusConflict, holdUsedRaw(orderID))
		want(t, "order from an unknown hold", c.order(holdID+1000), http.StatusNotFound, messageRaw("Hold not found"))
		for _, id := range []string{itoa(orderID + 1), "999999", "0", "-1", "x", "99999999999999999999"} {
			if r := c.do(http.MethodGet, "/api/orders/"+id, ""); r.Status != http.StatusNotFound || r.Body["message"] != "Order not found" {
				t.Errorf("GET /api/orders/%s = %d %s; want 404 Order not found", id, r.Status, r.Raw)
			}
		}
		c.expect(1, books{Awaiting: 2, Available: 48})

		// GET shows the order's current status.
		want(t, "webhook", c.webhook("pay_abc_123", orderID, "success"), http.StatusOK,
			paymentRaw(orderID, "paid", "pay_abc_123"))
		want(t, "GET the paid order", c.getOrder(orderID), http.StatusOK, orderRaw(orderID, holdID, 1, 2, "99.98", "paid"))
		c.expect(1, books{Paid: 2, Available: 48})
	})
}

// TestCreateOrderIdempotencyKey: the Idempotency-Key of POST /api/orders
// behaves as that of holds.
func TestCreateOrderIdempotencyKey(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect, withWebhookSecret(webhookSecret))
		h1, h2 := c.mustHold(1, 1), c.mustHold(1, 2)
		key := []string{"Idempotency-Key", "checkout-abc"}
		first := c.order(h1, key...)
		if first.Status != http.StatusCreated {
			t.Fatalf("order = %d %s", first.Status, first.Raw)
		}
		id := num(first.Body["order_id"])
		want(t, "retry", c.order(h1, key...), http.StatusCreated, first.Raw)
		want(t, "same key, other hold", c.order(h2, key...), http.StatusConflict, messageRaw(keyReusedMessage))
		c.expect(1, books{Held: 2, Awaiting: 1, Available: 47})

		// Paid since: a retry still gets the first answer, and makes nothing.
		want(t, "pay", c.webhook("pay-1", id, "success"), http.StatusOK, paymentRaw(id, "paid", "pay-1"))
		want(t, "retry after payment", c.order(h1, key...), http.StatusCreated, first.Raw)
		want(t, "same hold without the key", c.order(h1), http.StatusConflict, holdUsedRaw(id))
		c.expect(1, books{Held: 2, Paid: 1, Available: 47})

		// Twenty retries at once of a request not seen yet: one order and
		// one answer. Several rounds, as a race is a matter of timing.
		burst := []int64{h2, c.mustHold(1, 1), c.mustHold(1, 1), c.mustHold(1, 1), c.mustHold(1, 1)}
		for round, h := range burst {
			key := fmt.Sprintf("burst-%d", round)
			var mu sync.Mutex
			got := tally{}
			parallel(20, func(int) {
				r := c.order(h, "Idempotency-Key", key)
				mu.Lock()
				defer mu.Unlock()
				got[answer(r)]++
			})
			if len(got) != 1 {
				t.Fatalf("round %d: 20 deliveries of one order request got:%s\nwant one answer", round, got)
			}
			for a := range got {
				if !strings.HasPrefix(a, "201 ") {
					t.Fatalf("round %d: answer %s; want 201", round, a)
				}
				if again := c.order(h, "Idempotency-Key", key); answer(again) != a {
					t.Fatalf("round %d: retry after the burst = %s; want %s", round, answer(again), a)
				}
			}
		}
		c.expect(1, books{Awaiting: 6, Paid: 1, Available: 43})

		h3 := c.mustHold(1, 1)
		for _, k := range []string{"", strings.Repeat("k", 256)} {
			if r := c.order(h3, "Idempotency-Key", k); r.Status != http.StatusBadRequest {
				t.Errorf("Idempotency-Key of %d chars: %d %s; want 400", len(k), r.Status, r.Raw)
			}
		}
		c.expect(1, books{Held: 1, Awaiting: 6, Paid: 1, Available: 42})
	})
}

// TestParallelHoldsThenOrders: forty buyers race for ten units; the ten
// who get a hold order at once and pay; nobody oversells at any step.
func TestParallelHoldsThenOrders(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect, withWebhookSecret(webhookSecret))
		const stock, buyers = 10, 40
		pid := c.createProduct(stock)
		var (
			mu    sync.Mutex
			holds []int64
			count = map[int]int{}
		)
		parallel(buyers, func(int) {
			r := c.hold(pid, 1)
			mu.Lock()
			defer mu.Unlock()
			count[r.Status]++
			if r.Status == http.StatusCreated {
				holds = append(holds, num(r.Body["hold_id"]))
			}
		})
		if count[http.StatusCreated] != stock || count[http.StatusConflict] != buyers-stock || len(count) != 2 {
			t.Fatalf("hold statuses %v; want %d×201 and %d×409", count, stock, buyers-stock)
		}
		c.expect(pid, books{Held: stock})

		answers := make([]response, len(holds))
		parallel(len(holds), func(i int) { answers[i] = c.order(holds[i]) })
		ids := make([]int64, len(holds))
		for i, r := range answers {
			if r.Status != http.StatusCreated {
				t.Fatalf("order from hold %d = %d %s", holds[i], r.Status, r.Raw)
			}
			ids[i] = num(r.Body["order_id"])
			want(t, "order", r, http.StatusCreated, orderRaw(ids[i], holds[i], pid, 1, "10.00", "pending_payment"))
		}
		slices.Sort(ids)
		for i := range ids {
			if ids[i] != ids[0]+int64(i) {
				t.Fatalf("order ids %v; want %d consecutive ids", ids, len(ids))
			}
		}
		c.expect(pid, books{Awaiting: stock})
		want(t, "one more hold", c.hold(pid, 1), http.StatusConflict, messageRaw("Insufficient stock"))

		paid := make([]response, len(ids))
		parallel(len(ids), func(i int) { paid[i] = c.webhook(fmt.Sprintf("pay-%d", ids[i]), ids[i], "success") })
		for i, r := range paid {
			want(t, "payment", r, http.StatusOK, paymentRaw(ids[i], "paid", fmt.Sprintf("pay-%d", ids[i])))
		}
		c.expect(pid, books{Paid: stock})
	})
}

// TestHoldExpiryThenOrder: an expired hold gives its units back and can
// no longer be ordered, from the moment it expires.
func TestHoldExpiryThenOrder(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect, withHoldTTL(time.Second), withWebhookSecret(webhookSecret))
		pid := c.createProduct(5)
		r := c.hold(pid, 5)
		if r.Status != http.StatusCreated {
			t.Fatalf("hold = %d %s", r.Status, r.Raw)
		}
		holdID := num(r.Body["hold_id"])
		expires, err := time.Parse(time.RFC3339, r.Body["expires_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.available(pid); got != 0 {
			t.Fatalf("available %d while all 5 are held", got)
		}

		time.Sleep(time.Until(expires))
		// From expires_at on, ordering fails whether or not the release is
		// written yet, however many try at once.
		expired := messageRaw("Hold expired")
		answers := make([]response, 10)
		parallel(len(answers), func(i int) { answers[i] = c.order(holdID) })
		for _, r := range answers {
			want(t, "order at expires_at", r, http.StatusConflict, expired)
		}
		c.awaitHold(holdID, flashsale.HoldExpired, 2*time.Second) // the release written
		if got := c.available(pid); got != 5 {
			t.Fatalf("available %d after the hold expired; want 5", got)
		}
		if h := c.do(http.MethodGet, "/api/holds/"+itoa(holdID), ""); h.Body["status"] != "expired" {
			t.Fatalf("GET expired hold = %s", h.Raw)
		}
		want(t, "order after the release", c.order(holdID), http.StatusConflict, expired)
		c.expect(pid, books{Available: 5})

		// The units are for sale again.
		c.buy(pid, 5)
		c.expect(pid, books{Awaiting: 5})
	})
}

// TestWebhookSameKeyFiveTimes: a webhook delivered five times takes effect
// once, and every delivery gets the first answer, even after the order
// has moved on.
func TestWebhookSameKeyFiveTimes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect, withWebhookSecret(webhookSecret))
		pid := c.createProduct(10)

		a := c.buy(pid, 3)
		failed := c.webhook("pay_fail_a", a, "failed")
		want(t, "failed", failed, http.StatusOK, paymentRaw(a, "cancelled", "pay_fail_a"))
		recorded, ok := c.payment("pay_fail_a")
		if !ok || recorded.Early || recorded.Result != flashsale.OrderCancelled || recorded.OrderID != a {
			t.Fatalf("payment recorded %+v, %v; want applied with result cancelled", recorded, ok)
		}
		for i := 2; i <= 5; i++ {
			want(t, fmt.Sprintf("delivery %d", i), c.webhook("pay_fail_a", a, "failed"), http.StatusOK, failed.Raw)
			c.expect(pid, books{Available: 10})
		}
		if again, _ := c.payment("pay_fail_a"); again != recorded {
			t.Fatalf("payment row changed by redeliveries: %+v; was %+v", again, recorded)
		}

		// A success under its own key revives the order; the failure,
		// delivered again, gets its first answer and changes nothing.
		want(t, "success", c.webhook("pay_ok_a", a, "success"), http.StatusOK, paymentRaw(a, "paid", "pay_ok_a"))
		c.expect(pid, books{Paid: 3, Available: 7})
		want(t, "failure redelivered after the success", c.webhook("pay_fail_a", a, "failed"), http.StatusOK, failed.Raw)
		if got := c.orderStatus(a); got != "paid" {
			t.Fatalf("order %d is %s after a redelivered failure; want paid", a, got)
		}
		c.expect(pid, books{Paid: 3, Available: 7})

		b := c.buy(pid, 2)
		first := c.webhook("pay_abc_123", b, "success")
		want(t, "success", first, http.StatusOK, paymentRaw(b, "paid", "pay_abc_123"))
		for i := 2; i <= 5; i++ {
			want(t, fmt.Sprintf("delivery %d", i), c.webhook("pay_abc_123", b, "success"), http.StatusOK, first.Raw)
		}
		c.expect(pid, books{Paid: 5, Available: 5})
	})
}

// TestWebhookBeforeOrder: a webhook for an order id not created yet is
// kept and applied when the order is created.
func TestWebhookBeforeOrder(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect, withWebhookSecret(webhookSecret))
		pid := c.createProduct(10)
		c.buy(pid, 1)

		next := c.lastOrderID() + 1
		want(t, "early webhook", c.webhook("pay_early", next, "success"), http.StatusAccepted, pendingRaw(next))
		want(t, "repeat meanwhile", c.webhook("pay_early", next, "success"), http.StatusAccepted, pendingRaw(next))
		if p, ok := c.payment("pay_early"); !ok || !p.Early || p.OrderID != next {
			t.Fatalf("early payment recorded %+v, %v; want pending for order %d", p, ok, next)
		}
		if r := c.getOrder(next); r.Status != http.StatusNotFound {
			t.Fatalf("GET order %d before it exists = %d %s; want 404", next, r.Status, r.Raw)
		}
		c.expect(pid, books{Awaiting: 1, Available: 9})

		h := c.mustHold(pid, 2)
		paid := orderRaw(next, h, pid, 2, "20.00", "paid")
		want(t, "order the webhook was for", c.order(h), http.StatusCreated, paid)
		want(t, "GET it", c.getOrder(next), http.StatusOK, paid)
		want(t, "repeat after", c.webhook("pay_early", next, "success"), http.StatusOK, paymentRaw(next, "paid", "pay_early"))
		if p, _ := c.payment("pay_early"); p.Early || p.Result != flashsale.OrderPaid {
			t.Fatalf("early payment now %+v; want applied with result paid", p)
		}
		c.expect(pid, books{Awaiting: 1, Paid: 2, Available: 7})

		// An early failure: the order is born cancelled, its units free.
		next = c.lastOrderID() + 1
		want(t, "early failure", c.webhook("pay_early_fail", next, "failed"), http.StatusAccepted, pendingRaw(next))
		h = c.mustHold(pid, 3)
		want(t, "order the failure was for", c.order(h), http.StatusCreated, orderRaw(next, h, pid, 3, "30.00", "cancelled"))
		want(t, "repeat after", c.webhook("pay_early_fail", next, "failed"), http.StatusOK,
			paymentRaw(next, "cancelled", "pay_early_fail"))
		c.expect(pid, books{Awaiting: 1, Paid: 2, Available: 7})
	})
}

// TestWebhookConcurrentDeliveries: twenty deliveries of one webhook at
// once take effect once and all get the same answer: for an order that
// exists, and for one that does not exist yet.
func TestWebhookConcurrentDeliveries(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect, withWebhookSecret(webhookSecret))
		pid := c.createProduct(30)
		deliver := func(key string, orderID int64, status, wantAnswer string) {
			t.Helper()
			var mu sync.Mutex
			got := tally{}
			parallel(20, func(int) {
				r := c.webhook(key, orderID, status)
				mu.Lock()
				defer mu.Unlock()
				got[answer(r)]++
			})
			if len(got) != 1 || got[wantAnswer] != 20 {
				t.Fatalf("20 deliveries of %s for order %d got:%s\nwant 20× %s", key, orderID, got, strings.TrimSpace(wantAnswer))
			}
		}

		a := c.buy(pid, 3)
		deliver("pay_abc_123", a, "success", "200 "+paymentRaw(a, "paid", "pay_abc_123"))
		c.expect(pid, books{Paid: 3, Available: 27})

		b := c.buy(pid, 2)
		deliver("pay_fail_b", b, "failed", "200 "+paymentRaw(b, "cancelled", "pay_fail_b"))
		c.expect(pid, books{Paid: 3, Available: 27})

		// Before the order exists, then after. Several rounds, as a race
		// is a matter of timing.
		for round := range 20 {
			next := c.lastOrderID() + 1
			key := fmt.Sprintf("pay_early_burst_%d", round)
			deliver(key, next, "success", "202 "+pendingRaw(next))
			h := c.mustHold(pid, 1)
			want(t, "order", c.order(h), http.StatusCreated, orderRaw(next, h, pid, 1, "10.00", "paid"))
			deliver(key, next, "success", "200 "+paymentRaw(next, "paid", key))
		}
		c.expect(pid, books{Paid: 23, Available: 7})
	})
}

// TestWebhookKeyReused: a key delivered again with another payload is
// refused and changes nothing, whether it was applied or is pending.
func TestWebhookKeyReused(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect, withWebhookSecret(webhookSecret))
		pid := c.createProduct(10)
		a, b := c.buy(pid, 2), c.buy(pid, 1)
		first := c.webhook("pay_abc_123", a, "success")
		want(t, "success", first, http.StatusOK, paymentRaw(a, "paid", "pay_abc_123"))
		recorded, _ := c.payment("pay_abc_123")

		reused := messageRaw(keyReusedMessage)
		want(t, "same key, other status", c.webhook("pay_abc_123", a, "failed"), http.StatusConflict, reused)
		want(t, "same key, other order", c.webhook("pay_abc_123", b, "success"), http.StatusConflict, reused)
		want(t, "same key, other order and status", c.webhook("pay_abc_123", b, "cancelled"), http.StatusConflict, reused)
		if got := c.orderStatus(a); got != "paid" {
			t.Fatalf("order %d is %s; want paid", a, got)
		}
		if got := c.orderStatus(b); got != "pending_payment" {
			t.Fatalf("order %d is %s; want pending_payment", b, got)
		}
		if got, _ := c.payment("pay_abc_123"); got != recorded {
			t.Fatalf("payment row %+v; was %+v", got, recorded)
		}
		c.expect(pid, books{Awaiting: 1, Paid: 2, Available: 7})
		want(t, "first payload again", c.webhook("pay_abc_123", a, "success"), http.StatusOK, first.Raw)

		// A key recorded before its order exists.
		next := c.lastOrderID() + 1
		want(t, "early", c.webhook("pay_early", next, "failed"), http.StatusAccepted, pendingRaw(next))
		recorded, _ = c.payment("pay_early")
		want(t, "early key, other status", c.webhook("pay_early", next, "success"), http.StatusConflict, reused)
		want(t, "early key, other order", c.webhook("pay_early", b, "failed"), http.StatusConflict, reused)
		if got, _ := c.payment("pay_early"); got != recorded {
			t.Fatalf("payment row %+v; was %+v", got, recorded)
		}
		if got := c.orderStatus(b); got != "pending_payment" {
			t.Fatalf("order %d is %s; want pending_payment", b, got)
		}
		h := c.mustHold(pid, 3)
		want(t, "order of the early failure", c.order(h), http.StatusCreated, orderRaw(next, h, pid, 3, "30.00", "cancelled"))
		c.expect(pid, books{Awaiting: 1, Paid: 2, Available: 7})
	})
}

// TestWebhookSignature: with a secret, an unsigned or badly signed webhook
// is refused before anything is read or recorded.
func TestWebhookSignature(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect, withWebhookSecret(webhookSecret))
		pid := c.createProduct(5)
		a := c.buy(pid, 2)
		next := c.lastOrderID() + 1

		invalid := messageRaw("Invalid signature")
		for _, target := range []struct {
			key     string
			orderID int64
		}{{"pay_sig", a}, {"pay_sig_early", next}} {
			body := webhookBody(target.key, target.orderID, "success")
			good := httpapi.SignWebhook(webhookSecret, []byte(body))
			sum := sha256.Sum256([]byte(body))
			for _, bad := range []struct {
				name   string
				header []string
			}{
				{"unsigned", nil},
				{"empty signature", []string{"X-Signature", ""}},
				{"hex without sha256=", []string{"X-Signature", strings.TrimPrefix(good, "sha256=")}},
				{"other secret", []string{"X-Signature", httpapi.SignWebhook("not-the-secret", []byte(body))}},
				{"signature of another body", []string{"X-Signature", httpapi.SignWebhook(webhookSecret, []byte(webhookBody(target.key, target.orderID, "failed")))}},
				{"truncated", []string{"X-Signature", good[:len(good)-2]}},
				{"plain SHA-256 of the body", []string{"X-Signature", "sha256=" + hex.EncodeToString(sum[:])}},
				{"signature in another header", []string{"X-Hub-Signature-256", good}},
			} {
				r := c.do(http.MethodPost, "/api/payments/webhook", body, bad.header...)
				want(t, target.key+": "+bad.name, r, http.StatusUnauthorized, invalid)
			}
			// The signature covers the raw body: a byte more, and it fails.
			want(t, target.key+": body changed after signing",
				c.do(http.MethodPost, "/api/payments/webhook", body+" ", "X-Signature", good), http.StatusUnauthorized, invalid)
			// A bad body is not even read without a good signature.
			want(t, target.key+": unsigned invalid body",
				c.do(http.MethodPost, "/api/payments/webhook", `{"idempotency_key":"","order_id":0`), http.StatusUnauthorized, invalid)
			c.noPayment(target.key)
		}
		if got := c.orderStatus(a); got != "pending_payment" {
			t.Fatalf("order %d is %s after refused webhooks; want pending_payment", a, got)
		}
		c.expect(pid, books{Awaiting: 2, Available: 3})

		// Nothing was recorded: the same keys, correctly signed, are new.
		want(t, "signed", c.webhook("pay_sig", a, "success"), http.StatusOK, paymentRaw(a, "paid", "pay_sig"))
		c.expect(pid, books{Paid: 2, Available: 3})
		// The refused early webhook was not kept for the order either.
		h := c.mustHold(pid, 1)
		want(t, "order after a refused early webhook", c.order(h), http.StatusCreated,
			orderRaw(next, h, pid, 1, "10.00", "pending_payment"))
		want(t, "signed early key", c.webhook("pay_sig_early", next, "success"), http.StatusOK, paymentRaw(next, "paid", "pay_sig_early"))
		c.expect(pid, books{Paid: 3, Available: 2})

		// A signed body is taken as sent, spacing and all; a signed
		// invalid body is validated.
		b := c.buy(pid, 1)
		spaced := fmt.Sprintf("{ \"order_id\" : %d ,\n  \"status\": \"failed\", \"idempotency_key\": \"pay_spaced\" }", b)
		want(t, "signed spaced body", c.signedWebhook(spaced), http.StatusOK, paymentRaw(b, "cancelled", "pay_spaced"))
		if r := c.signedWebhook(`{"idempotency_key":"","order_id":0,"status":"paid"}`); r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("signed invalid body = %d %s; want 422", r.Status, r.Raw)
		}
		c.expect(pid, books{Paid: 3, Available: 2})
	})
}

// TestFailureAndLateSuccess: a failure releases the stock; a success that
// comes after it takes the units again while they are there, and is a
// refund otherwise; a failure after a success changes nothing.
func TestFailureAndLateSuccess(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect, withWebhookSecret(webhookSecret))

		pid := c.createProduct(2)
		a := c.buy(pid, 2)
		c.expect(pid, books{Awaiting: 2})
		want(t, "failed", c.webhook("a-failed", a, "failed"), http.StatusOK, paymentRaw(a, "cancelled", "a-failed"))
		if got := c.orderStatus(a); got != "cancelled" {
			t.Fatalf("order %d is %s after a failure; want cancelled", a, got)
		}
		if o := c.dbOrder(a); o.CancelReason != flashsale.CancelledByWebhook {
			t.Fatalf("order %d cancel reason %q; want webhook", a, o.CancelReason)
		}
		c.expect(pid, books{Available: 2})
		want(t, "late success", c.webhook("a-success", a, "success"), http.StatusOK, paymentRaw(a, "paid", "a-success"))
		if got := c.orderStatus(a); got != "paid" {
			t.Fatalf("order %d is %s after a late success; want paid", a, got)
		}
		c.expect(pid, books{Paid: 2})
		want(t, "failure after success", c.webhook("a-failed-2", a, "failed"), http.StatusOK, paymentRaw(a, "paid", "a-failed-2"))
		want(t, "cancel after success", c.webhook("a-cancelled", a, "cancelled"), http.StatusOK, paymentRaw(a, "paid", "a-cancelled"))
		c.expect(pid, books{Paid: 2})

		// Order B's units are sold while it is cancelled.
		pid = c.createProduct(2)
		b := c.buy(pid, 2)
		want(t, "cancelled", c.webhook("b-cancelled", b, "cancelled"), http.StatusOK, paymentRaw(b, "cancelled", "b-cancelled"))
		c.expect(pid, books{Available: 2})
		other := c.mustHold(pid, 2)
		want(t, "late success, units gone", c.webhook("b-success", b, "success"), http.StatusOK,
			paymentRaw(b, "refund_required", "b-success"))
		if got := c.orderStatus(b); got != "refund_required" {
			t.Fatalf("order %d is %s; want refund_required", b, got)
		}
		c.expect(pid, books{Held: 2})
		o := c.mustOrder(other)
		want(t, "the other buyer pays", c.webhook("o-success", o, "success"), http.StatusOK, paymentRaw(o, "paid", "o-success"))
		want(t, "failure for a refund", c.webhook("b-failed", b, "failed"), http.StatusOK, paymentRaw(b, "refund_required", "b-failed"))
		want(t, "success for a refund", c.webhook("b-success-2", b, "success"), http.StatusOK,
			paymentRaw(b, "refund_required", "b-success-2"))
		c.expect(pid, books{Paid: 2})

		// At the boundary: the late success of an order of 2 of 3 units
		// needs all of its units.
		for _, tc := range []struct {
			name   string
			other  int64 // units held by another buyer after the failure
			result string
			books  books
		}{
			{"short", 2, "refund_required", books{Held: 2, Available: 1}}, // one unit left for two
			{"exact", 1, "paid", books{Held: 1, Paid: 2}},                 // two units left for two
		} {
			pid = c.createProduct(3)
			o := c.buy(pid, 2)
			want(t, tc.name+" failed", c.webhook(tc.name+"-failed", o, "failed"), http.StatusOK, paymentRaw(o, "cancelled", tc.name+"-failed"))
			c.mustHold(pid, tc.other)
			want(t, tc.name+" late success", c.webhook(tc.name+"-success", o, "success"), http.StatusOK,
				paymentRaw(o, tc.result, tc.name+"-success"))
			c.expect(pid, tc.books)
		}
	})
}

// TestOrderFromUsedHoldConcurrently: twenty orders for one hold at once
// make one order; the others are told which.
func TestOrderFromUsedHoldConcurrently(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect, withWebhookSecret(webhookSecret))
		pid := c.createProduct(10)
		for round, withKeys := range []bool{false, true} {
			h := c.mustHold(pid, 3)
			answers := make([]response, 20)
			parallel(len(answers), func(i int) {
				if withKeys {
					answers[i] = c.order(h, "Idempotency-Key", fmt.Sprintf("round-%d-buyer-%d", round, i))
				} else {
					answers[i] = c.order(h)
				}
			})
			var created []response
			for _, r := range answers {
				if r.Status == http.StatusCreated {
					created = append(created, r)
				}
			}
			if len(created) != 1 {
				t.Fatalf("round %d: %d orders created from one hold; want 1", round, len(created))
			}
			id := num(created[0].Body["order_id"])
			want(t, "the order", created[0], http.StatusCreated, orderRaw(id, h, pid, 3, "30.00", "pending_payment"))
			for _, r := range answers {
				if r.Status != http.StatusCreated {
					want(t, "the others", r, http.StatusConflict, holdUsedRaw(id))
				}
			}
			want(t, "one more", c.order(h), http.StatusConflict, holdUsedRaw(id))
		}
		c.expect(pid, books{Awaiting: 6, Available: 4})
	})
}

// TestPaymentWindow: an order still unpaid at the end of its payment
// window is cancelled and its units released; a success after that takes
// them again if it can, and is a refund if not. A paid order stays paid.
func TestPaymentWindow(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect, withPaymentTTL(time.Second), withWebhookSecret(webhookSecret))
		pid := c.createProduct(5)
		holdA := c.mustHold(pid, 3)
		a := c.mustOrder(holdA)
		b := c.buy(pid, 1)
		paid := c.buy(pid, 1)
		want(t, "pay in time", c.webhook("pay-in-time", paid, "success"), http.StatusOK, paymentRaw(paid, "paid", "pay-in-time"))
		rowA := c.dbOrder(a)
		if w := rowA.ExpiresAt.Sub(rowA.CreatedAt); w < time.Second || w > 2*time.Second {
			t.Fatalf("payment window %v; want 1s, rounded up to the second", w)
		}
		// Not before its time. (Judged only while there is time left to
		// judge it, so that a slow machine does not fail the test.)
		if time.Until(rowA.ExpiresAt) > 500*time.Millisecond {
			c.expect(pid, books{Awaiting: 4, Paid: 1})
		}
		if r := c.getOrder(a); time.Now().Before(rowA.ExpiresAt) && r.Body["status"] != "pending_payment" {
			t.Fatalf("order %d before the end of its window: %s", a, r.Raw)
		}

		end := c.dbOrder(b).ExpiresAt
		if rowA.ExpiresAt.After(end) {
			end = rowA.ExpiresAt
		}
		time.Sleep(time.Until(end))
		// From the end of its window on, the order is cancelled and its
		// units free, written or not.
		want(t, "GET at the end of the window", c.getOrder(a), http.StatusOK, orderRaw(a, holdA, pid, 3, "30.00", "cancelled"))
		if got := c.available(pid); got != 4 {
			t.Fatalf("available %d at the end of the window; want 4", got)
		}
		actorstest.Eventually(t, 2*time.Second, func() string {
			if sa, sb := c.dbOrder(a).Status, c.dbOrder(b).Status; sa != flashsale.OrderCancelled || sb != flashsale.OrderCancelled {
				return fmt.Sprintf("cancellations not written: orders %s and %s", sa, sb)
			}
			return ""
		})
		for _, id := range []int64{a, b} {
			if o := c.dbOrder(id); o.CancelReason != flashsale.CancelledByPaymentWindow {
				t.Fatalf("order %d cancel reason %q; want payment_window", id, o.CancelReason)
			}
		}
		if got := c.orderStatus(paid); got != "paid" {
			t.Fatalf("paid order %d is %s after its window; want paid", paid, got)
		}
		c.expect(pid, books{Paid: 1, Available: 4})
		want(t, "failure after the window", c.webhook("b-failed", b, "failed"), http.StatusOK, paymentRaw(b, "cancelled", "b-failed"))
		c.expect(pid, books{Paid: 1, Available: 4})

		want(t, "late success", c.webhook("a-late", a, "success"), http.StatusOK, paymentRaw(a, "paid", "a-late"))
		c.expect(pid, books{Paid: 4, Available: 1})
		c.mustHold(pid, 1)
		want(t, "late success, units gone", c.webhook("b-late", b, "success"), http.StatusOK, paymentRaw(b, "refund_required", "b-late"))
		c.expect(pid, books{Held: 1, Paid: 4})
	})
}

// TestConcurrentSuccessAndFailure: a success and a failure for one order,
// under different keys, sent at once: each is applied once, and the order
// ends paid whichever came first, with the stock exactly accounted for.
func TestConcurrentSuccessAndFailure(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect, withWebhookSecret(webhookSecret))
		const rounds = 20
		qty := func(i int) int64 { return int64(i%3 + 1) }
		var stock int64
		for i := range rounds + 2 {
			stock += qty(i)
		}
		// Exactly the units ordered: a success after a failure can only
		// take back the units that failure released.
		pid := c.createProduct(int(stock))
		orders := make([]int64, rounds+2)
		for i := range orders {
			orders[i] = c.buy(pid, qty(i))
		}
		c.expect(pid, books{Awaiting: stock})

		okKey := func(o int64) string { return fmt.Sprintf("ok-%d", o) }
		failKey := func(o int64) string { return fmt.Sprintf("fail-%d", o) }

		// Both orders of arrival, one after the other first.
		x, y := orders[rounds], orders[rounds+1]
		want(t, "failure first", c.webhook(failKey(x), x, "failed"), http.StatusOK, paymentRaw(x, "cancelled", failKey(x)))
		want(t, "then success", c.webhook(okKey(x), x, "success"), http.StatusOK, paymentRaw(x, "paid", okKey(x)))
		want(t, "success first", c.webhook(okKey(y), y, "success"), http.StatusOK, paymentRaw(y, "paid", okKey(y)))
		want(t, "then failure", c.webhook(failKey(y), y, "failed"), http.StatusOK, paymentRaw(y, "paid", failKey(y)))

		// Then all rounds at once.
		success, failure := make([]response, rounds), make([]response, rounds)
		parallel(2*rounds, func(i int) {
			o := orders[i/2]
			if i%2 == 0 {
				success[i/2] = c.webhook(okKey(o), o, "success")
			} else {
				failure[i/2] = c.webhook(failKey(o), o, "failed")
			}
		})
		arrivals := map[string]int{}
		for i, o := range orders[:rounds] {
			want(t, fmt.Sprintf("round %d success", i), success[i], http.StatusOK, paymentRaw(o, "paid", okKey(o)))
			f := failure[i]
			status, _ := f.Body["status"].(string)
			if f.Status != http.StatusOK || (status != "paid" && status != "cancelled") {
				t.Fatalf("round %d failure = %d %s; want 200 paid or cancelled", i, f.Status, f.Raw)
			}
			want(t, fmt.Sprintf("round %d failure", i), f, http.StatusOK, paymentRaw(o, status, failKey(o)))
			for key, result := range map[string]string{okKey(o): "paid", failKey(o): status} {
				p, ok := c.payment(key)
				if !ok || p.Early || string(p.Result) != result || p.OrderID != o {
					t.Fatalf("payment %s recorded %+v, %v; want applied to order %d with result %s", key, p, ok, o, result)
				}
			}
			if got := c.orderStatus(o); got != "paid" {
				t.Fatalf("order %d is %s after a success and a failure; want paid", o, got)
			}
			if status == "paid" {
				arrivals["success first"]++
			} else {
				arrivals["failure first"]++
			}
		}
		t.Logf("arrival orders at once: %v", arrivals)
		c.expect(pid, books{Paid: stock})
		// Each, delivered again, is answered as the first time.
		for i, o := range orders[:rounds] {
			want(t, "success again", c.webhook(okKey(o), o, "success"), http.StatusOK, success[i].Raw)
			want(t, "failure again", c.webhook(failKey(o), o, "failed"), http.StatusOK, failure[i].Raw)
		}
		c.expect(pid, books{Paid: stock})
	})
}

// TestCheckoutValidation: what POST /api/orders and the webhook refuse,
// and that a refused webhook records nothing.
func TestCheckoutValidation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect) // no secret: unsigned webhooks are accepted
		holdID := c.mustHold(1, 1)
		pad := strings.Repeat("x", 65<<10)
		type testCase struct {
			name   string
			body   string
			status int
			fields []string // the fields a 422 names, and only those
		}
		check := func(path string, cases []testCase) {
			t.Helper()
			for _, tc := range cases {
				r := c.do(http.MethodPost, path, tc.body)
				if r.Status != tc.status {
					t.Errorf("%s %s: %d %s; want %d", path, tc.name, r.Status, r.Raw, tc.status)
					continue
				}
				if msg, _ := r.Body["message"].(string); msg == "" {
					t.Errorf("%s %s: no message in %s", path, tc.name, r.Raw)
				}
				if tc.status != http.StatusUnprocessableEntity {
					continue
				}
				errs, _ := r.Body["errors"].(map[string]any)
				var named []string
				for field, msgs := range errs {
					if list, _ := msgs.([]any); len(list) > 0 {
						named = append(named, field)
					}
				}
				slices.Sort(named)
				if !slices.Equal(named, tc.fields) {
					t.Errorf("%s %s: errors name %v; want %v (%s)", path, tc.name, named, tc.fields, r.Raw)
				}
			}
		}

		check("/api/orders", []testCase{
			{"missing hold_id", `{}`, 422, []string{"hold_id"}},
			{"null hold_id", `{"hold_id":null}`, 422, []string{"hold_id"}},
			{"hold_id as a decimal string", `{"hold_id":"` + itoa(holdID) + `.0"}`, 422, []string{"hold_id"}},
			{"hold_id as a word", `{"hold_id":"abc"}`, 422, []string{"hold_id"}},
			{"fractional hold_id", `{"hold_id":1.5}`, 422, []string{"hold_id"}},
			{"hold_id with an exponent", `{"hold_id":1e2}`, 422, []string{"hold_id"}},
			{"boolean hold_id", `{"hold_id":true}`, 422, []string{"hold_id"}},
			{"zero hold_id", `{"hold_id":0}`, 422, []string{"hold_id"}},
			{"negative hold_id", `{"hold_id":-1}`, 422, []string{"hold_id"}},
			{"huge hold_id", `{"hold_id":123456789012345678901234567890}`, 422, []string{"hold_id"}},
			{"malformed JSON", `{"hold_id":`, 400, nil},
			{"not an object", `[1]`, 400, nil},
			{"empty body", ``, 400, nil},
			{"trailing garbage", `{"hold_id":1} x`, 400, nil},
			{"body over 64 KiB", `{"hold_id":` + itoa(holdID) + `,"pad":"` + pad + `"}`, 413, nil},
			{"unknown hold", `{"hold_id":999999}`, 404, nil},
		})
		c.expect(1, books{Held: 1, Available: 49})

		o := c.mustOrder(holdID)
		long := strings.Repeat("k", 256)
		check("/api/payments/webhook", []testCase{
			{"missing key", `{"order_id":` + itoa(o) + `,"status":"success"}`, 422, []string{"idempotency_key"}},
			{"empty key", webhookBody("", o, "success"), 422, []string{"idempotency_key"}},
			{"null key", `{"idempotency_key":null,"order_id":` + itoa(o) + `,"status":"success"}`, 422, []string{"idempotency_key"}},
			{"numeric key", `{"idempotency_key":5,"order_id":` + itoa(o) + `,"status":"success"}`, 422, []string{"idempotency_key"}},
			{"key of 256 chars", webhookBody(long, o, "success"), 422, []string{"idempotency_key"}},
			{"key of 256 two-byte chars", webhookBody(strings.Repeat("é", 256), o, "success"), 422, []string{"idempotency_key"}},
			{"order_id 0", webhookBody("k-zero", 0, "success"), 422, []string{"order_id"}},
			{"order_id -1", webhookBody("k-negative", -1, "success"), 422, []string{"order_id"}},
			{`order_id "x"`, webhookBody("k-word", "x", "success"), 422, []string{"order_id"}},
			{"order_id as a decimal string", webhookBody("k-string", itoa(o)+".0", "success"), 422, []string{"order_id"}},
			{"fractional order_id", webhookBody("k-fraction", 1.5, "success"), 422, []string{"order_id"}},
			{"missing order_id", `{"idempotency_key":"k-missing","status":"success"}`, 422, []string{"order_id"}},
			{`status "paid"`, webhookBody("k-paid", o, "paid"), 422, []string{"status"}},
			{`status "SUCCESS"`, webhookBody("k-upper", o, "SUCCESS"), 422, []string{"status"}},
			{"empty status", webhookBody("k-empty-status", o, ""), 422, []string{"status"}},
			{"numeric status", `{"idempotency_key":"k-num-status","order_id":` + itoa(o) + `,"status":1}`, 422, []string{"status"}},
			{"missing status", `{"idempotency_key":"k-no-status","order_id":` + itoa(o) + `}`, 422, []string{"status"}},
			{"everything wrong", `{"idempotency_key":"","order_id":"x","status":"paid"}`, 422,
				[]string{"idempotency_key", "order_id", "status"}},
			{"malformed JSON", `{"idempotency_key":"k",`, 400, nil},
			{"not an object", `["k",1,"success"]`, 400, nil},
			{"empty body", ``, 400, nil},
			{"trailing garbage", webhookBody("k-trailing", o, "success") + ` {}`, 400, nil},
			{"body over 64 KiB", `{"idempotency_key":"k-big","order_id":` + itoa(o) + `,"status":"success","pad":"` + pad + `"}`, 413, nil},
		})
		for _, key := range []string{"k-zero", "k-negative", "k-word", "k-string", "k-fraction", "k-missing", "k-paid",
			"k-upper", "k-empty-status", "k-num-status", "k-no-status", "k", "k-trailing", "k-big", long} {
			c.noPayment(key)
		}
		if got := c.orderStatus(o); got != "pending_payment" {
			t.Fatalf("order %d is %s after refused webhooks; want pending_payment", o, got)
		}
		c.expect(1, books{Awaiting: 1, Available: 49})

		// Keys of exactly 255 characters are accepted, kept and found.
		for i, key := range []string{strings.Repeat("k", 255), strings.Repeat("é", 255)} {
			target := o + 10 + int64(i) // no such order yet, its id reserved
			want(t, fmt.Sprintf("key of 255 chars (%d bytes)", len(key)), c.webhook(key, target, "success"),
				http.StatusAccepted, pendingRaw(target))
			if p, ok := c.payment(key); !ok || p.Key != key || !p.Early {
				t.Fatalf("key of %d bytes recorded as %+v, %v", len(key), p, ok)
			}
			want(t, "again", c.webhook(key, target, "success"), http.StatusAccepted, pendingRaw(target))
		}
		// Without a secret, an unsigned webhook is taken.
		want(t, "unsigned, no secret", c.webhook("pay_abc_123", o, "success"), http.StatusOK, paymentRaw(o, "paid", "pay_abc_123"))
		c.expect(1, books{Paid: 1, Available: 49})
	})
}

// TestOrderIDsAreConsecutive: each new order's id is the previous one plus
// one, across products, whatever failed in between.
func TestOrderIDsAreConsecutive(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect, withWebhookSecret(webhookSecret))
		other := c.createProduct(10)
		products := []int64{1, other, 1, other, 1}
		holds := make([]int64, len(products))
		for i, pid := range products {
			holds[i] = c.mustHold(pid, 1)
		}
		first := c.mustOrder(holds[0])
		for i := 1; i < len(holds); i++ {
			// Refused orders, retries and early webhooks take no id.
			if r := c.order(holds[i-1]); r.Status != http.StatusConflict {
				t.Fatalf("order from a used hold = %d %s", r.Status, r.Raw)
			}
			if r := c.order(999999); r.Status != http.StatusNotFound {
				t.Fatalf("order from an unknown hold = %d %s", r.Status, r.Raw)
			}
			c.webhook(fmt.Sprintf("early-%d", i), first+int64(i), "success")
			key := fmt.Sprintf("order-%d", i)
			r := c.order(holds[i], "Idempotency-Key", key)
			if r.Status != http.StatusCreated || num(r.Body["order_id"]) != first+int64(i) {
				t.Fatalf("order %d = %d %s; want 201 with order_id %d", i+1, r.Status, r.Raw, first+int64(i))
			}
			if r.Body["status"] != "paid" {
				t.Fatalf("order %d = %s; want paid by its early webhook", i+1, r.Raw)
			}
			want(t, "retry", c.order(holds[i], "Idempotency-Key", key), http.StatusCreated, r.Raw)
		}
		c.expect(1, books{Awaiting: 1, Paid: 2, Available: 47})
		c.expect(other, books{Paid: 2, Available: 8})
	})
}

// TestStrayWebhookIsRefused: a webhook for an order id that no server has
// reserved yet cannot be racing its order's creation: it is refused with
// 404, recorded nowhere, and the order that later gets that id is not
// paid by it.
func TestStrayWebhookIsRefused(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect)
		notFound := messageRaw("Order not found")
		want(t, "stray webhook before any order", c.webhook("stray-1", 1, "success"), http.StatusNotFound, notFound)
		c.noPayment("stray-1")

		o := c.buy(1, 1)
		if o != 1 {
			t.Fatalf("the first order is %d; want 1", o)
		}
		if got := c.orderStatus(o); got != "pending_payment" {
			t.Fatalf("order 1 after a stray webhook is %s; want pending_payment", got)
		}
		// The first order reserved a block of ids (1000 by default): one
		// far past it is still refused, one inside it is kept for a while.
		want(t, "webhook far past any id", c.webhook("stray-far", 99999, "success"), http.StatusNotFound, notFound)
		c.noPayment("stray-far")
		want(t, "webhook inside the block", c.webhook("early-in-block", 1000, "success"), http.StatusAccepted, pendingRaw(1000))
		want(t, "webhook just past the block", c.webhook("stray-1001", 1001, "success"), http.StatusNotFound, notFound)
		c.noPayment("stray-1001")
		// The key of a refused webhook is free: sent again for the real
		// order, it pays it.
		want(t, "the stray key for a real order", c.webhook("stray-1", o, "success"), http.StatusOK, paymentRaw(o, "paid", "stray-1"))
		c.expect(1, books{Paid: 1, Available: 49})
	})
}

// TestEarlyWebhookTTL: a webhook that came before its order pays the order
// created within the early webhook TTL (a minute by default), and not one
// created later: that one is created awaiting payment and the webhook is
// dropped, even though no cleaner ran.
func TestEarlyWebhookTTL(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		var ahead atomic.Int64 // how far the actors' clock is ahead of the wall clock
		advance := func(d time.Duration) { ahead.Add(int64(d)) }
		clock := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
		c := newCheckout(t, dialect, withClock(clock), withPaymentTTL(time.Hour))
		c.DB.SetEarlyWebhookTTL(time.Minute)
		c.buy(1, 1) // reserves a block of order ids

		next := c.lastOrderID() + 1
		want(t, "early webhook", c.webhook("pay-in-time", next, "success"), http.StatusAccepted, pendingRaw(next))
		advance(59 * time.Second)
		h := c.mustHold(1, 2)
		want(t, "order 59s after its webhook", c.order(h), http.StatusCreated, orderRaw(next, h, 1, 2, "99.98", "paid"))

		next = c.lastOrderID() + 1
		want(t, "early webhook", c.webhook("pay-too-early", next, "success"), http.StatusAccepted, pendingRaw(next))
		advance(61 * time.Second)
		h = c.mustHold(1, 3)
		want(t, "order 61s after its webhook", c.order(h), http.StatusCreated, orderRaw(next, h, 1, 3, "149.97", "pending_payment"))
		c.noPayment("pay-too-early")
		if got := c.orderStatus(next); got != "pending_payment" {
			t.Fatalf("order %d is %s; want pending_payment", next, got)
		}
		// Its key is free: the provider's redelivery now pays the order.
		want(t, "redelivery", c.webhook("pay-too-early", next, "success"), http.StatusOK, paymentRaw(next, "paid", "pay-too-early"))
		c.expect(1, books{Awaiting: 1, Paid: 5, Available: 44})
	})
}
