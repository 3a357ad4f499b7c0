package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Scenarios of `flashsale bench`.
const (
	scenarioHot      = "hot"      // one product, everyone holds 1 unit
	scenarioSpread   = "spread"   // --products products, holds spread uniformly
	scenarioSellout  = "sellout"  // --stock units, many more buyers
	scenarioCheckout = "checkout" // hold → order → signed success webhook
	scenarioRead     = "read"     // reads of a product whose stock changes
	scenarioCeiling  = "ceiling"  // GET /healthz: the most the stack serves
)

var benchScenarios = []string{scenarioHot, scenarioSpread, scenarioSellout, scenarioCheckout, scenarioRead, scenarioCeiling}

const (
	// benchBigStock is the stock of products that must never sell out
	// during a run (hot, spread, checkout, read).
	benchBigStock = 100_000_000
	// benchBuyersPerUnit is how many buyers a sellout has per unit.
	benchBuyersPerUnit = 10
	// benchRequestTimeout bounds every request, also those still in
	// flight when the run ends.
	benchRequestTimeout = 30 * time.Second
	// benchCheckTimeout bounds reading the books after the run.
	benchCheckTimeout = 2 * time.Minute
	// benchMaxLatency is the largest latency the histograms tell apart;
	// larger ones are recorded as this.
	benchMaxLatency = time.Minute
	// benchShownProblems is how many problems of the books are printed.
	benchShownProblems = 20
)

// Operations a run measures, each with its own latencies and statuses.
const (
	opHold    = "hold"    // POST /api/holds
	opOrder   = "order"   // POST /api/orders
	opWebhook = "webhook" // POST /api/payments/webhook
	opRead    = "read"    // GET /api/products/{id}
	opHealth  = "healthz" // GET /healthz
)

// bench is `flashsale bench`: it loads a running server with one scenario
// and checks the books afterwards. A books mismatch is an error (exit 1).
func bench(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	b, err := newBencher(cfg, stderr)
	if err != nil {
		return err
	}
	defer b.client.CloseIdleConnections()
	if err := b.preflight(ctx); err != nil {
		return err
	}
	summary := benchSummary{
		Target: b.target, Connections: cfg.Connections, Duration: cfg.Duration.String(), Rate: cfg.Rate,
		OpenLoop: cfg.Rate > 0,
	}
	var ceiling *loadSummary
	if cfg.Compare == scenarioCeiling {
		c := b.load(ctx, newScenarioRun(b, scenarioCeiling))
		ceiling = &c
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	sc := newScenarioRun(b, cfg.Scenario)
	if err := sc.setup(ctx); err != nil {
		return err
	}
	summary.loadSummary = b.load(ctx, sc)
	checkCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), benchCheckTimeout)
	defer cancel()
	summary.Books = sc.checkBooks(checkCtx)
	if ceiling != nil {
		summary.Ceiling = &ceilingSummary{loadSummary: *ceiling}
		if ceiling.RequestsPerSecond > 0 {
			summary.Ceiling.Ratio = summary.RequestsPerSecond / ceiling.RequestsPerSecond
		}
	}
	if cfg.JSON {
		line, err := json.Marshal(summary)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", line)
	} else {
		summary.print(stdout)
	}
	if !summary.Books.OK {
		return fmt.Errorf("bench %s: the books do not balance (%d problems)", cfg.Scenario, len(summary.Books.Problems))
	}
	return nil
}

// bencher is what every phase of a run shares: the settings, the one HTTP
// client and the stderr progress.
type bencher struct {
	cfg    config
	client *http.Client
	target string // the --target URL without a trailing slash
	runID  string // names this run's products and webhook keys
	stderr io.Writer
}

func newBencher(cfg config, stderr io.Writer) (*bencher, error) {
	if cfg.Scenario != scenarioCeiling && cfg.AdminToken == "" {
		return nil, &settingError{"--admin-token", fmt.Errorf("the %s scenario creates its products through the admin API and needs the server's admin token", cfg.Scenario)}
	}
	var id [4]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	return &bencher{
		cfg:    cfg,
		client: newBenchClient(cfg.Connections),
		target: strings.TrimRight(cfg.Target, "/"),
		runID:  hex.EncodeToString(id[:]),
		stderr: stderr,
	}, nil
}

