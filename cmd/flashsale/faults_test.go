package main

// The tests in this file put a TCP proxy between the server and its MySQL
// database and break the network there: cut it, slow it down, or lose the
// answer to a COMMIT. They need that network hop, so they run on MySQL
// only, and skip, saying so, without it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flashsale"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"flashsale/actors/actorstest"
	"flashsale/httpapi"
	"flashsale/store"
	"flashsale/store/storetest"
)

// faultTimeout is the --request-timeout of the servers that see the
// database fail: no request may wait longer.
const faultTimeout = 2 * time.Second

// answerSlack is how long after its deadline an answer may still come:
// writing it, and a race-enabled build on a busy machine.
const answerSlack = 1500 * time.Millisecond

// faultyServer is a server whose database connections pass through a
// proxy the test controls.
type faultyServer struct {
	*proc
	proxy *storetest.Proxy
	url   string    // the database, reached directly
	db    *store.DB // the database, reached directly, for checks
}

// startFaultyServer starts a server on a fresh MySQL database reached
// through a proxy, with the admin token set.
func startFaultyServer(t *testing.T, extra ...string) faultyServer {
	t.Helper()
	url := storetest.URL(t, "mysql")
	proxy, via := storetest.ViaProxy(t, url)
	args := serverArgs("serve", via, append([]string{"--admin-token", adminToken}, extra...)...)
	return faultyServer{proc: startServer(t, "server", args), proxy: proxy, url: url, db: storetest.OpenURL(t, url)}
}

// faultReply is what one request got, and when.
type faultReply struct {
	what       string // method and path
	sent, got  time.Time
	status     int
	retryAfter string
	body       []byte
	err        error
}

func (a faultReply) took() time.Duration { return a.got.Sub(a.sent) }

func (a faultReply) String() string {
	if a.err != nil {
		return fmt.Sprintf("%s: no answer after %v: %v", a.what, a.took().Round(time.Millisecond), a.err)
	}
	return fmt.Sprintf("%s: %d %s (Retry-After %q) after %v", a.what, a.status, trim(a.body), a.retryAfter,
		a.took().Round(time.Millisecond))
}

// faultCall makes one request. body is JSON-encoded; header may be nil. It does
// not touch t, so that workers may use it.
func faultCall(c *http.Client, method, url string, header map[string]string, body any) faultReply {
	a := faultReply{what: method + " " + strings.TrimPrefix(url, "http://"), sent: time.Now()}
	defer func() { a.got = time.Now() }()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.err = err
			return a
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		a.err = err
		return a
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		a.err = err
		a.got = time.Now()
		return a
	}
	defer resp.Body.Close()
	a.body, a.err = io.ReadAll(resp.Body)
	a.status, a.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	a.got = time.Now()
	return a
}

// unavailableProblem says what is wrong with an answer that must be a
// timely 503 telling the client when to retry, or "".
func unavailableProblem(a faultReply) string {
	switch secs, err := strconv.Atoi(a.retryAfter); {
	case a.err != nil || a.status != http.StatusServiceUnavailable:
		return fmt.Sprintf("%v; want 503 with Retry-After", a)
	case err != nil || secs < 1:
		return fmt.Sprintf("%v; want a Retry-After of whole seconds", a)
	case a.took() > faultTimeout+answerSlack:
		return fmt.Sprintf("%v; want it within the request timeout of %v", a, faultTimeout)
	}
	return ""
}

func holdRequest(productID, qty int64) map[string]int64 {
	return map[string]int64{"product_id": productID, "qty": qty}
}

func keyHeader(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }

var adminHeaders = map[string]string{"Authorization": "Bearer " + adminToken}

// decodeHoldReply reads a 201 hold answer.
func decodeHoldReply(t *testing.T, a faultReply) httpapi.HoldJSON {
	t.Helper()
	var h httpapi.HoldJSON
	if a.err != nil || a.status != http.StatusCreated {
		t.Fatalf("%v; want 201", a)
	}
	if err := json.Unmarshal(a.body, &h); err != nil || h.HoldID < 1 || h.Status != "active" {
		t.Fatalf("%v: not an active hold (%v)", a, err)
	}
	return h
}

