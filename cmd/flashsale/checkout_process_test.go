package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flashsale"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"flashsale/actors/actorstest"
	"flashsale/httpapi"
	"flashsale/store"
	"flashsale/store/storetest"
)

const webhookSecret = "e2e-webhook-secret"

// webhook is one payment the provider reports, under its own key. Every
// delivery sends the same signed body.
type webhook struct {
	key     string
	orderID int64
	status  string // success or failed
	body    []byte
	answer  []byte // the body of its first 200, nil while none came
}

// newWebhook makes a webhook. Its body has exactly the three fields of the
// answer to it, httpapi.PaymentJSON.
func newWebhook(key string, orderID int64, status string) *webhook {
	body, err := json.Marshal(httpapi.PaymentJSON{IdempotencyKey: key, OrderID: orderID, Status: status})
	if err != nil {
		panic(err)
	}
	return &webhook{key: key, orderID: orderID, status: status, body: body}
}

// wantAnswer is the answer the webhook must get: its order's status right
// after it. Stock is ample, so a success pays even a cancelled order; a
// failure is only ever sent to an order awaiting payment.
func (w *webhook) wantAnswer() httpapi.PaymentJSON {
	status := "paid"
	if w.status == "failed" {
		status = "cancelled"
	}
	return httpapi.PaymentJSON{IdempotencyKey: w.key, OrderID: w.orderID, Status: status}
}

// checkAnswer returns what is wrong with a 200 answer to w, or "".
func (w *webhook) checkAnswer(raw []byte) string {
	var got httpapi.PaymentJSON
	if err := json.Unmarshal(raw, &got); err != nil {
		return fmt.Sprintf("webhook %s answered 200 %s: %v", w.body, trim(raw), err)
	}
	if want := w.wantAnswer(); got != want {
		return fmt.Sprintf("webhook %s answered 200 %s; want %+v", w.body, trim(raw), want)
	}
	return ""
}

// trim is an answer body as a failure message shows it.
func trim(raw []byte) string { return string(bytes.TrimSpace(raw)) }

// postWebhook delivers a raw webhook body signed with secret.
func postWebhook(c *http.Client, base string, body []byte, secret string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/api/payments/webhook", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature", httpapi.SignWebhook(secret, body))
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes(), err
}

// knownOrder is an order the client knows: acknowledged with 201, or
// found after a restart to be what an unanswered request made.
type knownOrder struct {
	order httpapi.OrderJSON // as first shown, awaiting payment
	hooks []*webhook
}

// possible is the set of statuses the order may have, given the webhooks
// acknowledged and those sent without an answer (applied or not).
func (o *knownOrder) possible() []string {
	var successAcked, failedAcked, successDoubt, failedDoubt bool
	for _, w := range o.hooks {
		switch {
		case w.status == "success" && w.answer != nil:
			successAcked = true
		case w.status == "success":
			successDoubt = true
		case w.answer != nil:
			failedAcked = true
		default:
			failedDoubt = true
		}
	}
	if successAcked {
		return []string{"paid"}
	}
	s := []string{"pending_payment"}
	if failedAcked {
		s = []string{"cancelled"}
	}
	if failedDoubt {
		s = append(s, "cancelled")
	}
	if successDoubt {
		s = append(s, "paid")
	}
	return s
}

// checkoutLedger is what the buyers and the payment provider were told,
// over every round, and what they asked without hearing back.
type checkoutLedger struct {
	mu          sync.Mutex
	holds       map[int64]httpapi.HoldJSON // acknowledged holds
	orderOf     map[int64]int64            // hold id → the known order it became
	orders      map[int64]*knownOrder      // by order id
	doubtOrders []int64                    // holds whose order request got no answer, until resolved
	doubtHolds  int                        // hold requests that got no answer, over every round
	problems    []string                   // wrong answers, reported by the test goroutine

	// Of the current round: answers by request kind and status, and
	// requests without an answer.
	statuses   map[string]map[int]int
	unanswered int
}