// newBenchClient is the one client of a run: a connection per worker,
// kept alive and reused, to the target only (no proxy, no redirects).
func newBenchClient(connections int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        connections,
		MaxIdleConnsPerHost: connections,
		MaxConnsPerHost:     connections,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   benchRequestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// answer is what one request got: a status and body, or no answer.
type answer struct {
	status int
	body   []byte
	err    error
}

// ambiguous is true when the request may or may not have taken effect:
// no answer, or a server error (a commit that failed may have happened).
func (a answer) ambiguous() bool { return a.err != nil || a.status >= 500 }

func (b *bencher) do(ctx context.Context, method, path string, body []byte, header http.Header) answer {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.target+path, rd)
	if err != nil {
		return answer{err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{err: err}
	}
	return answer{status: resp.StatusCode, body: raw}
}

func (b *bencher) admin() http.Header {
	return http.Header{"Authorization": {"Bearer " + b.cfg.AdminToken}}
}

// preflight fails at once when the target does not answer.
func (b *bencher) preflight(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	a := b.do(ctx, http.MethodGet, "/healthz", nil, nil)
	switch {
	case a.err != nil:
		return fmt.Errorf("target %s does not answer: %w", b.target, a.err)
	case a.status != http.StatusOK:
		return fmt.Errorf("target %s: GET /healthz answered %d", b.target, a.status)
	}
	return nil
}

func (b *bencher) progress(format string, args ...any) {
	fmt.Fprintf(b.stderr, "bench: "+format+"\n", args...)
}

// benchProduct is a product as GET /api/products/{id} shows it.
type benchProduct struct {
	ID             int64 `json:"id"`
	Stock          int64 `json:"stock"`
	AvailableStock int64 `json:"available_stock"`
}

// createProducts makes n products of the given stock through the admin
// API, on all connections at once. It returns their ids in order.
func (b *bencher) createProducts(ctx context.Context, n int, stock int64) ([]int64, error) {
	ids := make([]int64, n)
	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	start := time.Now()
	for range min(n, b.cfg.Connections) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				body, _ := json.Marshal(map[string]any{
					"name": fmt.Sprintf("bench %s %s #%d", b.cfg.Scenario, b.runID, i+1), "price": "1.00", "stock": stock,
				})
				a := b.do(ctx, http.MethodPost, "/api/admin/products", body, b.admin())
				var p benchProduct
				switch {
				case a.err != nil:
					fail(fmt.Errorf("creating a product: %w", a.err))
				case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
					fail(fmt.Errorf("creating a product: the server refused the admin token (%d)", a.status))
				case a.status != http.StatusCreated:
					fail(fmt.Errorf("creating a product: POST /api/admin/products answered %d %s", a.status, bytes.TrimSpace(a.body)))
				case json.Unmarshal(a.body, &p) != nil || p.ID < 1 || p.Stock != stock || p.AvailableStock != stock:
					fail(fmt.Errorf("creating a product: unexpected answer %s", bytes.TrimSpace(a.body)))
				default:
					ids[i] = p.ID
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n == 1 {
		b.progress("created product %d (stock %d)", ids[0], stock)
	} else {
		b.progress("created %d products, ids %d to %d, stock %d each, in %v",
			n, slices.Min(ids), slices.Max(ids), stock, time.Since(start).Round(time.Millisecond))
	}
	return ids, nil
}

// readProducts reads the products on all connections at once.
func (b *bencher) readProducts(ctx context.Context, ids []int64) ([]benchProduct, []string) {
	got := make([]benchProduct, len(ids))
	failed := make([]string, len(ids))
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(len(ids), b.cfg.Connections) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) {
					return
				}
				a := b.do(ctx, http.MethodGet, fmt.Sprintf("/api/products/%d", ids[i]), nil, nil)
				switch {
				case a.err != nil:
					failed[i] = fmt.Sprintf("product %d: could not be read: %v", ids[i], a.err)
				case a.status != http.StatusOK:
					failed[i] = fmt.Sprintf("product %d: GET answered %d %s", ids[i], a.status, bytes.TrimSpace(a.body))
				case json.Unmarshal(a.body, &got[i]) != nil || got[i].ID != ids[i]:
					failed[i] = fmt.Sprintf("product %d: unexpected answer %s", ids[i], bytes.TrimSpace(a.body))
				}
			}
		})
	}
	wg.Wait()
	var problems []string
	for _, f := range failed {
		if f != "" {
			problems = append(problems, f)
		}
	}
	return got, problems
}

// scenarioRun is one scenario: its products, what each request does, and
// what the server told it, for the books.
type scenarioRun struct {
	b        *bencher
	name     string
	products []int64
	stock    int64 // of each product
	holders  int   // read: the connections that hold rather than read

	// What the server answered, per product index: units it said it
	// holds, and units of holds whose answer was ambiguous.
	told, unsure []atomic.Int64
	// Sellout: buyers who have not tried yet.
	buyersLeft atomic.Int64
	// The earliest expires_at of the holds told, as Unix seconds: the
	// books are exact only while no hold has expired.
	firstExpiry atomic.Int64

	// Checkout: orders and payments the server confirmed, or answered
	// ambiguously; the orders it said are paid.
	orders, ordersUnsure, paid, paidUnsure atomic.Int64
	paidMu                                 sync.Mutex
	paidOrders                             []int64
}

func newScenarioRun(b *bencher, name string) *scenarioRun {
	return &scenarioRun{b: b, name: name}
}