// countHoldsWithKey is how many hold rows carry an idempotency key.
func countHoldsWithKey(t *testing.T, url, key string) int {
	t.Helper()
	var n int
	if err := rawSQL(t, url).QueryRow("SELECT COUNT(*) FROM holds WHERE idempotency_key = ?", key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// batchStats reads the batch size histogram's sum and count from /metrics.
func batchStats(t *testing.T, c *http.Client, p *proc) (sum, count float64) {
	t.Helper()
	m := metrics(t, c, p, "flashsale_batch_size_sum", "flashsale_batch_size_count")
	return m["flashsale_batch_size_sum"], m["flashsale_batch_size_count"]
}

// metrics reads unlabelled metrics from a server's /metrics; each must be
// there.
func metrics(t *testing.T, c *http.Client, p *proc, names ...string) map[string]float64 {
	t.Helper()
	raw := mustCall(t, c, http.MethodGet, p.base+"/metrics", "", nil, http.StatusOK, nil)
	found := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("/metrics: %q: %v", sc.Text(), err)
		}
		found[name] = v
	}
	if len(found) != len(names) {
		t.Fatalf("/metrics has not all of %v:\n%s", names, raw)
	}
	return found
}

// TestDatabaseOutageRefusesWritesServesLoadedReadsAndRecovers takes the
// database away under a load of holds, in two ways: every connection
// reset, and every packet dropped. While it is away, every request that
// needs it answers 503 with Retry-After within the request timeout,
// nothing is acknowledged, /readyz says 503, /healthz 200, and a product
// whose actor runs is still served. When it comes back the server
// recovers by itself, and every hold it acknowledged is in the database.
func TestDatabaseOutageRefusesWritesServesLoadedReadsAndRecovers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		outage func(*storetest.Proxy)
	}{
		{"connections reset", (*storetest.Proxy).Cut},
		{"packets dropped", (*storetest.Proxy).Stall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkOutage(t, tc.outage)
		})
	}
}