func newCheckoutLedger() *checkoutLedger {
	return &checkoutLedger{holds: map[int64]httpapi.HoldJSON{}, orderOf: map[int64]int64{}, orders: map[int64]*knownOrder{}}
}

func (l *checkoutLedger) problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

// report fails the test with the problems found so far.
func (l *checkoutLedger) report(t *testing.T, when string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.problems) > 0 {
		t.Errorf("%s: %d problems, e.g.:\n%s", when, len(l.problems), strings.Join(l.problems[:min(len(l.problems), 8)], "\n"))
	}
	l.problems = nil
}

// answered tallies an answer and reports whether the request was carried
// out for certain: no answer, or a 503, leaves it in doubt.
func (l *checkoutLedger) answered(kind string, status int, err error) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.unanswered++
		return false
	}
	if l.statuses[kind] == nil {
		l.statuses[kind] = map[int]int{}
	}
	l.statuses[kind][status]++
	return status != http.StatusServiceUnavailable
}

// load runs buyers until stop closes; each is bounded in time and count.
func (l *checkoutLedger) load(c *http.Client, base string, productID int64, round, workers int, stop <-chan struct{}) {
	l.mu.Lock()
	l.statuses, l.unanswered = map[string]map[int]int{}, 0
	l.mu.Unlock()
	runWorkers(workers, 2000, time.Now().Add(30*time.Second), stop, 5*time.Millisecond, func(w, n int) bool {
		return l.checkout(c, base, productID, fmt.Sprintf("pay-r%d-w%d-%d", round, w, n))
	})
}

// checkout is one buyer: a hold, its order, and the payment provider's
// webhooks for it. It records every acknowledged result and reports false
// when a request went unanswered.
func (l *checkoutLedger) checkout(c *http.Client, base string, productID int64, keyPrefix string) bool {
	qty := 1 + rand.Int64N(3)
	status, raw, err := call(c, http.MethodPost, base+"/api/holds", "", map[string]int64{"product_id": productID, "qty": qty})
	if !l.answered("hold", status, err) {
		l.mu.Lock()
		l.doubtHolds++
		l.mu.Unlock()
		return false
	}
	var h httpapi.HoldJSON
	if status != http.StatusCreated {
		l.problem("POST /api/holds qty %d = %d %s; want 201", qty, status, trim(raw))
		return true
	}
	if json.Unmarshal(raw, &h) != nil || h.HoldID < 1 || h.ProductID != productID || h.Qty != qty || h.Status != "active" {
		l.problem("POST /api/holds qty %d answered 201 %s", qty, trim(raw))
		return true
	}
	l.mu.Lock()
	if _, dup := l.holds[h.HoldID]; dup {
		l.problems = append(l.problems, fmt.Sprintf("hold id %d acknowledged twice", h.HoldID))
	}
	l.holds[h.HoldID] = h
	l.mu.Unlock()

	status, raw, err = call(c, http.MethodPost, base+"/api/orders", "", map[string]int64{"hold_id": h.HoldID})
	if !l.answered("order", status, err) {
		l.mu.Lock()
		l.doubtOrders = append(l.doubtOrders, h.HoldID)
		l.mu.Unlock()
		return false
	}
	if status != http.StatusCreated {
		l.problem("POST /api/orders for hold %d = %d %s; want 201", h.HoldID, status, trim(raw))
		return true
	}
	var o httpapi.OrderJSON
	_ = json.Unmarshal(raw, &o)
	want := httpapi.OrderJSON{OrderID: o.OrderID, HoldID: h.HoldID, ProductID: productID, Qty: qty,
		Amount: fmt.Sprintf("%d.00", qty), Status: "pending_payment"}
	if o.OrderID < 1 || o != want {
		l.problem("POST /api/orders for hold %+v answered 201 %s", h, trim(raw))
		return true
	}
	order := &knownOrder{order: o}
	l.mu.Lock()
	if _, dup := l.orders[o.OrderID]; dup {
		l.problems = append(l.problems, fmt.Sprintf("order id %d acknowledged twice", o.OrderID))
	}
	l.orders[o.OrderID] = order
	l.orderOf[h.HoldID] = o.OrderID
	l.mu.Unlock()

	var plan []string
	switch r := rand.IntN(20); {
	case r < 2: // abandoned: the order awaits its payment
	case r < 4:
		plan = []string{"failed"}
	case r < 6: // a late success takes the units again
		plan = []string{"failed", "success"}
	default:
		plan = []string{"success"}
	}
	for i, s := range plan {
		w := newWebhook(fmt.Sprintf("%s-%d", keyPrefix, i), o.OrderID, s)
		l.mu.Lock()
		order.hooks = append(order.hooks, w)
		l.mu.Unlock()
		if !l.deliver(c, base, w) {
			return false
		}
	}
	return true
}

