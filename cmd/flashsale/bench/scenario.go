package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flashsale/httpapi"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"time"
)

// A Scenario is one kind of load: the products it creates, what one
// iteration of a worker does, and what the books must show besides the
// units every run checks. Adding a scenario is adding an entry to
// scenarios.
type Scenario struct {
	Name string
	// plan is what a run creates before the load starts.
	plan func(Config) plan
	// step is one iteration of a worker, on its connection.
	step func(r *run, t turn)
	// check adds the scenario's own problems to the books; nil has none.
	check func(r *run, ctx context.Context, books *Books) []string
	// okNote adds to the line of books that balance; nil adds nothing.
	okNote func(Books) string
}

// plan is what a run creates: products of a stock (none for a scenario
// that changes no stock: nothing to check), and how many buyers try (0:
// as many as the duration allows).
type plan struct {
	products int
	stock    int64
	buyers   int64
}

// Operations a run measures, each with its own latencies and statuses, in
// the order the summary lists them.
const (
	opHold    = "hold"    // POST /api/holds
	opOrder   = "order"   // POST /api/orders
	opWebhook = "webhook" // POST /api/payments/webhook
	opRead    = "read"    // GET /api/products/{id}
	opHealth  = "healthz" // GET /healthz
)

var opsInOrder = []string{opHold, opOrder, opWebhook, opRead, opHealth}

var scenarios = []Scenario{{
	Name: "hot",
	// one product, everyone holds 1 unit
	plan: oneBigProduct,
	step: func(r *run, t turn) { r.hold(t, 0) },
}, {
	Name: "spread",
	// --products products, holds spread uniformly
	plan: func(c Config) plan { return plan{products: int(c.Products), stock: bigStock} },
	step: func(r *run, t turn) { r.hold(t, mathrand.IntN(len(r.products))) },
}, {
	Name: "sellout",
	// --stock units, ten buyers per unit
	plan: func(c Config) plan { return plan{products: 1, stock: c.Stock, buyers: c.Stock * BuyersPerUnit} },
	step: func(r *run, t turn) { r.hold(t, 0) },
	check: func(r *run, _ context.Context, b *Books) []string {
		return selloutProblems(r.stock, b.ToldUnits, b.AmbiguousUnits)
	},
}, {
	Name: "checkout",
	// hold → order → signed success webhook
	plan:  oneBigProduct,
	step:  (*run).checkout,
	check: (*run).checkoutProblems,
	okNote: func(b Books) string {
		return fmt.Sprintf("; %d orders, %d told paid, all paid; journal: %d units paid", b.Orders, b.Paid, b.PaidUnits)
	},
}, {
	Name: "read",
	// reads of a product whose stock changes
	plan: oneBigProduct,
	step: (*run).read,
}, {
	Name: "ceiling",
	// GET /healthz: the most the stack serves
	plan: func(Config) plan { return plan{} },
	step: func(r *run, t turn) {
		a := t.conn.do(http.MethodGet, "/healthz", nil, nil)
		t.st.record(t, opHealth, a, a.status == http.StatusOK)
	},
}}

// Names lists the scenarios.
func Names() []string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.Name
	}
	return names
}