// setup creates the scenario's products.
func (s *scenarioRun) setup(ctx context.Context) error {
	n, stock := 1, int64(benchBigStock)
	switch s.name {
	case scenarioCeiling:
		return nil
	case scenarioSpread:
		n = int(s.b.cfg.Products)
	case scenarioSellout:
		stock = s.b.cfg.Stock
		s.buyersLeft.Store(stock * benchBuyersPerUnit)
	case scenarioRead:
		s.holders = s.b.cfg.Connections / 4
		if s.holders == 0 && s.b.cfg.Connections > 1 {
			s.holders = 1
		}
	}
	ids, err := s.b.createProducts(ctx, n, stock)
	if err != nil {
		return err
	}
	s.products, s.stock = ids, stock
	s.told = make([]atomic.Int64, n)
	s.unsure = make([]atomic.Int64, n)
	return nil
}

// iteration is one unit of work of a worker: one request, or a buyer's
// whole checkout. base is when its latency starts: now in a closed loop,
// the scheduled time in an open one. It returns false when the scenario
// has no more work (a sellout's buyers have all tried).
func (s *scenarioRun) iteration(ctx context.Context, st *benchStats, worker int, slot int64, base time.Time) bool {
	switch s.name {
	case scenarioCeiling:
		a := s.b.do(ctx, http.MethodGet, "/healthz", nil, nil)
		st.record(worker, opHealth, a, a.status == http.StatusOK, base)
	case scenarioHot:
		s.hold(ctx, st, worker, 0, base)
	case scenarioSpread:
		s.hold(ctx, st, worker, mathrand.IntN(len(s.products)), base)
	case scenarioSellout:
		if s.buyersLeft.Add(-1) < 0 {
			return false
		}
		s.hold(ctx, st, worker, 0, base)
	case scenarioRead:
		// A closed loop gives a quarter of the connections to holds; an
		// open one a quarter of the requests.
		holder := worker < s.holders
		if s.b.cfg.Rate > 0 {
			holder = slot%4 == 0
		}
		if holder {
			s.hold(ctx, st, worker, 0, base)
			break
		}
		a := s.b.do(ctx, http.MethodGet, fmt.Sprintf("/api/products/%d", s.products[0]), nil, nil)
		st.record(worker, opRead, a, a.status == http.StatusOK, base)
	case scenarioCheckout:
		s.checkout(ctx, st, worker, base)
	}
	return true
}

type benchHold struct {
	HoldID    int64  `json:"hold_id"`
	ProductID int64  `json:"product_id"`
	Qty       int64  `json:"qty"`
	Status    string `json:"status"`
	ExpiresAt string `json:"expires_at"`
}

// hold asks for 1 unit of the product at index i and tallies the answer.
// It returns the hold when the server said it holds it.
func (s *scenarioRun) hold(ctx context.Context, st *benchStats, worker, i int, base time.Time) (benchHold, bool) {
	id := s.products[i]
	a := s.b.do(ctx, http.MethodPost, "/api/holds", fmt.Appendf(nil, `{"product_id":%d,"qty":1}`, id), nil)
	var h benchHold
	switch {
	case a.status == http.StatusCreated:
		if json.Unmarshal(a.body, &h) != nil || h.HoldID < 1 || h.ProductID != id || h.Qty != 1 || h.Status != "active" {
			// A success that does not say what it holds: counted as
			// maybe, so that the books stay provable.
			s.unsure[i].Add(1)
			st.record(worker, opHold, a, false, base)
			return h, false
		}
		s.told[i].Add(1)
		if exp, err := time.Parse(time.RFC3339, h.ExpiresAt); err == nil {
			s.noteExpiry(exp.Unix())
		}
		st.record(worker, opHold, a, true, base)
		return h, true
	case a.ambiguous():
		s.unsure[i].Add(1)
	}
	st.record(worker, opHold, a, a.status == http.StatusConflict, base)
	return h, false
}

func (s *scenarioRun) noteExpiry(unix int64) {
	for {
		cur := s.firstExpiry.Load()
		if cur != 0 && cur <= unix {
			return
		}
		if s.firstExpiry.CompareAndSwap(cur, unix) {
			return
		}
	}
}