func checkOutage(t *testing.T, outage func(*storetest.Proxy)) {
	s := startFaultyServer(t, "--hold-ttl", "10m", "--request-timeout", faultTimeout.String())
	c := newClient(t)
	const stock = 100_000
	prod := createProduct(t, c, s.proc, adminToken, "Outage", stock)
	cold := createProduct(t, c, s.proc, adminToken, "Never loaded", 10)
	first := placeHold(t, c, s.proc, prod.ID, 1)
	ordered := placeHold(t, c, s.proc, prod.ID, 1)
	var order httpapi.OrderJSON
	mustCall(t, c, http.MethodPost, s.base+"/api/orders", "", map[string]int64{"hold_id": ordered.HoldID}, http.StatusCreated, &order)
	getProduct(t, c, s.proc, prod.ID)

	// Workers place holds, half of them with an idempotency key, from
	// before the cut until after the recovery.
	const workers = 6
	stop := make(chan struct{})
	loads := make([][]faultReply, workers)
	var wg sync.WaitGroup
	wg.Go(func() {
		// Refused requests pause rather than spin.
		runWorkers(workers, 1000, time.Now().Add(time.Minute), stop, 20*time.Millisecond, func(w, i int) bool {
			var header map[string]string
			if i%2 == 0 {
				header = keyHeader(fmt.Sprintf("load-%d-%d", w, i))
			}
			a := faultCall(c, http.MethodPost, s.base+"/api/holds", header, holdRequest(prod.ID, 1+int64(i%3)))
			loads[w] = append(loads[w], a)
			return a.status == http.StatusCreated
		})
	})
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	time.Sleep(400 * time.Millisecond)
	cutAt := time.Now()
	outage(s.proxy)

	// probe asks everything at once and checks every answer; it returns
	// the product served.
	probe := func(when string) httpapi.ProductJSON {
		type request struct {
			name, method, path string
			header             map[string]string
			body               any
			want               int
		}
		requests := []request{
			{"liveness", http.MethodGet, "/healthz", nil, nil, http.StatusOK},
			{"readiness", http.MethodGet, "/readyz", nil, nil, http.StatusServiceUnavailable},
			{"a loaded product", http.MethodGet, fmt.Sprintf("/api/products/%d", prod.ID), nil, nil, http.StatusOK},
			{"a hold", http.MethodPost, "/api/holds", nil, holdRequest(prod.ID, 1), http.StatusServiceUnavailable},
			{"a hold with a key", http.MethodPost, "/api/holds", keyHeader("probe " + when), holdRequest(prod.ID, 1), http.StatusServiceUnavailable},
			{"a hold of a product not loaded", http.MethodPost, "/api/holds", nil, holdRequest(cold.ID, 1), http.StatusServiceUnavailable},
			{"a product not loaded", http.MethodGet, fmt.Sprintf("/api/products/%d", cold.ID), nil, nil, http.StatusServiceUnavailable},
			{"an order", http.MethodPost, "/api/orders", nil, map[string]int64{"hold_id": first.HoldID}, http.StatusServiceUnavailable},
			{"a payment webhook", http.MethodPost, "/api/payments/webhook", nil,
				map[string]any{"idempotency_key": "probe " + when, "order_id": order.OrderID, "status": "success"}, http.StatusServiceUnavailable},
			{"a restock", http.MethodPatch, fmt.Sprintf("/api/admin/products/%d", prod.ID), adminHeaders,
				map[string]int64{"stock": stock + 1}, http.StatusServiceUnavailable},
			{"a new product", http.MethodPost, "/api/admin/products", adminHeaders,
				map[string]any{"name": "During the outage", "price": "1.00", "stock": 1}, http.StatusServiceUnavailable},
			{"a hold's status", http.MethodGet, fmt.Sprintf("/api/holds/%d", first.HoldID), nil, nil, http.StatusServiceUnavailable},
		}
		answers := make([]faultReply, len(requests))
		var pwg sync.WaitGroup
		for i, r := range requests {
			pwg.Go(func() { answers[i] = faultCall(c, r.method, s.base+r.path, r.header, r.body) })
		}
		pwg.Wait()
		var served httpapi.ProductJSON
		for i, r := range requests {
			a := answers[i]
			switch {
			case r.want == http.StatusServiceUnavailable:
				if problem := unavailableProblem(a); problem != "" {
					t.Errorf("%s, %s: %s", when, r.name, problem)
				}
			case a.err != nil || a.status != r.want || a.took() > faultTimeout+answerSlack:
				t.Errorf("%s, %s: %v; want %d within the request timeout", when, r.name, a, r.want)
			case r.path == fmt.Sprintf("/api/products/%d", prod.ID):
				if err := json.Unmarshal(a.body, &served); err != nil || served.ID != prod.ID || served.Stock != stock ||
					served.AvailableStock < 0 || served.AvailableStock > stock {
					t.Errorf("%s, %s: %v (%v); want the product with stock %d", when, r.name, a, err, stock)
				}
			}
		}
		return served
	}
	time.Sleep(300 * time.Millisecond)
	early := probe("early in the outage")
	time.Sleep(time.Until(cutAt.Add(faultTimeout + 500*time.Millisecond)))
	late := probe("after every request of before the cut timed out")
	if early != late {
		t.Errorf("the product served changed during the outage, from %+v to %+v: nothing can have committed", early, late)
	}
	restoreAt := time.Now()
	s.proxy.Restore()

	// The server recovers by itself: a hold is placed, readiness is back.
	var recovered httpapi.HoldJSON
	if problem := actorstest.Poll(10*time.Second, 100*time.Millisecond, func() string {
		a := faultCall(c, http.MethodPost, s.base+"/api/holds", nil, holdRequest(prod.ID, 2))
		if a.err == nil && a.status == http.StatusCreated {
			recovered = decodeHoldReply(t, a)
			return ""
		}
		if a.err != nil || a.status != http.StatusServiceUnavailable {
			t.Errorf("after the outage: %v; want 201, or 503 while recovering", a)
		}
		return a.String()
	}); problem != "" {
		t.Fatalf("no hold placed within 10s of the database's return; the last answer: %s", problem)
	}
	t.Logf("a hold was placed %v after the database came back", time.Since(restoreAt).Round(time.Millisecond))
	if problem := actorstest.Poll(5*time.Second, 100*time.Millisecond, func() string {
		if a := faultCall(c, http.MethodGet, s.base+"/readyz", nil, nil); a.status != http.StatusOK {
			return a.String()
		}
		return ""
	}); problem != "" {
		t.Errorf("not ready after the outage: %s", problem)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	acked := []httpapi.HoldJSON{first, recovered}
	var before, during, after, refused int
	for _, load := range loads {
		for _, a := range load {
			inOutage := a.sent.After(cutAt) && a.got.Before(restoreAt)
			switch {
			case a.err != nil:
				t.Errorf("load: %v", a)
			case a.took() > faultTimeout+answerSlack:
				t.Errorf("load: %v; want an answer within the request timeout of %v", a, faultTimeout)
			case a.status == http.StatusCreated:
				var h httpapi.HoldJSON
				if err := json.Unmarshal(a.body, &h); err != nil || h.HoldID < 1 || h.ProductID != prod.ID || h.Status != "active" {
					t.Errorf("load: %v: not an active hold of product %d", a, prod.ID)
					continue
				}
				acked = append(acked, h)
				switch {
				case inOutage:
					t.Errorf("load: %v: acknowledged while the database was away", a)
				case a.got.Before(cutAt):
					before++
				case a.sent.After(restoreAt):
					after++
				}
			case a.status == http.StatusServiceUnavailable:
				if problem := unavailableProblem(a); problem != "" {
					t.Errorf("load: %s", problem)
				}
				refused++
				if inOutage {
					during++
				}
			default:
				t.Errorf("load: %v; want 201 or 503", a)
			}
		}
	}
	t.Logf("load: %d holds acknowledged before the cut, %d after the recovery; %d refused, %d of them during the outage",
		before, after, refused, during)
	if before == 0 || during == 0 {
		t.Fatalf("the load got %d holds before the cut and %d refusals during the outage: the test proved nothing", before, during)
	}

	st := checkDatabase(t, s.db, prod.ID, acked)
	t.Logf("%d active holds in the database, %d acknowledged", len(st.ActiveHolds), len(acked))
	if got := getProduct(t, c, s.proc, prod.ID); got.AvailableStock != stock-st.Product.Taken() {
		t.Errorf("after the outage: available %d; the database has %d of %d units taken", got.AvailableStock, st.Product.Taken(), stock)
	}
	checkHoldsOverHTTP(t, c, s.proc, acked)
	if s.exited() {
		t.Fatalf("the server exited during the outage")
	}
	s.terminate(t)
	assertCheckPasses(t, s.url)
}

// TestHoldsExpiringDuringAnOutageAreReleasedWhenItEnds lets holds expire
// while the database is away, after a write was refused. Readers see them
// released at once; the database has them released within seconds of its
// return, and the books add up.
func TestHoldsExpiringDuringAnOutageAreReleasedWhenItEnds(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	s := cutOffWithHolds(t, ttl)
	c, stock := s.c, s.stock
	refusedAt := time.Now()
	for _, header := range []map[string]string{nil, keyHeader("during the outage")} {
		if problem := unavailableProblem(faultCall(c, http.MethodPost, s.base+"/api/holds", header, holdRequest(1, 5))); problem != "" {
			t.Errorf("a hold during the outage: %s", problem)
		}
	}
	// Past the expiry of every hold taken before the cut, and of any the
	// refused requests might have taken.
	time.Sleep(max(time.Until(s.lastExpiry), time.Until(refusedAt.Add(ttl+time.Second))) + 300*time.Millisecond)
	got := getProduct(t, c, s.proc, 1)
	if got.AvailableStock != stock {
		t.Errorf("during the outage, after every hold expired: served %+v; want all %d units available", got, stock)
	}
	// The release that read set off fails while the database is still
	// away; TestAReadAsTheDatabaseReturnsWritesNothingRefused has it meet
	// the database's return.
	time.Sleep(500 * time.Millisecond)
	s.proxy.Restore()

	s.checkReleased(t)
	if got := placeHold(t, c, s.proc, 1, 1); got.Qty != 1 {
		t.Fatalf("a hold after the outage: %+v", got)
	}
	if got := getProduct(t, c, s.proc, 1); got.AvailableStock != stock-1 {
		t.Errorf("after one more hold of 1: %+v; want %d available", got, stock-1)
	}
	assertCheckPasses(t, s.url)
}

// TestAReadAsTheDatabaseReturnsWritesNothingRefused has holds expire while
// the database is away, a write refused shortly before it returns, and a
// reader arriving as it does. The units of the refused hold must never be
// written as held: the database ends with the holds released, nothing
// held, and a journal without gaps.
func TestAReadAsTheDatabaseReturnsWritesNothingRefused(t *testing.T) {
	t.Parallel()
	s := cutOffWithHolds(t, 2*time.Second)
	c, stock := s.c, s.stock
	// Refused shortly before the first hold expires: a hold it took would
	// still be running when the database returns.
	time.Sleep(time.Until(s.firstExpiry.Add(-700 * time.Millisecond)))
	if problem := unavailableProblem(faultCall(c, http.MethodPost, s.base+"/api/holds", nil, holdRequest(1, 5))); problem != "" {
		t.Errorf("a hold during the outage: %s", problem)
	}
	time.Sleep(time.Until(s.lastExpiry.Add(200 * time.Millisecond)))
	s.proxy.Restore()
	if got := getProduct(t, c, s.proc, 1); got.AvailableStock != stock {
		t.Errorf("as the database returned, after every hold expired: served %+v; want all %d units available", got, stock)
	}

	s.checkReleased(t)
	assertCheckPasses(t, s.url)
}

// cutOffHolds is a faulty server whose database was cut off after holds
// of 2, 3 and 4 units of product 1 were placed.
type cutOffHolds struct {
	faultyServer
	c                       *http.Client
	stock                   int64 // product 1's
	holds                   []httpapi.HoldJSON
	firstExpiry, lastExpiry time.Time // the earliest and latest among the holds
}

// cutOffWithHolds starts a faulty server whose holds last ttl, places the
// holds, and cuts the database off.
func cutOffWithHolds(t *testing.T, ttl time.Duration) cutOffHolds {
	t.Helper()
	s := cutOffHolds{faultyServer: startFaultyServer(t, "--hold-ttl", ttl.String(), "--request-timeout", faultTimeout.String()),
		c: newClient(t)}
	s.stock = getProduct(t, s.c, s.proc, 1).Stock
	for _, q := range []int64{2, 3, 4} {
		h := placeHold(t, s.c, s.proc, 1, q)
		at, err := time.Parse(time.RFC3339, h.ExpiresAt)
		if err != nil {
			t.Fatalf("hold %+v: %v", h, err)
		}
		s.holds = append(s.holds, h)
		if s.firstExpiry.IsZero() || at.Before(s.firstExpiry) {
			s.firstExpiry = at
		}
		if at.After(s.lastExpiry) {
			s.lastExpiry = at
		}
	}
	s.proxy.Cut()
	return s
}

// checkReleased requires the database to show, within five seconds, every
// hold expired and product 1 holding nothing, each release journalled
// once, and the full stock served.
func (s cutOffHolds) checkReleased(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	if problem := actorstest.Poll(5*time.Second, 100*time.Millisecond, func() string {
		st, err := s.db.LoadProduct(ctx, 1)
		if err != nil {
			return err.Error()
		}
		if st.Product.Held != 0 || len(st.ActiveHolds) != 0 {
			return fmt.Sprintf("product %+v with %d active holds", st.Product, len(st.ActiveHolds))
		}
		for _, h := range s.holds {
			if got, err := s.db.Hold(ctx, h.HoldID); err != nil || got.Status != flashsale.HoldExpired {
				return fmt.Sprintf("hold %d is %q (%v)", h.HoldID, got.Status, err)
			}
		}
		return ""
	}); problem != "" {
		t.Errorf("5s after the database returned, it still shows %s; want every hold expired and nothing held", problem)
	} else {
		t.Logf("the database showed every hold released %v after it returned", time.Since(start).Round(time.Millisecond))
	}
	created, expired := map[int64]int{}, map[int64]int{}
	for _, e := range actorstest.Journal(t, s.db, 1) {
		switch e.Kind {
		case flashsale.EventHoldCreated:
			created[e.HoldID]++
		case flashsale.EventHoldExpired:
			expired[e.HoldID]++
		}
	}
	for _, h := range s.holds {
		if created[h.HoldID] != 1 || expired[h.HoldID] != 1 {
			t.Errorf("hold %d: journalled as created %d times and expired %d times; want once each",
				h.HoldID, created[h.HoldID], expired[h.HoldID])
		}
	}
	if len(created) != len(s.holds) {
		t.Errorf("the journal has %d holds created; want only the %d acknowledged: %v", len(created), len(s.holds), created)
	}
	if got := getProduct(t, s.c, s.proc, 1); got.AvailableStock != s.stock {
		t.Errorf("after the outage: served %+v; want all %d units available", got, s.stock)
	}
}

// TestCommitOutcomeUnknownLosesNoHoldAndDoublesNone breaks the connection
// right after the server sent a batch's COMMIT: once with the COMMIT
// carried out and its answer lost, once with the COMMIT lost. The caller
// hears 503; the actor reloads before it answers, so readers see the
// database's truth at once; a retry with the same Idempotency-Key finds
// the committed hold or makes exactly one; the books add up. Then the same
// for a burst of concurrent holds.
func TestCommitOutcomeUnknownLosesNoHoldAndDoublesNone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		landed bool
	}{
		{"COMMIT carried out, answer lost", true},
		{"COMMIT lost", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startFaultyServer(t, "--hold-ttl", "10m", "--request-timeout", faultTimeout.String())
			c := newClient(t)
			trap := func() <-chan struct{} {
				if tc.landed {
					return s.proxy.DropAfter([]byte("COMMIT"))
				}
				return s.proxy.DropBefore([]byte("COMMIT"))
			}

			t.Run("one hold", func(t *testing.T) {
				const stock, qty = 10, 5
				prod := createProduct(t, c, s.proc, adminToken, "In doubt", stock)
				// The warm-up loads the actor and reserves hold ids: the
				// next COMMIT on the wire is the batch of the hold below.
				warm := placeHold(t, c, s.proc, prod.ID, 1)
				fired := trap()
				const key = "in-doubt"
				a := faultCall(c, http.MethodPost, s.base+"/api/holds", keyHeader(key), holdRequest(prod.ID, qty))
				select {
				case <-fired:
				case <-time.After(5 * time.Second):
					t.Fatalf("the proxy saw no COMMIT; the hold got %v", a)
				}
				if problem := unavailableProblem(a); problem != "" {
					t.Fatalf("the hold whose COMMIT went unanswered: %s", problem)
				}

				// The actor reloaded before it answered: readers see at once
				// whether the hold was committed.
				want := stock - 1 - qty
				if !tc.landed {
					want = stock - 1
				}
				if got := getProduct(t, c, s.proc, prod.ID); got.AvailableStock != int64(want) {
					t.Errorf("right after the 503: served %+v; want %d available, as in the database", got, want)
				}
				if tc.landed {
					// Decided on the committed state: one more unit than is
					// left is refused.
					mustCall(t, c, http.MethodPost, s.base+"/api/holds", "", holdRequest(prod.ID, int64(want)+1), http.StatusConflict, nil)
				}

				retry := decodeHoldReply(t, faultCall(c, http.MethodPost, s.base+"/api/holds", keyHeader(key), holdRequest(prod.ID, qty)))
				stored, err := s.db.HoldByKey(context.Background(), key)
				if err != nil {
					t.Fatalf("HoldByKey after the retry: %v", err)
				}
				if retry.HoldID != stored.ID || retry.Qty != qty || retry.ProductID != prod.ID {
					t.Errorf("the retry got %+v; the database has hold %d of %d under the key", retry, stored.ID, stored.Qty)
				}
				if n := countHoldsWithKey(t, s.url, key); n != 1 {
					t.Errorf("%d holds carry the key; want exactly one", n)
				}
				again := decodeHoldReply(t, faultCall(c, http.MethodPost, s.base+"/api/holds", keyHeader(key), holdRequest(prod.ID, qty)))
				if again != retry {
					t.Errorf("a second retry got %+v; the first %+v", again, retry)
				}
				st := checkDatabase(t, s.db, prod.ID, []httpapi.HoldJSON{warm, retry})
				if len(st.ActiveHolds) != 2 || st.Product.Held != 1+qty {
					t.Errorf("the database has %d active holds, %d units held; want the warm-up and the retried hold, %d units",
						len(st.ActiveHolds), st.Product.Held, 1+qty)
				}
				if got := getProduct(t, c, s.proc, prod.ID); got.AvailableStock != stock-1-qty {
					t.Errorf("after the retry: served %+v; want %d available", got, stock-1-qty)
				}
			})

			t.Run("a burst", func(t *testing.T) {
				const holds = 24
				prod := createProduct(t, c, s.proc, adminToken, "Burst in doubt", 1000)
				getProduct(t, c, s.proc, prod.ID) // loads the actor
				fired := trap()
				first := make([]faultReply, holds)
				var wg sync.WaitGroup
				for i := range holds {
					wg.Go(func() {
						first[i] = faultCall(c, http.MethodPost, s.base+"/api/holds", keyHeader(fmt.Sprintf("burst-%d", i)), holdRequest(prod.ID, 1))
					})
				}
				wg.Wait()
				select {
				case <-fired:
				case <-time.After(5 * time.Second):
					t.Fatal("the proxy saw no COMMIT")
				}
				final := make([]httpapi.HoldJSON, holds)
				refused := 0
				for i, a := range first {
					switch {
					case a.err == nil && a.status == http.StatusCreated:
						final[i] = decodeHoldReply(t, a)
						continue
					case unavailableProblem(a) != "":
						t.Errorf("burst hold %d: %s", i, unavailableProblem(a))
						continue
					}
					refused++
					final[i] = decodeHoldReply(t, faultCall(c, http.MethodPost, s.base+"/api/holds", keyHeader(fmt.Sprintf("burst-%d", i)), holdRequest(prod.ID, 1)))
				}
				t.Logf("%d of %d holds heard 503 and were retried", refused, holds)
				if refused == 0 {
					t.Errorf("no hold heard 503, although a COMMIT went unanswered")
				}
				ids := map[int64]int{}
				for i, h := range final {
					if h.HoldID == 0 {
						continue
					}
					if prev, dup := ids[h.HoldID]; dup {
						t.Errorf("holds %d and %d got the same hold %d", prev, i, h.HoldID)
					}
					ids[h.HoldID] = i
					stored, err := s.db.HoldByKey(context.Background(), fmt.Sprintf("burst-%d", i))
					if err != nil || stored.ID != h.HoldID {
						t.Errorf("burst hold %d: answered %+v; the database has %+v under its key (%v)", i, h, stored, err)
					}
					if n := countHoldsWithKey(t, s.url, fmt.Sprintf("burst-%d", i)); n != 1 {
						t.Errorf("burst hold %d: %d holds carry its key; want exactly one", i, n)
					}
				}
				st := checkDatabase(t, s.db, prod.ID, final)
				if len(st.ActiveHolds) != holds || st.Product.Held != holds {
					t.Errorf("the database has %d active holds and %d units held; want %d of each", len(st.ActiveHolds), st.Product.Held, holds)
				}
				if got := getProduct(t, c, s.proc, prod.ID); got.AvailableStock != 1000-holds {
					t.Errorf("served %+v; want %d available", got, 1000-holds)
				}
			})
			s.terminate(t)
			assertCheckPasses(t, s.url)
		})
	}
}