func lookup(name string) (Scenario, bool) {
	for _, s := range scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

func oneBigProduct(Config) plan { return plan{products: 1, stock: bigStock} }

// hold asks for 1 unit of the product at index i and tallies the answer.
// It returns the hold's id when the server said it holds it.
func (r *run) hold(t turn, i int) (holdID int64, ok bool) {
	id := r.products[i]
	a := t.conn.do(http.MethodPost, "/api/holds", r.holdBodies[i], nil)
	switch {
	case a.status == http.StatusCreated:
		h, ok := decodeHold(a.body)
		if !ok || h.HoldID < 1 || h.ProductID != id || h.Qty != 1 || string(h.Status) != "active" {
			// A success that does not say what it holds: counted as
			// maybe, so that the books stay provable.
			r.unsure[i].Add(1)
			t.st.record(t, opHold, a, false)
			return 0, false
		}
		r.told[i].Add(1)
		r.noteExpiry(h.ExpiresAt)
		t.st.record(t, opHold, a, true)
		return h.HoldID, true
	case a.ambiguous():
		r.unsure[i].Add(1)
	}
	t.st.record(t, opHold, a, a.status == http.StatusConflict)
	return 0, false
}

// noteExpiry keeps the earliest expiry told. Holds are told in the
// order of their expiry, give or take the answers in flight together, so
// most are later than the earliest and need no parsing: RFC 3339 times in
// UTC, as the server writes them, compare as strings.
func (r *run) noteExpiry(expiresAt []byte) {
	if first := r.firstExpiryText.Load(); first != nil && len(expiresAt) == len(*first) &&
		bytes.HasSuffix(expiresAt, []byte("Z")) && string(expiresAt) >= *first {
		return
	}
	exp, err := time.Parse(time.RFC3339, string(expiresAt))
	if err != nil {
		return
	}
	unix := exp.Unix()
	for {
		cur := r.firstExpiry.Load()
		if cur != 0 && cur <= unix {
			return
		}
		if r.firstExpiry.CompareAndSwap(cur, unix) {
			text := string(expiresAt)
			r.firstExpiryText.Store(&text)
			return
		}
	}
}

// read is a read of the product, or, for a quarter of the load, a hold
// that changes it: a quarter of the connections in a closed loop, a
// quarter of the requests in an open one.
func (r *run) read(t turn) {
	holders := r.c.cfg.Connections / 4
	if holders == 0 && r.c.cfg.Connections > 1 {
		holders = 1
	}
	holder := t.worker < holders
	if r.c.cfg.Rate > 0 {
		holder = t.slot%4 == 0
	}
	if holder {
		r.hold(t, 0)
		return
	}
	a := t.conn.do(http.MethodGet, r.readPath, nil, nil)
	t.st.record(t, opRead, a, a.status == http.StatusOK)
}

// checkout is one buyer: a hold, an order for it, and the provider's
// signed success webhook for the order.
func (r *run) checkout(t turn) {
	holdID, ok := r.hold(t, 0)
	if !ok {
		return
	}
	t.base = time.Now()
	a := t.conn.do(http.MethodPost, "/api/orders", fmt.Appendf(nil, `{"hold_id":%d}`, holdID), nil)
	var o orderJSON
	created := a.status == http.StatusCreated && json.Unmarshal(a.body, &o) == nil &&
		o.OrderID > 0 && o.HoldID == holdID && o.Status == "pending_payment"
	t.st.record(t, opOrder, a, created)
	switch {
	case created:
		r.orders.Add(1)
	case a.ambiguous() || a.status == http.StatusCreated:
		r.ordersUnsure.Add(1)
		return
	default:
		return
	}
	t.base = time.Now()
	body := fmt.Appendf(nil, `{"idempotency_key":"bench-%s-%d","order_id":%d,"status":"success"}`, r.c.runID, o.OrderID, o.OrderID)
	var header http.Header
	if secret := r.c.cfg.WebhookSecret; secret != "" {
		header = http.Header{"X-Signature": {httpapi.SignWebhook(secret, body)}}
	}
	a = t.conn.do(http.MethodPost, "/api/payments/webhook", body, header)
	var p paymentJSON
	paid := a.status == http.StatusOK && json.Unmarshal(a.body, &p) == nil && p.OrderID == o.OrderID && p.Status == "paid"
	t.st.record(t, opWebhook, a, paid)
	switch {
	case paid:
		r.paid.Add(1)
		r.paidMu.Lock()
		r.paidOrders = append(r.paidOrders, o.OrderID)
		r.paidMu.Unlock()
	case a.ambiguous() || a.status == http.StatusOK:
		r.paidUnsure.Add(1)
	}
}