// checkout is one buyer: a hold, an order for it, and the provider's
// signed success webhook for the order.
func (s *scenarioRun) checkout(ctx context.Context, st *benchStats, worker int, base time.Time) {
	h, ok := s.hold(ctx, st, worker, 0, base)
	if !ok {
		return
	}
	start := time.Now()
	a := s.b.do(ctx, http.MethodPost, "/api/orders", fmt.Appendf(nil, `{"hold_id":%d}`, h.HoldID), nil)
	var o struct {
		OrderID int64  `json:"order_id"`
		HoldID  int64  `json:"hold_id"`
		Status  string `json:"status"`
	}
	created := a.status == http.StatusCreated && json.Unmarshal(a.body, &o) == nil &&
		o.OrderID > 0 && o.HoldID == h.HoldID && o.Status == "pending_payment"
	st.record(worker, opOrder, a, created, start)
	switch {
	case created:
		s.orders.Add(1)
	case a.ambiguous() || a.status == http.StatusCreated:
		s.ordersUnsure.Add(1)
		return
	default:
		return
	}
	start = time.Now()
	body := fmt.Appendf(nil, `{"idempotency_key":"bench-%s-%d","order_id":%d,"status":"success"}`, s.b.runID, o.OrderID, o.OrderID)
	var header http.Header
	if s.b.cfg.WebhookSecret != "" {
		header = http.Header{"X-Signature": {webhookSignature(s.b.cfg.WebhookSecret, body)}}
	}
	a = s.b.do(ctx, http.MethodPost, "/api/payments/webhook", body, header)
	var p struct {
		OrderID int64  `json:"order_id"`
		Status  string `json:"status"`
	}
	paid := a.status == http.StatusOK && json.Unmarshal(a.body, &p) == nil && p.OrderID == o.OrderID && p.Status == "paid"
	st.record(worker, opWebhook, a, paid, start)
	switch {
	case paid:
		s.paid.Add(1)
		s.paidMu.Lock()
		s.paidOrders = append(s.paidOrders, o.OrderID)
		s.paidMu.Unlock()
	case a.ambiguous() || a.status == http.StatusOK:
		s.paidUnsure.Add(1)
	}
}

