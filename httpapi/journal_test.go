package httpapi_test

import (
	"context"
	"encoding/json"
	"flashsale"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"flashsale/actors/actorstest"
	"flashsale/httpapi"
	"flashsale/store/storetest"
)

// journalServer is the real API with signed webhooks, holds and payment
// windows of a second, one Prometheus registry for the API and the actors
// as the server has, and a log the test can read.
type journalServer struct {
	*testServer
	log *actorstest.LockedBuffer
}

func newJournalServer(t *testing.T, dialect string) *journalServer {
	t.Helper()
	logs := &actorstest.LockedBuffer{}
	s := newTestServer(t, dialect, withHoldTTL(time.Second), withPaymentTTL(time.Second), withWebhookSecret(webhookSecret),
		withMetrics(prometheus.NewRegistry()), withLog(zerolog.New(logs).Level(zerolog.InfoLevel)))
	return &journalServer{testServer: s, log: logs}
}

// webhook delivers a payment webhook signed with the server's secret.
func (s *journalServer) webhook(orderID int64, status, key string) response {
	s.t.Helper()
	return s.signedWebhook(webhookBody(key, orderID, status))
}

// get makes a GET request whose answer need not be JSON.
func (s *journalServer) get(path string, header ...string) (int, http.Header, string) {
	s.t.Helper()
	res, body := s.send(http.MethodGet, path, "", header...)
	return res.StatusCode, res.Header, body
}