// deliver sends a webhook once, or twice in a row, or twice at once, and
// reports whether any delivery was acknowledged. Every 200 must carry the
// same body.
func (l *checkoutLedger) deliver(c *http.Client, base string, w *webhook) bool {
	type result struct {
		status int
		raw    []byte
		err    error
	}
	copies, together := 1, false
	switch rand.IntN(8) {
	case 0:
		copies = 2
	case 1:
		copies, together = 2, true
	}
	results := make([]result, copies)
	send := func(i int) {
		s, raw, err := postWebhook(c, base, w.body, webhookSecret)
		results[i] = result{s, raw, err}
	}
	if together {
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() { send(i) })
		}
		wg.Wait()
	} else {
		for i := range results {
			send(i)
		}
	}
	acked := false
	for _, r := range results {
		if !l.answered("webhook", r.status, r.err) {
			continue
		}
		if r.status != http.StatusOK {
			l.problem("webhook %s = %d %s; want 200", w.body, r.status, trim(r.raw))
			continue
		}
		if msg := w.checkAnswer(r.raw); msg != "" {
			l.problem("%s", msg)
		}
		l.mu.Lock()
		if w.answer == nil {
			w.answer = r.raw
		} else if !bytes.Equal(w.answer, r.raw) {
			l.problems = append(l.problems, fmt.Sprintf("webhook %s answered %s, and before %s", w.body, trim(r.raw), w.answer))
		}
		l.mu.Unlock()
		acked = true
	}
	return acked
}

// checkBooks checks the product's books in the database (see
// actorstest.CheckBooks) and requires them to agree with what the API
// serves. It returns the product as loaded.
func checkBooks(t *testing.T, when string, db *store.DB, productID int64, served httpapi.ProductJSON, stock int64) flashsale.ProductState {
	t.Helper()
	st := actorstest.CheckBooks(t, db, productID)
	p := st.Product
	if p.Stock != stock || served.Stock != stock {
		t.Errorf("%s: stock %d in the database, %d served; want %d", when, p.Stock, served.Stock, stock)
	}
	if taken := served.Stock - served.AvailableStock; taken != p.Taken() || served.AvailableStock < 0 || p.Paid < 0 {
		t.Errorf("%s: served %+v, %d units taken; the database has held %d + awaiting %d + paid %d = %d",
			when, served, taken, p.Held, p.AwaitingPayment, p.Paid, p.Taken())
	}
	return st
}