// webhookSignature is the X-Signature the server expects of a webhook
// body: sha256= and the lowercase hex HMAC-SHA256 of the raw body.
func webhookSignature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// load runs the scenario's workers for the duration: in a closed loop each
// sends as soon as it has its answer; with --rate, iterations are scheduled
// at fixed intervals and their latency counts from the scheduled time.
func (b *bencher) load(ctx context.Context, s *scenarioRun) loadSummary {
	cfg := b.cfg
	st := newBenchStats(cfg.Connections)
	mode := "closed loop"
	if cfg.Rate > 0 {
		mode = fmt.Sprintf("open loop at %g/s", cfg.Rate)
	}
	b.progress("%s: %d connections, %s, %v", s.name, cfg.Connections, mode, cfg.Duration)
	start := time.Now()
	end := start.Add(cfg.Duration)
	// Requests in flight when the run ends finish: cutting them would
	// leave their outcome unknown. Each is bounded by the client timeout.
	reqCtx := context.WithoutCancel(ctx)
	runCtx, cancel := context.WithDeadline(ctx, end)
	defer cancel()

	var (
		wg       sync.WaitGroup
		slots    atomic.Int64 // open loop: the next scheduled slot
		started  atomic.Int64 // iterations begun
		finished atomic.Bool  // the scenario ran out of work
	)
	interval := 0.0
	if cfg.Rate > 0 {
		interval = float64(time.Second) / cfg.Rate
	}
	for w := range cfg.Connections {
		wg.Go(func() {
			if cfg.Rate == 0 {
				for runCtx.Err() == nil {
					started.Add(1)
					if !s.iteration(reqCtx, st, w, 0, time.Now()) {
						finished.Store(true)
						return
					}
				}
				return
			}
			timer := time.NewTimer(0)
			defer timer.Stop()
			for {
				slot := slots.Add(1) - 1
				at := start.Add(time.Duration(float64(slot) * interval))
				if !at.Before(end) || finished.Load() {
					return
				}
				if wait := time.Until(at); wait > 0 {
					timer.Reset(wait)
					select {
					case <-timer.C:
					case <-runCtx.Done():
						return
					}
				}
				if runCtx.Err() != nil {
					return // behind the schedule at the end: never sent
				}
				started.Add(1)
				if !s.iteration(reqCtx, st, w, slot, at) {
					finished.Store(true)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastCount int64
	last := start
	report := func(now time.Time) {
		all := st.snapshot().total()
		rps := float64(all.requests-lastCount) / max(now.Sub(last).Seconds(), 1e-9)
		lastCount, last = all.requests, now
		b.progress("%s %3.0fs  %8.0f req/s  %9d requests  %6d errors  p99 %s",
			s.name, now.Sub(start).Seconds(), rps, all.requests, all.errors, fmtLatency(all.hist.ValueAtQuantile(99)))
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		case now := <-tick.C:
			report(now)
		}
	}
	if now := time.Now(); now.Sub(last) > 100*time.Millisecond {
		report(now) // the last part second, so that even a short run shows one
	}
	elapsed := time.Since(start)
	summary := st.snapshot().summary(s.name, elapsed)
	if cfg.Rate > 0 && !finished.Load() && ctx.Err() == nil {
		scheduled := int64(math.Ceil(cfg.Duration.Seconds() * cfg.Rate))
		summary.Unsent = max(0, scheduled-started.Load())
	}
	return summary
}

// benchStats records latencies and statuses. Workers share it in shards,
// each with its own lock, so that recording is not a point of contention
// and the progress line can still read it while the run goes on.
type benchStats struct {
	shards []*statShard
}

type statShard struct {
	mu  sync.Mutex
	ops map[string]*opStats
}

// opStats is what one operation got.
type opStats struct {
	hist     *hdrhistogram.Histogram // latency in microseconds
	max      int64                   // exact largest latency, microseconds
	requests int64
	errors   int64 // no answer, or not the answer the operation expects
	noAnswer int64
	statuses map[int]int64
}

func newOpStats() *opStats {
	return &opStats{hist: hdrhistogram.New(1, benchMaxLatency.Microseconds(), 3), statuses: map[int]int64{}}
}

func (o *opStats) merge(from *opStats) {
	o.hist.Merge(from.hist)
	o.max = max(o.max, from.max)
	o.requests += from.requests
	o.errors += from.errors
	o.noAnswer += from.noAnswer
	for s, n := range from.statuses {
		o.statuses[s] += n
	}
}

func newBenchStats(connections int) *benchStats {
	st := &benchStats{shards: make([]*statShard, min(connections, 32))}
	for i := range st.shards {
		st.shards[i] = &statShard{ops: map[string]*opStats{}}
	}
	return st
}

// record counts one request of op that began (or was due) at base; ok is
// whether its answer is one the operation expects.
func (st *benchStats) record(worker int, op string, a answer, ok bool, base time.Time) {
	us := min(max(time.Since(base).Microseconds(), 1), benchMaxLatency.Microseconds())
	sh := st.shards[worker%len(st.shards)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	o := sh.ops[op]
	if o == nil {
		o = newOpStats()
		sh.ops[op] = o
	}
	_ = o.hist.RecordValue(us)
	o.max = max(o.max, us)
	o.requests++
	if a.err != nil {
		o.noAnswer++
	} else {
		o.statuses[a.status]++
	}
	if !ok {
		o.errors++
	}
}

// statsSnapshot is every shard merged, per operation.
type statsSnapshot map[string]*opStats

func (st *benchStats) snapshot() statsSnapshot {
	snap := statsSnapshot{}
	for _, sh := range st.shards {
		sh.mu.Lock()
		for op, o := range sh.ops {
			if snap[op] == nil {
				snap[op] = newOpStats()
			}
			snap[op].merge(o)
		}
		sh.mu.Unlock()
	}
	return snap
}

func (snap statsSnapshot) total() *opStats {
	all := newOpStats()
	for _, o := range snap {
		all.merge(o)
	}
	return all
}

func (snap statsSnapshot) summary(scenario string, elapsed time.Duration) loadSummary {
	all := snap.total()
	s := loadSummary{Scenario: scenario, Elapsed: elapsed.Round(time.Millisecond).String(), opSummary: all.summary("", elapsed)}
	ops := make([]string, 0, len(snap))
	for op := range snap {
		ops = append(ops, op)
	}
	slices.SortFunc(ops, func(a, b string) int { return opOrderOf(a) - opOrderOf(b) })
	for _, op := range ops {
		s.Operations = append(s.Operations, snap[op].summary(op, elapsed))
	}
	return s
}

func opOrderOf(op string) int {
	return slices.Index([]string{opHold, opOrder, opWebhook, opRead, opHealth}, op)
}

func (o *opStats) summary(name string, elapsed time.Duration) opSummary {
	s := opSummary{
		Name: name, Requests: o.requests, Errors: o.errors, NoAnswer: o.noAnswer, Statuses: map[string]int64{},
		Latency: latencySummary{
			P50: ms(o.hist.ValueAtQuantile(50)), P90: ms(o.hist.ValueAtQuantile(90)),
			P99: ms(o.hist.ValueAtQuantile(99)), Max: ms(o.max),
		},
	}
	if elapsed > 0 {
		s.RequestsPerSecond = float64(o.requests) / elapsed.Seconds()
	}
	for code, n := range o.statuses {
		s.Statuses[strconv.Itoa(code)] = n
	}
	return s
}

func ms(us int64) float64 { return float64(us) / 1000 }

// benchSummary is the result of `flashsale bench`, as --json prints it.
type benchSummary struct {
	Target      string  `json:"target"`
	Connections int     `json:"connections"`
	Duration    string  `json:"duration"`
	OpenLoop    bool    `json:"open_loop"`
	Rate        float64 `json:"rate"` // iterations per second in an open loop; 0 closed
	loadSummary
	Books   booksSummary    `json:"books"`
	Ceiling *ceilingSummary `json:"ceiling,omitempty"`
}

// loadSummary is one run of a scenario.
type loadSummary struct {
	Scenario string `json:"scenario"`
	Elapsed  string `json:"elapsed"`
	opSummary
	// Unsent counts the iterations an open loop scheduled within the
	// duration but never sent: every connection was busy. Non-zero means
	// the server did not keep up with the rate.
	Unsent     int64       `json:"unsent,omitempty"`
	Operations []opSummary `json:"operations"`
}

type opSummary struct {
	Name              string           `json:"name,omitempty"` // empty for all operations together
	Requests          int64            `json:"requests"`
	RequestsPerSecond float64          `json:"requests_per_second"`
	Errors            int64            `json:"errors"`
	NoAnswer          int64            `json:"no_answer"`
	Latency           latencySummary   `json:"latency_ms"`
	Statuses          map[string]int64 `json:"statuses"`
}

type latencySummary struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

type ceilingSummary struct {
	loadSummary
	Ratio float64 `json:"ratio"` // the scenario's requests/s ÷ the ceiling's
}

// booksSummary is the check of the books after the run.
type booksSummary struct {
	Checked  bool  `json:"checked"` // false when the scenario changes no stock
	OK       bool  `json:"ok"`
	Products int   `json:"products"`
	Stock    int64 `json:"stock"` // of each product
	// Units the server said it holds for the bench, units taken
	// (Σ stock − available_stock), and units whose answer was ambiguous
	// (no answer, or a 5xx: they may or may not have been taken).
	ToldUnits      int64 `json:"told_units"`
	TakenUnits     int64 `json:"taken_units"`
	AmbiguousUnits int64 `json:"ambiguous_units"`
	// Checkout: orders created, orders the webhook said paid, and the
	// product's paid units per its journal.
	Orders    int64    `json:"orders,omitempty"`
	Paid      int64    `json:"paid,omitempty"`
	PaidUnits int64    `json:"paid_units,omitempty"`
	Problems  []string `json:"problems"`
}

// productCount is one product's numbers after a run.
type productCount struct {
	ID        int64
	Stock     int64
	Available int64
	Told      int64 // units the server said it holds
	Ambiguous int64 // units of ambiguous answers
}

// booksProblems compares each product's taken units, stock −
// available_stock, with the units the bench was told it holds. With no
// ambiguous answers they must be equal; each ambiguous answer may have
// taken a unit, or not.
func booksProblems(products []productCount) []string {
	var problems []string
	for _, p := range products {
		taken := p.Stock - p.Available
		what := fmt.Sprintf("product %d: stock %d − available %d = %d units taken", p.ID, p.Stock, p.Available, taken)
		if prob := rangeProblem(what, "units told held", taken, p.Told, p.Ambiguous); prob != "" {
			problems = append(problems, prob)
		}
		if p.Available < 0 {
			problems = append(problems, fmt.Sprintf("product %d: oversold, available %d", p.ID, p.Available))
		}
	}
	return problems
}

// rangeProblem describes got when it is not told, or, with ambiguous
// answers, not within told … told+ambiguous.
func rangeProblem(what, unit string, got, told, ambiguous int64) string {
	switch {
	case ambiguous == 0 && got != told:
		return fmt.Sprintf("%s; want %d %s", what, told, unit)
	case got < told || got > told+ambiguous:
		return fmt.Sprintf("%s; want %d %s, plus at most %d of ambiguous answers", what, told, unit, ambiguous)
	}
	return ""
}

// checkBooks reads every product of the scenario after the run and checks
// the books; checkout also checks its orders and payments.
func (s *scenarioRun) checkBooks(ctx context.Context) booksSummary {
	books := booksSummary{OK: true, Problems: []string{}}
	if s.name == scenarioCeiling {
		return books
	}
	books.Checked, books.Products, books.Stock = true, len(s.products), s.stock
	got, problems := s.b.readProducts(ctx, s.products)
	counts := make([]productCount, 0, len(got))
	for i, p := range got {
		if p.ID == 0 {
			continue // unreadable: among the problems
		}
		c := productCount{ID: p.ID, Stock: p.Stock, Available: p.AvailableStock, Told: s.told[i].Load(), Ambiguous: s.unsure[i].Load()}
		counts = append(counts, c)
		books.ToldUnits += c.Told
		books.TakenUnits += c.Stock - c.Available
		books.AmbiguousUnits += c.Ambiguous
	}
	problems = append(problems, booksProblems(counts)...)
	if exp := s.firstExpiry.Load(); exp != 0 && !time.Now().Before(time.Unix(exp, 0)) {
		problems = append(problems, fmt.Sprintf("holds began to expire at %s, before the books were read: the server's hold TTL is shorter than the run, so they cannot balance; run shorter",
			time.Unix(exp, 0).UTC().Format(time.RFC3339)))
	}
	switch s.name {
	case scenarioSellout:
		problems = append(problems, selloutProblems(s.stock, books.ToldUnits, books.AmbiguousUnits)...)
	case scenarioCheckout:
		problems = append(problems, s.checkoutProblems(ctx, &books)...)
	}
	books.Problems = append([]string{}, problems...)
	books.OK = len(problems) == 0
	return books
}

// selloutProblems requires a sellout to have sold exactly its stock.
func selloutProblems(stock, told, ambiguous int64) []string {
	switch {
	case told > stock:
		return []string{fmt.Sprintf("sellout: %d holds succeeded for a stock of %d: oversold", told, stock)}
	case told+ambiguous < stock:
		return []string{fmt.Sprintf("sellout: %d holds succeeded for a stock of %d: the run ended before it sold out (more --duration or --connections)", told, stock)}
	}
	return nil
}

// checkoutProblems checks checkout's orders by status: every order the
// webhook said paid is paid, and the product's paid units are the units
// the bench was told paid.
func (s *scenarioRun) checkoutProblems(ctx context.Context, books *booksSummary) []string {
	var problems []string
	books.Orders, books.Paid = s.orders.Load(), s.paid.Load()
	s.paidMu.Lock()
	paidOrders := slices.Clone(s.paidOrders)
	s.paidMu.Unlock()
	var (
		next   atomic.Int64
		mu     sync.Mutex
		unpaid []string
		wg     sync.WaitGroup
	)
	for range min(len(paidOrders), s.b.cfg.Connections) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(paidOrders) {
					return
				}
				a := s.b.do(ctx, http.MethodGet, fmt.Sprintf("/api/orders/%d", paidOrders[i]), nil, nil)
				var o struct {
					Status string `json:"status"`
				}
				if a.err != nil || a.status != http.StatusOK || json.Unmarshal(a.body, &o) != nil || o.Status != "paid" {
					mu.Lock()
					unpaid = append(unpaid, fmt.Sprintf("order %d was answered paid; now %d %s (%v)", paidOrders[i], a.status, bytes.TrimSpace(a.body), a.err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(unpaid)
	problems = append(problems, unpaid...)

	// The product's counters after its last event say how many units are
	// paid and how many await payment.
	confirmed := s.told[0].Load() + books.Orders + books.Paid
	last, err := s.b.lastEvent(ctx, s.products[0], confirmed)
	if err != nil {
		return append(problems, fmt.Sprintf("product %d: reading its journal: %v", s.products[0], err))
	}
	books.PaidUnits = last.Paid
	what := fmt.Sprintf("product %d: journal says %d units paid", s.products[0], last.Paid)
	if p := rangeProblem(what, "units told paid", last.Paid, books.Paid, s.paidUnsure.Load()); p != "" {
		problems = append(problems, p)
	}
	what = fmt.Sprintf("product %d: journal says %d units in orders (%d awaiting payment, %d paid)",
		s.products[0], last.AwaitingPayment+last.Paid, last.AwaitingPayment, last.Paid)
	if p := rangeProblem(what, "units of orders told created", last.AwaitingPayment+last.Paid, books.Orders, s.ordersUnsure.Load()); p != "" {
		problems = append(problems, p)
	}
	return problems
}

type benchEvent struct {
	Seq             int64 `json:"seq"`
	Held            int64 `json:"held"`
	AwaitingPayment int64 `json:"awaiting_payment"`
	Paid            int64 `json:"paid"`
}

// events reads a page of a product's journal through the admin API.
func (b *bencher) events(ctx context.Context, id, after int64, limit int) ([]benchEvent, error) {
	a := b.do(ctx, http.MethodGet, fmt.Sprintf("/api/admin/products/%d/events?after=%d&limit=%d", id, after, limit), nil, b.admin())
	if a.err != nil {
		return nil, a.err
	}
	if a.status != http.StatusOK {
		return nil, fmt.Errorf("GET events answered %d %s", a.status, bytes.TrimSpace(a.body))
	}
	var page struct {
		Events []benchEvent `json:"events"`
	}
	if err := json.Unmarshal(a.body, &page); err != nil {
		return nil, err
	}
	return page.Events, nil
}

// lastEvent finds a product's last journal event. Its journal holds at
// least atLeast events besides the product's creation, one per confirmed
// change, so the search starts there rather than at the beginning.
func (b *bencher) lastEvent(ctx context.Context, id, atLeast int64) (benchEvent, error) {
	after := max(atLeast, 0)
	page, err := b.events(ctx, id, after, 1000)
	if err != nil {
		return benchEvent{}, err
	}
	if len(page) == 0 {
		// Shorter than expected: find the end by halving.
		lo, hi := int64(0), after // an event follows lo; none follows hi
		for lo+1 < hi {
			mid := lo + (hi-lo)/2
			p, err := b.events(ctx, id, mid, 1)
			if err != nil {
				return benchEvent{}, err
			}
			if len(p) > 0 {
				lo = mid
			} else {
				hi = mid
			}
		}
		after = lo
		if page, err = b.events(ctx, id, after, 1000); err != nil {
			return benchEvent{}, err
		}
		if len(page) == 0 {
			return benchEvent{}, errors.New("the journal is empty")
		}
	}
	for {
		last := page[len(page)-1]
		next, err := b.events(ctx, id, last.Seq, 1000)
		if err != nil {
			return benchEvent{}, err
		}
		if len(next) == 0 {
			return last, nil
		}
		page = next
	}
}

// print writes the summary as a table.
func (s benchSummary) print(w io.Writer) {
	mode := "closed loop"
	if s.OpenLoop {
		mode = fmt.Sprintf("open loop at %g/s", s.Rate)
	}
	fmt.Fprintf(w, "scenario %s against %s: %d connections, %s, %s (ran %s)\n\n", s.Scenario, s.Target, s.Connections, mode, s.Duration, s.Elapsed)
	printLoad(w, s.loadSummary)
	if s.Ceiling != nil {
		fmt.Fprintf(w, "\nceiling (GET /healthz, same client, ran %s):\n\n", s.Ceiling.Elapsed)
		printLoad(w, s.Ceiling.loadSummary)
		fmt.Fprintf(w, "\n%s ÷ ceiling: %.0f ÷ %.0f req/s = %.2f\n", s.Scenario, s.RequestsPerSecond, s.Ceiling.RequestsPerSecond, s.Ceiling.Ratio)
	}
	fmt.Fprintln(w)
	b := s.Books
	switch {
	case !b.Checked:
		fmt.Fprintln(w, "books: nothing to check (the scenario changes no stock)")
	case b.OK:
		fmt.Fprintf(w, "books: ok: %d product(s), %d units taken = %d units told held", b.Products, b.TakenUnits, b.ToldUnits)
		if b.AmbiguousUnits > 0 {
			fmt.Fprintf(w, " (+ %d ambiguous answers allowed)", b.AmbiguousUnits)
		}
		if s.Scenario == scenarioCheckout {
			fmt.Fprintf(w, "; %d orders, %d told paid, all paid; journal: %d units paid", b.Orders, b.Paid, b.PaidUnits)
		}
		fmt.Fprintln(w)
	default:
		fmt.Fprintf(w, "books: MISMATCH: %d problem(s); %d product(s), %d units taken, %d units told held, %d ambiguous\n",
			len(b.Problems), b.Products, b.TakenUnits, b.ToldUnits, b.AmbiguousUnits)
		for _, p := range b.Problems[:min(len(b.Problems), benchShownProblems)] {
			fmt.Fprintf(w, "  %s\n", p)
		}
		if len(b.Problems) > benchShownProblems {
			fmt.Fprintf(w, "  … and %d more\n", len(b.Problems)-benchShownProblems)
		}
	}
}

func printLoad(w io.Writer, l loadSummary) {
	const row = "%-10s %10s %10s %8s %10s %10s %10s %10s\n"
	fmt.Fprintf(w, row, "operation", "requests", "req/s", "errors", "p50", "p90", "p99", "max")
	rows := l.Operations
	if len(rows) != 1 {
		rows = append(slices.Clone(rows), l.opSummary)
	}
	for _, o := range rows {
		if o.Name == "" {
			o.Name = "all"
		}
		fmt.Fprintf(w, row, o.Name, strconv.FormatInt(o.Requests, 10), fmt.Sprintf("%.0f", o.RequestsPerSecond),
			strconv.FormatInt(o.Errors, 10), fmtMs(o.Latency.P50), fmtMs(o.Latency.P90), fmtMs(o.Latency.P99), fmtMs(o.Latency.Max))
	}
	fmt.Fprintf(w, "\nstatus codes:")
	codes := make([]string, 0, len(l.Statuses))
	for c := range l.Statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		fmt.Fprintf(w, " %s×%d", c, l.Statuses[c])
	}
	if l.NoAnswer > 0 {
		fmt.Fprintf(w, " no-answer×%d", l.NoAnswer)
	}
	fmt.Fprintln(w)
	if l.Unsent > 0 {
		fmt.Fprintf(w, "unsent: %d scheduled requests were never sent, every connection was busy: the server did not keep up with the rate\n", l.Unsent)
	}
}

// fmtLatency shows microseconds in a readable unit.
func fmtLatency(us int64) string { return fmtMs(ms(us)) }

func fmtMs(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.0fµs", v*1000)
	case v < 1000:
		return fmt.Sprintf("%.2fms", v)
	default:
		return fmt.Sprintf("%.2fs", v/1000)
	}
}

// parseTarget checks --target: an http or https URL of a server.
func parseTarget(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q is not a server URL such as http://127.0.0.1:8080", v)
	}
	return strings.TrimRight(u.String(), "/"), nil
}