// events reads a page of a product's journal, which must answer 200.
func (s *journalServer) events(id int64, query string) httpapi.EventsJSON {
	s.t.Helper()
	path := fmt.Sprintf("/api/admin/products/%d/events%s", id, query)
	r := s.admin(http.MethodGet, path, "")
	if r.Status != http.StatusOK {
		s.t.Fatalf("GET %s = %d %s; want 200", path, r.Status, r.Raw)
	}
	var page httpapi.EventsJSON
	dec := json.NewDecoder(strings.NewReader(r.Raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&page); err != nil {
		s.t.Fatalf("GET %s: %v in %s", path, err, r.Raw)
	}
	if page.ProductID != id || page.Events == nil {
		s.t.Fatalf("GET %s = %s; want product_id %d and an events array", path, r.Raw, id)
	}
	return page
}

// awaitEvents waits until a product's journal has n events.
func (s *journalServer) awaitEvents(id int64, n int, within time.Duration) []httpapi.EventJSON {
	s.t.Helper()
	var events []httpapi.EventJSON
	actorstest.Eventually(s.t, within, func() string {
		events = s.events(id, "").Events
		if len(events) >= n {
			return ""
		}
		return fmt.Sprintf("product %d has %d events; want %d", id, len(events), n)
	})
	return events
}

// field reads an id field of a response.
func field(t *testing.T, r response, field string) int64 {
	t.Helper()
	v, ok := r.Body[field].(float64)
	if !ok || v < 1 {
		t.Fatalf("no %s in %d %s", field, r.Status, r.Raw)
	}
	return int64(v)
}

// wantEvent is what one journal event must say.
type wantEvent struct {
	kind                        string
	holdID, orderID             int64
	key                         string
	qty                         int64
	reason                      string
	stock, held, awaiting, paid int64
}

var atFormat = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// journalScenario runs every kind of change on a new product of stock 10,
// with rejected requests between them, and returns the product, the
// events it must have journalled, and when it started.
func journalScenario(t *testing.T, s *journalServer) (int64, []wantEvent, time.Time) {
	t.Helper()
	started := time.Now()
	r := s.admin(http.MethodPost, "/api/admin/products", `{"name":"Journal item","price":"10.00","stock":10}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("create product: %d %s", r.Status, r.Raw)
	}
	p := field(t, r, "id")
	ps := strconv.FormatInt(p, 10)
	want := []wantEvent{{kind: "product_created", qty: 10, stock: 10}}
	expect := func(status int, r response, what string) response {
		t.Helper()
		if r.Status != status {
			t.Fatalf("%s = %d %s; want %d", what, r.Status, r.Raw, status)
		}
		return r
	}
	hold := func(qty int, key string) response {
		t.Helper()
		body := `{"product_id":` + ps + `,"qty":` + strconv.Itoa(qty) + `}`
		if key == "" {
			return s.do(http.MethodPost, "/api/holds", body)
		}
		return s.do(http.MethodPost, "/api/holds", body, "Idempotency-Key", key)
	}
	order := func(holdID int64, key string) response {
		t.Helper()
		body := `{"hold_id":` + strconv.FormatInt(holdID, 10) + `}`
		if key == "" {
			return s.do(http.MethodPost, "/api/orders", body)
		}
		return s.do(http.MethodPost, "/api/orders", body, "Idempotency-Key", key)
	}
	noNewEvents := func(what string) {
		t.Helper()
		if got := len(s.events(p, "").Events); got != len(want) {
			t.Fatalf("after %s the journal has %d events; want still %d", what, got, len(want))
		}
	}

	// A: hold, order, paid.
	hA := field(t, expect(201, hold(2, "hold-a"), "hold A"), "hold_id")
	want = append(want, wantEvent{kind: "hold_created", holdID: hA, key: "hold-a", qty: 2, stock: 10, held: 2})
	expect(201, hold(2, "hold-a"), "hold A again with its key")
	expect(409, hold(11, ""), "hold beyond the stock")
	expect(422, hold(0, ""), "hold of nothing")
	expect(409, hold(3, "hold-a"), "hold A's key with another qty")
	expect(404, s.do(http.MethodPost, "/api/holds", `{"product_id":999999,"qty":1}`), "hold of an unknown product")
	expect(409, s.admin(http.MethodPatch, "/api/admin/products/"+ps, `{"stock":1}`), "stock below the held units")
	expect(422, s.admin(http.MethodPatch, "/api/admin/products/"+ps, `{"stock":"x"}`), "stock that is no number")
	noNewEvents("rejected holds and stock changes")

	oA := field(t, expect(201, order(hA, "order-a"), "order A"), "order_id")
	want = append(want, wantEvent{kind: "order_created", holdID: hA, orderID: oA, key: "order-a", qty: 2, stock: 10, awaiting: 2})
	expect(409, order(hA, "order-a-again"), "a second order of hold A")
	expect(404, order(999999, ""), "order of an unknown hold")
	noNewEvents("rejected orders")

	if r := expect(200, s.webhook(oA, "success", "pay-a"), "payment of A"); r.Body["status"] != "paid" {
		t.Fatalf("payment of A: %s; want paid", r.Raw)
	}
	want = append(want, wantEvent{kind: "order_paid", holdID: hA, orderID: oA, key: "pay-a", qty: 2, stock: 10, paid: 2})
	expect(200, s.webhook(oA, "success", "pay-a"), "payment of A delivered again")
	bad := s.do(http.MethodPost, "/api/payments/webhook", `{"order_id":1,"status":"success","idempotency_key":"forged"}`,
		"X-Signature", "sha256="+strings.Repeat("0", 64))
	expect(401, bad, "a webhook with a wrong signature")
	expect(404, s.webhook(999999, "success", "pay-stray"), "a webhook for an id far past any reserved")
	expect(202, s.webhook(oA+900, "success", "pay-ghost"), "a webhook before its order")
	noNewEvents("repeated, forged, stray and early webhooks")

	// B: failed, then a late success revives it.
	hB := field(t, expect(201, hold(3, ""), "hold B"), "hold_id")
	want = append(want, wantEvent{kind: "hold_created", holdID: hB, qty: 3, stock: 10, held: 3, paid: 2})
	oB := field(t, expect(201, order(hB, ""), "order B"), "order_id")
	want = append(want, wantEvent{kind: "order_created", holdID: hB, orderID: oB, qty: 3, stock: 10, awaiting: 3, paid: 2})
	if r := expect(200, s.webhook(oB, "failed", "pay-b-fail"), "failed payment of B"); r.Body["status"] != "cancelled" {
		t.Fatalf("failed payment of B: %s; want cancelled", r.Raw)
	}
	want = append(want, wantEvent{kind: "order_cancelled", holdID: hB, orderID: oB, key: "pay-b-fail", qty: 3, reason: "webhook", stock: 10, paid: 2})
	if r := expect(200, s.webhook(oB, "success", "pay-b-late"), "late success of B"); r.Body["status"] != "paid" {
		t.Fatalf("late success of B: %s; want paid", r.Raw)
	}
	want = append(want, wantEvent{kind: "order_revived", holdID: hB, orderID: oB, key: "pay-b-late", qty: 3, stock: 10, paid: 5})

	// C: cancelled; its late success finds the units gone to hold D.
	hC := field(t, expect(201, hold(1, ""), "hold C"), "hold_id")
	want = append(want, wantEvent{kind: "hold_created", holdID: hC, qty: 1, stock: 10, held: 1, paid: 5})
	oC := field(t, expect(201, order(hC, ""), "order C"), "order_id")
	want = append(want, wantEvent{kind: "order_created", holdID: hC, orderID: oC, qty: 1, stock: 10, awaiting: 1, paid: 5})
	expect(200, s.webhook(oC, "cancelled", "pay-c-cancel"), "cancelled payment of C")
	want = append(want, wantEvent{kind: "order_cancelled", holdID: hC, orderID: oC, key: "pay-c-cancel", qty: 1, reason: "webhook", stock: 10, paid: 5})
	rD := expect(201, hold(5, "hold-d"), "hold D")
	hD := field(t, rD, "hold_id")
	want = append(want, wantEvent{kind: "hold_created", holdID: hD, key: "hold-d", qty: 5, stock: 10, held: 5, paid: 5})
	if r := expect(200, s.webhook(oC, "success", "pay-c-late"), "late success of C"); r.Body["status"] != "refund_required" {
		t.Fatalf("late success of C: %s; want refund_required", r.Raw)
	}
	want = append(want, wantEvent{kind: "refund_required", holdID: hC, orderID: oC, key: "pay-c-late", qty: 1, stock: 10, held: 5, paid: 5})

	// D expires by itself, not before its expires_at.
	want = append(want, wantEvent{kind: "hold_expired", holdID: hD, key: "hold-d", qty: 5, stock: 10, paid: 5})
	expired := s.awaitEvents(p, len(want), 5*time.Second)[len(want)-1]
	expiresAt, err := time.Parse(time.RFC3339, rD.Body["expires_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if at, err := time.Parse(time.RFC3339Nano, expired.At); err != nil || at.Before(expiresAt) {
		t.Fatalf("hold D expired at %s (%v); its expires_at is %s", expired.At, err, rD.Body["expires_at"])
	}
	expect(409, order(hD, ""), "order of expired hold D")
	noNewEvents("an order of an expired hold")

	// E: its payment window runs out.
	hE := field(t, expect(201, hold(2, ""), "hold E"), "hold_id")
	want = append(want, wantEvent{kind: "hold_created", holdID: hE, qty: 2, stock: 10, held: 2, paid: 5})
	oE := field(t, expect(201, order(hE, ""), "order E"), "order_id")
	want = append(want, wantEvent{kind: "order_created", holdID: hE, orderID: oE, qty: 2, stock: 10, awaiting: 2, paid: 5})
	want = append(want, wantEvent{kind: "order_cancelled", holdID: hE, orderID: oE, qty: 2, reason: "payment_window", stock: 10, paid: 5})
	s.awaitEvents(p, len(want), 5*time.Second)

	// A restock.
	if r := expect(200, s.admin(http.MethodPatch, "/api/admin/products/"+ps, `{"stock":12}`), "restock"); r.Body["available_stock"] != 7.0 {
		t.Fatalf("restock: %s; want 7 available", r.Raw)
	}
	want = append(want, wantEvent{kind: "stock_changed", qty: 12, stock: 12, paid: 5})
	if got := s.available(p); got != 7 {
		t.Fatalf("available %d after the scenario; want 7", got)
	}
	return p, want, started
}

// TestEveryKindOfChangeIsJournalledAndCounted runs the scenario once per
// dialect, then reads it back through the events endpoint and /metrics.
func TestEveryKindOfChangeIsJournalledAndCounted(t *testing.T) {
	storetest.RunParallel(t, func(t *testing.T, dialect string) {
		s := newJournalServer(t, dialect)
		p, want, started := journalScenario(t, s)
		assertJournal(t, s, p, want, started)
		assertMetrics(t, s, p, want)
	})
}

// assertJournal checks the journal the API shows against the scenario's.
func assertJournal(t *testing.T, s *journalServer, p int64, want []wantEvent, started time.Time) {
	page := s.events(p, "")
	got := page.Events
	if len(got) != len(want) || page.NextAfter != int64(len(want)) {
		t.Fatalf("journal has %d events, next_after %d; want %d:\n%s", len(got), page.NextAfter, len(want), kindsOf(got))
	}
	var prev time.Time
	for i, e := range got {
		w := want[i]
		gotEvent := wantEvent{kind: e.Kind, holdID: e.HoldID, orderID: e.OrderID, key: e.IdempotencyKey, qty: e.Qty,
			reason: e.Reason, stock: e.Stock, held: e.Held, awaiting: e.AwaitingPayment, paid: e.Paid}
		if e.Kind == "refund_required" && e.Reason == "webhook" {
			// The order was cancelled by a webhook before; whether
			// its refund names that is not settled.
			gotEvent.reason = ""
		}
		if e.Seq != int64(i+1) || gotEvent != w {
			t.Errorf("event %d: seq %d %+v; want seq %d %+v", i, e.Seq, gotEvent, i+1, w)
		}
		if e.AvailableStock != e.Stock-e.Held-e.AwaitingPayment-e.Paid || e.AvailableStock < 0 {
			t.Errorf("seq %d: available_stock %d with stock %d, held %d, awaiting %d, paid %d",
				e.Seq, e.AvailableStock, e.Stock, e.Held, e.AwaitingPayment, e.Paid)
		}
		if !atFormat.MatchString(e.At) {
			t.Errorf("seq %d: at %q is not RFC 3339 UTC with milliseconds", e.Seq, e.At)
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, e.At)
		if err != nil {
			t.Errorf("seq %d: at %q: %v", e.Seq, e.At, err)
			continue
		}
		if at.Before(started.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) || at.Before(prev) {
			t.Errorf("seq %d at %s: want between the test's start %s and now, not before seq %d's %s",
				e.Seq, e.At, started.UTC().Format(time.RFC3339Nano), e.Seq-1, prev.Format(time.RFC3339Nano))
		}
		prev = at
	}
	// Ids and keys are left out when an event has none.
	r := s.admin(http.MethodGet, fmt.Sprintf("/api/admin/products/%d/events?limit=1", p), "")
	first := r.Body["events"].([]any)[0].(map[string]any)
	for _, k := range []string{"hold_id", "order_id", "idempotency_key", "reason"} {
		if _, ok := first[k]; ok {
			t.Errorf("product_created shows %s: %s", k, r.Raw)
		}
	}
	for _, k := range []string{"seq", "kind", "at", "qty", "stock", "available_stock", "held", "awaiting_payment", "paid"} {
		if _, ok := first[k]; !ok {
			t.Errorf("product_created lacks %s: %s", k, r.Raw)
		}
	}

	// Replaying what the API shows gives the product row.
	st, err := s.DB.LoadProduct(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	last := got[len(got)-1]
	if row := st.Product.Counters; row != (flashsale.Counters{Stock: last.Stock, Held: last.Held, AwaitingPayment: last.AwaitingPayment, Paid: last.Paid}) {
		t.Errorf("last event's counters %+v; the row %+v", last, row)
	}
}

func kindsOf(events []httpapi.EventJSON) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "  %d %s qty %d\n", e.Seq, e.Kind, e.Qty)
	}
	return b.String()
}

func TestEventsEndpointPagesAndRefuses(t *testing.T) {
	storetest.RunParallel(t, func(t *testing.T, dialect string) {
		s := newJournalServer(t, dialect)
		p := s.createProduct(500)
		ps := strconv.FormatInt(p, 10)
		// 1 product_created and 104 stock changes: more than a default page.
		for i := range 104 {
			if r := s.admin(http.MethodPatch, "/api/admin/products/"+ps, `{"stock":`+strconv.Itoa(501+i)+`}`); r.Status != http.StatusOK {
				t.Fatalf("restock: %d %s", r.Status, r.Raw)
			}
		}
		const total = 105
		check := func(page httpapi.EventsJSON, from, to int64, next int64, query string) {
			t.Helper()
			var seqs []int64
			for _, e := range page.Events {
				seqs = append(seqs, e.Seq)
			}
			var want []int64
			for s := from; s <= to; s++ {
				want = append(want, s)
			}
			if !slices.Equal(seqs, want) || page.NextAfter != next {
				t.Errorf("?%s: seqs %v, next_after %d; want %d..%d, next_after %d", query, seqs, page.NextAfter, from, to, next)
			}
		}
		check(s.events(p, ""), 1, 100, 100, "")
		check(s.events(p, "?after=100"), 101, total, total, "after=100")
		check(s.events(p, "?limit=1000"), 1, total, total, "limit=1000")
		check(s.events(p, "?after=0&limit=1"), 1, 1, 1, "after=0&limit=1")
		check(s.events(p, "?after=104&limit=1000"), total, total, total, "after=104&limit=1000")
		check(s.events(p, "?after=105"), 1, 0, total, "after=105")
		check(s.events(p, "?after=5000"), 1, 0, 5000, "after=5000")
		// Paging by next_after walks the journal once, in order.
		var all []int64
		for after, pages := int64(0), 0; ; pages++ {
			page := s.events(p, fmt.Sprintf("?after=%d&limit=7", after))
			if len(page.Events) == 0 {
				if page.NextAfter != after {
					t.Errorf("empty page after %d: next_after %d", after, page.NextAfter)
				}
				break
			}
			for _, e := range page.Events {
				all = append(all, e.Seq)
				if e.Kind != "stock_changed" && e.Seq != 1 {
					t.Errorf("seq %d is %s; want stock_changed", e.Seq, e.Kind)
				}
			}
			if page.NextAfter != page.Events[len(page.Events)-1].Seq {
				t.Errorf("page after %d ends at seq %d, next_after %d", after, page.Events[len(page.Events)-1].Seq, page.NextAfter)
			}
			after = page.NextAfter
			if pages > total {
				t.Fatal("paging does not end")
			}
		}
		if len(all) != total || !slices.IsSorted(all) || all[0] != 1 || all[total-1] != total {
			t.Errorf("paging by 7 gave seqs %v; want 1..%d", all, total)
		}

		base := "/api/admin/products/" + ps + "/events"
		for _, q := range []struct{ query, field string }{
			{"?after=-1", "after"}, {"?after=abc", "after"}, {"?after=1.5", "after"}, {"?after=99999999999999999999", "after"},
			{"?limit=0", "limit"}, {"?limit=1001", "limit"}, {"?limit=-5", "limit"}, {"?limit=ten", "limit"},
			{"?after=x&limit=0", "after"}, {"?after=x&limit=0", "limit"},
		} {
			r := s.admin(http.MethodGet, base+q.query, "")
			errs, _ := r.Body["errors"].(map[string]any)
			if r.Status != http.StatusUnprocessableEntity || errs[q.field] == nil {
				t.Errorf("GET %s = %d %s; want 422 naming %s", base+q.query, r.Status, r.Raw, q.field)
			}
		}
		for _, path := range []string{"/api/admin/products/999999/events", "/api/admin/products/999999/events?after=3",
			"/api/admin/products/abc/events", "/api/admin/products/0/events"} {
			if r := s.admin(http.MethodGet, path, ""); r.Status != http.StatusNotFound || r.Body["message"] == nil {
				t.Errorf("GET %s = %d %s; want 404", path, r.Status, r.Raw)
			}
		}
		for _, auth := range []string{"", "Bearer wrong", adminToken, "Basic " + adminToken} {
			var r response
			if auth == "" {
				r = s.do(http.MethodGet, base, "")
			} else {
				r = s.do(http.MethodGet, base, "", "Authorization", auth)
			}
			if r.Status != http.StatusUnauthorized || strings.Contains(r.Raw, "stock_changed") {
				t.Errorf("GET %s with Authorization %q = %d %s; want 401", base, auth, r.Status, r.Raw)
			}
		}
		// Reading the journal changes nothing.
		if got := len(s.events(p, "?limit=1000").Events); got != total {
			t.Errorf("%d events after the reads; want %d", got, total)
		}
	})
}

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func parseMetrics(t *testing.T, text string) []sample {
	t.Helper()
	var out []sample
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a Prometheus sample line: %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("value of %q: %v", line, err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, lp := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[lp[1]] = lp[2]
		}
		out = append(out, s)
	}
	return out
}

// value sums the samples of a metric whose labels include the given ones;
// found is false when there is none.
func value(samples []sample, name string, labels ...string) (v float64, found bool) {
	for _, s := range samples {
		if s.name != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if s.labels[labels[i]] != labels[i+1] {
				match = false
			}
		}
		if match {
			v, found = v+s.value, true
		}
	}
	return v, found
}

// assertMetrics checks /metrics against what the scenario did.
func assertMetrics(t *testing.T, s *journalServer, p int64, want []wantEvent) {
	kinds := map[string]float64{}
	for _, w := range want {
		kinds[w.kind]++
	}
	status, header, text := s.get("/metrics")
	if status != http.StatusOK || !strings.HasPrefix(header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %s", status, header.Get("Content-Type"))
	}
	if strings.Contains(text, "product_id") || strings.Contains(text, fmt.Sprintf("/api/products/%d", p)) {
		t.Errorf("/metrics has a per-product label or path:\n%s", text)
	}
	samples := parseMetrics(t, text)
	routes := []string{"/healthz", "/readyz", "/metrics", "/api/products/{id}", "/api/holds", "/api/holds/{id}",
		"/api/orders", "/api/orders/{id}", "/api/payments/webhook", "/api/admin/products", "/api/admin/products/{id}",
		"/api/admin/products/{id}/events", "unmatched"}
	for _, smp := range samples {
		if r, ok := smp.labels["route"]; ok && !slices.Contains(routes, r) {
			t.Errorf("%s has route label %q, which is no route pattern", smp.name, r)
		}
		if _, ok := smp.labels["product_id"]; ok {
			t.Errorf("%s has a product_id label", smp.name)
		}
	}

	exact := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"flashsale_holds_created_total", nil, kinds["hold_created"]},
		{"flashsale_holds_rejected_total", []string{"reason", "insufficient_stock"}, 1},
		{"flashsale_holds_rejected_total", []string{"reason", "idempotency_conflict"}, 1},
		{"flashsale_holds_rejected_total", []string{"reason", "product_not_found"}, 1},
		{"flashsale_holds_expired_total", nil, kinds["hold_expired"]},
		{"flashsale_orders_created_total", nil, kinds["order_created"]},
		{"flashsale_orders_paid_total", nil, kinds["order_paid"] + kinds["order_revived"]},
		{"flashsale_orders_cancelled_total", []string{"reason", "webhook"}, 2},
		{"flashsale_orders_cancelled_total", []string{"reason", "payment_window"}, 1},
		{"flashsale_orders_refund_required_total", nil, kinds["refund_required"]},
		{"flashsale_webhooks_received_total", nil, 9},
		{"flashsale_webhooks_deduplicated_total", nil, 1},
		{"flashsale_webhooks_pending_total", nil, 1},
		{"flashsale_webhooks_rejected_signature_total", nil, 1},
		{"flashsale_actor_mailbox_backlog", nil, 0},
		{"flashsale_actor_products_live", nil, 1},
		// Every event but product_created is decided by the actor.
		{"flashsale_batch_size_sum", nil, float64(len(want) - 1)},
		{"flashsale_batch_commit_failures_total", nil, 0},
		{"flashsale_batch_version_conflicts_total", nil, 0},
		{"flashsale_http_requests_total", []string{"route", "/api/holds", "status", "201"}, 6},
		{"flashsale_http_requests_total", []string{"route", "/api/holds", "status", "409"}, 2},
		{"flashsale_http_requests_total", []string{"route", "/api/holds", "status", "422"}, 1},
		{"flashsale_http_requests_total", []string{"route", "/api/holds", "status", "404"}, 1},
		{"flashsale_http_requests_total", []string{"route", "/api/payments/webhook", "status", "200"}, 6},
		{"flashsale_http_requests_total", []string{"route", "/api/payments/webhook", "status", "401"}, 1},
		{"flashsale_http_requests_total", []string{"route", "/api/payments/webhook", "status", "202"}, 1},
		{"flashsale_http_requests_total", []string{"route", "/api/payments/webhook", "status", "404"}, 1},
		{"flashsale_http_requests_total", []string{"route", "/api/orders", "status", "409"}, 2},
		{"flashsale_http_requests_total", []string{"route", "/api/admin/products/{id}", "status", "409"}, 1},
		{"flashsale_http_request_duration_seconds_count", []string{"route", "/api/holds"}, 10},
	}
	for _, e := range exact {
		got, found := value(samples, e.name, e.labels...)
		if !found || got != e.want {
			t.Errorf("%s%v = %v (found %v); want %v", e.name, e.labels, got, found, e.want)
		}
	}
	processed, _ := value(samples, "flashsale_actor_messages_processed_total")
	waits, _ := value(samples, "flashsale_actor_mailbox_wait_seconds_count")
	// 16 of the scenario's requests are decided by the actor: the
	// holds, orders, payments and stock changes it made or refused. A hold
	// asking for more than the committed stock is refused without one.
	if processed < 16 || waits != processed {
		t.Errorf("actor messages processed %v, mailbox waits observed %v; want the same, at least 16", processed, waits)
	}
	batches, _ := value(samples, "flashsale_batch_size_count")
	commits, _ := value(samples, "flashsale_batch_commit_seconds_count")
	if batches < 1 || batches > float64(len(want)-1) || commits != batches {
		t.Errorf("%v batches, %v commit durations; want the same, 1 to %d", batches, commits, len(want)-1)
	}
	for _, name := range []string{"flashsale_actor_mailbox_wait_seconds_bucket", "flashsale_batch_size_bucket",
		"flashsale_batch_commit_seconds_bucket", "flashsale_http_request_duration_seconds_bucket"} {
		if _, found := value(samples, name); !found {
			t.Errorf("no %s in /metrics", name)
		}
	}
	events, _ := value(samples, "flashsale_http_requests_total", "route", "/api/admin/products/{id}/events", "status", "200")
	if events < 5 {
		t.Errorf("%v journal reads counted; the scenario made more", events)
	}
}

func TestRequestIDs(t *testing.T) {
	t.Parallel()
	s := newJournalServer(t, "sqlite")
	generated := regexp.MustCompile(`^[0-9a-f]{16}$`)
	cases := []struct {
		name, given string
		keep        bool
	}{
		{"given", "req-42.abc_DEF", true},
		{"none", "", false},
		{"with a space", "two words", false},
		{"too long", strings.Repeat("x", 129), false},
		{"longest kept", strings.Repeat("y", 128), true},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		var r response
		if c.given == "" {
			r = s.do(http.MethodGet, "/api/products/1", "")
		} else {
			r = s.do(http.MethodGet, "/api/products/1", "", "X-Request-Id", c.given)
		}
		got := r.Header.Get("X-Request-Id")
		switch {
		case r.Status != http.StatusOK:
			t.Errorf("%s: status %d", c.name, r.Status)
		case c.keep && got != c.given:
			t.Errorf("%s: X-Request-Id %q echoed as %q", c.name, c.given, got)
		case !c.keep && !generated.MatchString(got):
			t.Errorf("%s: X-Request-Id %q answered with %q; want a generated id", c.name, c.given, got)
		}
		if seen[got] {
			t.Errorf("%s: request id %q given out twice", c.name, got)
		}
		seen[got] = true
	}
	// Errors carry the id too, and the log line of each request has it.
	r := s.do(http.MethodPost, "/api/holds", `{"product_id":1,"qty":0}`, "X-Request-Id", "rid-422")
	if r.Status != http.StatusUnprocessableEntity || r.Header.Get("X-Request-Id") != "rid-422" {
		t.Errorf("422: status %d, X-Request-Id %q", r.Status, r.Header.Get("X-Request-Id"))
	}
	found := map[string]bool{}
	for _, l := range s.log.JSONLines() {
		if l["message"] != "request" {
			continue
		}
		id, _ := l["request_id"].(string)
		found[id] = true
		if id == "rid-422" && (l["route"] != "/api/holds" || l["status"] != 422.0 || l["method"] != "POST") {
			t.Errorf("log line of the 422: %v", l)
		}
	}
	for id := range seen {
		if !found[id] {
			t.Errorf("no request log line with request_id %q", id)
		}
	}
	if !found["rid-422"] {
		t.Errorf("no request log line with request_id rid-422")
	}
}

// TestRequestIDOnUnroutedRequests: a request no route takes (404) or
// with a method its route does not allow (405) is a request too: it gets a
// request id, a log line, and a count.
func TestRequestIDOnUnroutedRequests(t *testing.T) {
	t.Parallel()
	s := newJournalServer(t, "sqlite")
	nf := s.do(http.MethodGet, "/no/such/route", "", "X-Request-Id", "rid-404")
	na := s.do(http.MethodDelete, "/api/holds", "", "X-Request-Id", "rid-405")
	if nf.Status != http.StatusNotFound || na.Status != http.StatusMethodNotAllowed {
		t.Fatalf("statuses %d, %d; want 404, 405", nf.Status, na.Status)
	}
	for _, r := range []response{nf, na} {
		if got := r.Header.Get("X-Request-Id"); got == "" {
			t.Errorf("%d answer has no X-Request-Id", r.Status)
		}
	}
	logged := map[string]bool{}
	for _, l := range s.log.JSONLines() {
		if id, _ := l["request_id"].(string); l["message"] == "request" {
			logged[id] = true
		}
	}
	for _, id := range []string{"rid-404", "rid-405"} {
		if !logged[id] {
			t.Errorf("no request log line for %s", id)
		}
	}
	_, _, text := s.get("/metrics")
	samples := parseMetrics(t, text)
	for _, code := range []string{"404", "405"} {
		if _, found := value(samples, "flashsale_http_requests_total", "status", code); !found {
			t.Errorf("no flashsale_http_requests_total with status %s", code)
		}
	}
}

func TestPprofNeedsTheAdminToken(t *testing.T) {
	t.Parallel()
	s := newJournalServer(t, "sqlite")
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1"} {
		for _, auth := range []string{"", "Bearer wrong"} {
			status, _, body := s.get(path, "Authorization", auth)
			if status != http.StatusUnauthorized || strings.Contains(body, "goroutine") {
				t.Errorf("GET %s with Authorization %q = %d; want 401", path, auth, status)
			}
		}
		status, _, body := s.get(path, "Authorization", "Bearer "+adminToken)
		if status != http.StatusOK || body == "" {
			t.Errorf("GET %s with the admin token = %d (%d bytes); want 200", path, status, len(body))
		}
	}
	if _, _, body := s.get("/debug/pprof/", "Authorization", "Bearer "+adminToken); !strings.Contains(body, "goroutine") {
		t.Errorf("the pprof index lists no goroutine profile:\n%s", body)
	}
	// /metrics is for scrapers and needs no token.
	if status, _, _ := s.get("/metrics"); status != http.StatusOK {
		t.Errorf("GET /metrics = %d; want 200", status)
	}
}