// verifyRestarted checks a freshly restarted server against everything
// acknowledged so far, then resolves what was left in doubt and checks
// the books exactly.
func (l *checkoutLedger) verifyRestarted(t *testing.T, c *http.Client, p *proc, db *store.DB, productID, stock int64) {
	t.Helper()
	st := checkBooks(t, "after restart", db, productID, getProduct(t, c, p, productID), stock)

	// Every known order is served as acknowledged, with a status that
	// agrees with its acknowledged webhooks.
	ids := slices.Sorted(maps.Keys(l.orders))
	served := make(map[int64]httpapi.OrderJSON, len(ids))
	each(ids, func(id int64) {
		known := l.orders[id]
		got, status, raw, err := getJSON[httpapi.OrderJSON](c, fmt.Sprintf("%s/api/orders/%d", p.base, id))
		want := known.order
		want.Status = got.Status
		if err != nil || status != http.StatusOK || got != want || !slices.Contains(known.possible(), got.Status) {
			l.problem("order %d: %d %s (err %v); acknowledged as %+v, so its status must be one of %v",
				id, status, trim(raw), err, known.order, known.possible())
			return
		}
		l.mu.Lock()
		served[id] = got
		l.mu.Unlock()
	})
	l.report(t, "orders after restart")

	// Paid units: at least the orders whose success was acknowledged;
	// exactly the orders served as paid, for only known orders ever got a
	// webhook.
	var ackedPaid, servedPaid int64
	for id, o := range l.orders {
		if slices.Equal(o.possible(), []string{"paid"}) {
			ackedPaid += o.order.Qty
		}
		if served[id].Status == "paid" {
			servedPaid += o.order.Qty
		}
	}
	if st.Product.Paid < ackedPaid || st.Product.Paid != servedPaid {
		t.Errorf("paid counter %d; acknowledged paid orders take %d units, orders served as paid %d",
			st.Product.Paid, ackedPaid, servedPaid)
	}
	pending := map[int64]flashsale.Order{}
	for _, o := range st.UnpaidOrders {
		pending[o.ID] = o
	}
	for id, o := range served {
		if row, inDB := pending[id]; (o.Status == "pending_payment") != inDB || (inDB && row.Qty != o.Qty) {
			l.problem("order %d served as %+v; among the database's pending orders: %v (%+v)", id, o, inDB, row)
		}
	}
	doubt := map[int64]bool{}
	for _, h := range l.doubtOrders {
		doubt[h] = true
	}
	for id, o := range pending {
		if _, known := l.orders[id]; !known && !doubt[o.HoldID] {
			l.problem("pending order %+v in the database: nobody asked for it", o)
		}
	}
	l.report(t, "pending orders after restart")

	// Every acknowledged hold is there as acknowledged: converted when it
	// became a known order, active when its order was never asked for.
	active := map[int64]flashsale.Hold{}
	for _, h := range st.ActiveHolds {
		active[h.ID] = h
	}
	holdIDs := slices.Sorted(maps.Keys(l.holds))
	each(holdIDs, func(id int64) {
		a := l.holds[id]
		got, status, raw, err := getJSON[httpapi.HoldJSON](c, fmt.Sprintf("%s/api/holds/%d", p.base, id))
		want := []string{"active"}
		switch {
		case l.orderOf[id] != 0:
			want = []string{"converted"}
		case doubt[id]:
			want = []string{"active", "converted"}
		}
		same := got.HoldID == a.HoldID && got.ProductID == a.ProductID && got.Qty == a.Qty && got.ExpiresAt == a.ExpiresAt
		_, isActive := active[id]
		if err != nil || status != http.StatusOK || !same || !slices.Contains(want, got.Status) || isActive != (got.Status == "active") {
			l.problem("hold %d: %d %s (err %v), active in the database: %v; acknowledged as %+v, want status %v",
				id, status, trim(raw), err, isActive, a, want)
		}
	})
	l.report(t, "holds after restart")
	if unknown := len(st.ActiveHolds) - countKnown(st.ActiveHolds, l.holds); unknown > l.doubtHolds {
		t.Errorf("%d active holds in the database were never acknowledged; only %d hold requests went unanswered",
			unknown, l.doubtHolds)
	}

	// Every acknowledged webhook is recorded: a redelivery gets the same
	// answer and changes nothing.
	var acked, doubtHooks []*webhook
	for _, id := range ids {
		for _, w := range l.orders[id].hooks {
			if w.answer != nil {
				acked = append(acked, w)
			} else {
				doubtHooks = append(doubtHooks, w)
			}
		}
	}
	each(acked, func(w *webhook) {
		status, raw, err := postWebhook(c, p.base, w.body, webhookSecret)
		if err != nil || status != http.StatusOK || !bytes.Equal(raw, w.answer) {
			l.problem("redelivered webhook %s: %d %s (err %v); acknowledged with %s", w.body, status, trim(raw), err, trim(w.answer))
		}
	})
	l.report(t, "redelivering acknowledged webhooks")
	// The restarted actor has forgotten their keys: each redelivery's
	// batch finds its key on commit and writes nothing of it, though the
	// product's version still moves (a fence, not a change).
	if again := actorstest.CheckBooks(t, db, productID); again.Product != st.Product || again.LastSeq != st.LastSeq ||
		len(again.ActiveHolds) != len(st.ActiveHolds) || len(again.UnpaidOrders) != len(st.UnpaidOrders) {
		t.Errorf("redelivering %d acknowledged webhooks changed the product from %+v (journal at %d, %d active holds, %d unpaid orders) "+
			"to %+v (journal at %d, %d active holds, %d unpaid orders)", len(acked),
			st.Product, st.LastSeq, len(st.ActiveHolds), len(st.UnpaidOrders),
			again.Product, again.LastSeq, len(again.ActiveHolds), len(again.UnpaidOrders))
	}
	if t.Failed() {
		return
	}

	l.resolve(t, c, p, db, doubtHooks)

	// Now every order is known and every webhook acknowledged: the books
	// must match them exactly.
	st = checkBooks(t, "after resolving", db, productID, getProduct(t, c, p, productID), stock)
	var paid int64
	wantPending := map[int64]bool{}
	for id, o := range l.orders {
		switch s := o.possible(); {
		case len(s) != 1:
			l.problem("order %d still in doubt: %v", id, s)
		case s[0] == "paid":
			paid += o.order.Qty
		case s[0] == "pending_payment":
			wantPending[id] = true
		}
	}
	gotPending := map[int64]bool{}
	for _, o := range st.UnpaidOrders {
		gotPending[o.ID] = true
	}
	if st.Product.Paid != paid || !maps.Equal(gotPending, wantPending) {
		t.Errorf("after resolving: paid %d, pending orders %v; the known orders make paid %d, pending %v",
			st.Product.Paid, slices.Sorted(maps.Keys(gotPending)), paid, slices.Sorted(maps.Keys(wantPending)))
	}
	// And every acknowledged hold is active exactly when it became no order.
	stillActive := map[int64]bool{}
	for _, h := range st.ActiveHolds {
		stillActive[h.ID] = true
	}
	for _, id := range holdIDs {
		if _, ordered := l.orderOf[id]; ordered == stillActive[id] {
			l.problem("hold %d: active %v, became order %d", id, stillActive[id], l.orderOf[id])
		}
	}
	l.report(t, "after resolving")
}