// TestSlowDatabaseCollapsesConcurrentHoldsIntoFewCommits adds 50ms each
// way to every exchange with the database. A burst of concurrent holds
// all succeed, none runs out of time, and they are committed in batches
// of more than one.
func TestSlowDatabaseCollapsesConcurrentHoldsIntoFewCommits(t *testing.T) {
	t.Parallel()
	s := startFaultyServer(t, "--hold-ttl", "10m")
	c := newClient(t)
	const burst, stock = 200, 1_000_000
	prod := createProduct(t, c, s.proc, adminToken, "Slow", stock)
	warm := placeHold(t, c, s.proc, prod.ID, 1) // loads the actor, reserves hold ids
	sumBefore, countBefore := batchStats(t, c, s.proc)

	s.proxy.SetLatency(50 * time.Millisecond)
	answers := make([]faultReply, burst)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range burst {
		wg.Go(func() {
			<-start
			answers[i] = faultCall(c, http.MethodPost, s.base+"/api/holds", nil, holdRequest(prod.ID, 1))
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)
	s.proxy.SetLatency(0)

	acked := []httpapi.HoldJSON{warm}
	for _, a := range answers {
		if a.err != nil || a.status != http.StatusCreated {
			t.Errorf("%v; want 201", a)
			continue
		}
		acked = append(acked, decodeHoldReply(t, a))
	}
	sumAfter, countAfter := batchStats(t, c, s.proc)
	commits, changes := countAfter-countBefore, sumAfter-sumBefore
	t.Logf("%d holds in %v commits, in %v", burst, commits, took.Round(time.Millisecond))
	if changes != burst {
		t.Errorf("the batches committed %v changes; want the %d holds", changes, burst)
	}
	if commits < 1 || changes/commits <= 1 {
		t.Errorf("%v changes in %v commits: want more than one change per commit on average", changes, commits)
	}
	st := checkDatabase(t, s.db, prod.ID, acked)
	if len(st.ActiveHolds) != len(acked) {
		t.Errorf("%d active holds in the database; want the %d acknowledged", len(st.ActiveHolds), len(acked))
	}
	s.terminate(t)
	assertCheckPasses(t, s.url)
}