func countKnown(holds []flashsale.Hold, known map[int64]httpapi.HoldJSON) int {
	n := 0
	for _, h := range holds {
		if _, ok := known[h.ID]; ok {
			n++
		}
	}
	return n
}

// resolve settles what the kill left in doubt, on a restarted server: an
// order request without an answer is asked again (a new order, or "Hold
// already used" naming the one the first request made); a webhook without
// an answer is delivered again. Then some orders awaiting payment, from
// this process or an earlier one, are paid, after a webhook with a bad
// signature that must change nothing.
func (l *checkoutLedger) resolve(t *testing.T, c *http.Client, p *proc, db *store.DB, doubtHooks []*webhook) {
	t.Helper()
	var made, found, recorded int // orders made now, found made before; webhooks found recorded
	each(l.doubtOrders, func(holdID int64) {
		h := l.holds[holdID]
		status, raw, err := call(c, http.MethodPost, p.base+"/api/orders", "", map[string]int64{"hold_id": holdID})
		var got httpapi.OrderJSON
		switch {
		case err != nil:
			l.problem("POST /api/orders again for hold %d: %v", holdID, err)
			return
		case status == http.StatusCreated:
			_ = json.Unmarshal(raw, &got)
			l.mu.Lock()
			made++
			l.mu.Unlock()
		case status == http.StatusConflict:
			var used struct {
				Message string `json:"message"`
				OrderID int64  `json:"order_id"`
			}
			if json.Unmarshal(raw, &used) != nil || used.Message != "Hold already used" || used.OrderID < 1 {
				l.problem("POST /api/orders again for hold %d = 409 %s; want \"Hold already used\" with its order", holdID, trim(raw))
				return
			}
			status, raw, err = call(c, http.MethodGet, fmt.Sprintf("%s/api/orders/%d", p.base, used.OrderID), "", nil)
			if err != nil || status != http.StatusOK || json.Unmarshal(raw, &got) != nil {
				l.problem("hold %d became order %d, which is %d %s (err %v)", holdID, used.OrderID, status, trim(raw), err)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if row, err := db.OrderByHold(ctx, holdID); err != nil || row.ID != used.OrderID {
				l.problem("hold %d became order %d; the database has %+v (err %v)", holdID, used.OrderID, row, err)
			}
			l.mu.Lock()
			found++
			l.mu.Unlock()
		default:
			l.problem("POST /api/orders again for hold %d = %d %s; want 201 or 409", holdID, status, trim(raw))
			return
		}
		// No webhook was ever sent for it: it awaits payment.
		want := httpapi.OrderJSON{OrderID: got.OrderID, HoldID: holdID, ProductID: h.ProductID, Qty: h.Qty,
			Amount: fmt.Sprintf("%d.00", h.Qty), Status: "pending_payment"}
		l.mu.Lock()
		defer l.mu.Unlock()
		if got.OrderID < 1 || got != want {
			l.problems = append(l.problems, fmt.Sprintf("hold %+v: its order is %s; want %+v", h, trim(raw), want))
			return
		}
		if _, dup := l.orders[got.OrderID]; dup {
			l.problems = append(l.problems, fmt.Sprintf("hold %d became order %d, already known for another hold", holdID, got.OrderID))
			return
		}
		l.orders[got.OrderID] = &knownOrder{order: got}
		l.orderOf[holdID] = got.OrderID
	})
	l.doubtOrders = nil
	l.report(t, "resolving orders in doubt")

	each(doubtHooks, func(w *webhook) {
		// Recorded before the kill or not, but if so, whole and applied.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		switch pay, err := db.PaymentByKey(ctx, w.key); {
		case errors.Is(err, flashsale.ErrPaymentNotFound):
		case err != nil:
			l.problem("PaymentByKey(%s): %v", w.key, err)
		case pay.OrderID != w.orderID || string(pay.Status) != w.status || pay.Early || string(pay.Result) != w.wantAnswer().Status:
			l.problem("webhook %s without an answer is recorded as %+v", w.body, pay)
		default:
			l.mu.Lock()
			recorded++
			l.mu.Unlock()
		}
		l.deliverAgain(c, p.base, w, "delivered again")
	})
	l.report(t, "delivering webhooks in doubt")
	t.Logf("resolved %d orders in doubt: %d made before the kill, %d made now; %d webhooks in doubt, %d of them recorded before the kill",
		made+found, found, made, len(doubtHooks), recorded)

	var unpaid []*knownOrder
	for _, id := range slices.Sorted(maps.Keys(l.orders)) {
		if o := l.orders[id]; len(o.hooks) == 0 && rand.IntN(2) == 0 {
			unpaid = append(unpaid, o)
		}
	}
	if len(unpaid) > 0 {
		// A forged webhook is refused and records nothing: the order still
		// awaits payment, and its key stays free.
		o := unpaid[0]
		key := fmt.Sprintf("late-%d", o.order.OrderID)
		forged := newWebhook(key, o.order.OrderID, "failed")
		if status, raw, err := postWebhook(c, p.base, forged.body, "not-the-secret"); err != nil || status != http.StatusUnauthorized {
			t.Errorf("webhook %s with a wrong signature: %d %s (err %v); want 401", forged.body, status, trim(raw), err)
		}
		var got httpapi.OrderJSON
		mustCall(t, c, http.MethodGet, fmt.Sprintf("%s/api/orders/%d", p.base, o.order.OrderID), "", nil, http.StatusOK, &got)
		if got.Status != "pending_payment" {
			t.Errorf("after a forged failure, order %+v; want it still awaiting payment", got)
		}
		// Had the forged one been recorded, this would be a reused key: 409.
		o.hooks = append(o.hooks, newWebhook(key, o.order.OrderID, "success"))
		for _, o := range unpaid[1:] {
			o.hooks = append(o.hooks, newWebhook(fmt.Sprintf("late-%d", o.order.OrderID), o.order.OrderID, "success"))
		}
	}
	each(unpaid, func(o *knownOrder) {
		l.deliverAgain(c, p.base, o.hooks[len(o.hooks)-1], "for an order from before")
	})
	l.report(t, "paying orders awaiting payment")
}

// deliverAgain sends a webhook that must be answered 200 with its order's
// status, and records the answer; what says which webhook it is.
func (l *checkoutLedger) deliverAgain(c *http.Client, base string, w *webhook, what string) {
	status, raw, err := postWebhook(c, base, w.body, webhookSecret)
	if err != nil || status != http.StatusOK {
		l.problem("webhook %s %s: %d %s (err %v); want 200", w.body, what, status, trim(raw), err)
		return
	}
	if msg := w.checkAnswer(raw); msg != "" {
		l.problem("%s", msg)
	}
	l.mu.Lock()
	w.answer = raw
	l.mu.Unlock()
}

// TestSIGKILLDuringCheckoutLosesNoAcknowledgedOrderOrPayment kills the
// server during a stream of holds, orders and signed payment webhooks, a few
// times over on one database. After every restart each acknowledged hold,
// order and webhook must be there as acknowledged, and the product's books
// must add up against the database's rows.
func TestSIGKILLDuringCheckoutLosesNoAcknowledgedOrderOrPayment(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newClient(t)
		url := storetest.URL(t, dialect)
		args := serverArgs("serve", url, "--hold-ttl", "10m", "--payment-ttl", "10m",
			"--admin-token", adminToken, "--webhook-secret", webhookSecret)
		const rounds, workers, stock = 3, 32, 1_000_000
		var (
			productID int64
			db        *store.DB
			l         = newCheckoutLedger()
		)
		for round := 1; round <= rounds; round++ {
			p := startServer(t, fmt.Sprintf("server of round %d", round), args)
			if round == 1 {
				productID = createProduct(t, c, p, adminToken, "Checkout crash", stock).ID
			} else {
				l.verifyRestarted(t, c, p, db, productID, stock)
				if t.Failed() {
					t.FailNow()
				}
			}

			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				l.load(c, p.base, productID, round, workers, stop)
				close(done)
			}()
			delay := time.Duration(200+rand.IntN(400)) * time.Millisecond
			time.Sleep(delay)
			p.kill(t)
			close(stop)
			<-done
			t.Logf("round %d: SIGKILL after %v; answers %v; %d requests without an answer; %d holds and %d orders known",
				round, delay, l.statuses, l.unanswered, len(l.holds), len(l.orders))
			l.report(t, fmt.Sprintf("round %d", round))
			if db == nil {
				db = storetest.OpenURL(t, url)
			}
			if t.Failed() {
				t.FailNow()
			}
		}

		p := startServer(t, "server after the last round", args)
		l.verifyRestarted(t, c, p, db, productID, stock)
		c.CloseIdleConnections()
		p.terminate(t)

		// The run must have covered what it claims to check.
		var success, failed int
		for _, o := range l.orders {
			for _, w := range o.hooks {
				switch {
				case !strings.HasPrefix(w.key, "pay-"):
				case w.status == "success":
					success++
				default:
					failed++
				}
			}
		}
		if len(l.orders) == 0 || success == 0 || failed == 0 {
			t.Errorf("%d orders, %d successful and %d failed payments from the load: the test proved little",
				len(l.orders), success, failed)
		}
		assertCheckPasses(t, url)
	})
}
