// Package bench is `flashsale bench`, a load generator for a running
// server: it creates its own products through the admin API, loads them
// with one Scenario on many connections at once, measures what each
// operation got, and checks the books afterwards against every answer the
// server gave.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is what a run is told; the program's settings table holds the
// defaults and the checks of each value.
type Config struct {
	Target        string        // the server to load, an http(s) URL
	Targets       []string      // servers to spread the connections over, round-robin; empty: Target alone
	Scenario      string        // the name of a Scenario
	Connections   int           // concurrent connections, one worker each
	Duration      time.Duration // how long the load runs
	Products      int64         // spread: how many products
	Stock         int64         // sellout: the stock that sells out
	Rate          float64       // open loop: iterations per second; 0 is a closed loop
	Compare       string        // "ceiling": run the ceiling scenario first and compare
	JSON          bool          // print the summary as one JSON object
	Report        string        // a file to write the run to as an HTML page; empty: none
	AdminToken    string        // the server's, to create products and read journals
	WebhookSecret string        // the server's, to sign checkout's webhooks
}

// DefaultTarget is --target's default in the settings table. --targets
// cannot tell a --target given as this from none: only another one
// conflicts with it.
const DefaultTarget = "http://127.0.0.1:8080"

const (
	// bigStock is the stock of products that must never sell out during
	// a run (hot, spread, checkout, read).
	bigStock = 100_000_000
	// BuyersPerUnit is how many buyers a sellout has per unit.
	BuyersPerUnit = 10
	// requestTimeout bounds every request, also those still in flight
	// when the run ends.
	requestTimeout = 30 * time.Second
	// checkTimeout bounds reading the books after the run.
	checkTimeout = 2 * time.Minute
)

// SettingError is a setting the run cannot go with, named by its flag.
type SettingError struct {
	Flag string
	Err  error
}

func (e *SettingError) Error() string { return e.Flag + ": " + e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

// Run loads cfg.Target with cfg.Scenario and checks the books afterwards.
// It prints the summary on stdout and its progress on stderr. A books
// mismatch is an error; a Config the scenario cannot run with is a
// *SettingError.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	sc, ok := lookup(cfg.Scenario)
	if !ok {
		return &SettingError{"--scenario", fmt.Errorf("%q is not a scenario", cfg.Scenario)}
	}
	if len(cfg.Targets) > 0 && cfg.Target != DefaultTarget {
		return &SettingError{"--targets", errors.New("give --target or --targets, not both")}
	}
	c, err := newClient(cfg, stderr)
	if err != nil {
		return err
	}
	defer c.http.CloseIdleConnections()
	if sc.plan(cfg).products > 0 && cfg.AdminToken == "" {
		return &SettingError{"--admin-token", fmt.Errorf("the %s scenario creates its products through the admin API and needs the server's admin token", sc.Name)}
	}
	if err := c.preflight(ctx); err != nil {
		return err
	}
	summary := Summary{
		Target: strings.Join(c.targets, ","), Connections: cfg.Connections, Duration: cfg.Duration.String(), Rate: cfg.Rate,
		OpenLoop: cfg.Rate > 0,
	}
	if cfg.Compare != "" {
		against, ok := lookup(cfg.Compare)
		if !ok {
			return &SettingError{"--compare", fmt.Errorf("%q is not a scenario", cfg.Compare)}
		}
		r, err := newRun(ctx, c, against)
		if err != nil {
			return err
		}
		summary.Ceiling = &Ceiling{Load: r.load(ctx)}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	r, err := newRun(ctx, c, sc)
	if err != nil {
		return err
	}
	summary.Load = r.load(ctx)
	checkCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkTimeout)
	defer cancel()
	summary.Books = r.checkBooks(checkCtx)
	if ceiling := summary.Ceiling; ceiling != nil && ceiling.RequestsPerSecond > 0 {
		ceiling.Ratio = summary.RequestsPerSecond / ceiling.RequestsPerSecond
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
	if cfg.Report != "" {
		if err := writeReport(cfg.Report, summary); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
		c.progress("report written to %s", cfg.Report)
	}
	if !summary.Books.OK {
		return fmt.Errorf("bench %s: the books do not balance (%d problems)", cfg.Scenario, len(summary.Books.Problems))
	}
	return nil
}

// run is one scenario's run: its products, and what the server told it,
// for the books.
type run struct {
	c        *client
	scenario Scenario
	products []int64
	stock    int64 // of each product

	// What the server answered, per product index: units it said it
	// holds, and units of holds whose answer was ambiguous.
	told, unsure []atomic.Int64
	// Buyers who have not tried yet, when the scenario has a number of
	// them (limited).
	limited    bool
	buyersLeft atomic.Int64
	// The earliest expires_at of the holds told, as Unix seconds and as
	// the server wrote it: the books are exact only while no hold has
	// expired.
	firstExpiry     atomic.Int64
	firstExpiryText atomic.Pointer[string]

	// What the load sends, encoded once: each product's hold of 1 unit,
	// and the first product's read.
	holdBodies [][]byte
	readPath   string

	// Checkout: orders and payments the server confirmed, or answered
	// ambiguously; the orders it said are paid.
	orders, ordersUnsure, paid, paidUnsure atomic.Int64
	paidMu                                 sync.Mutex
	paidOrders                             []int64
}

// newRun creates the scenario's products.
func newRun(ctx context.Context, c *client, sc Scenario) (*run, error) {
	r := &run{c: c, scenario: sc}
	p := sc.plan(c.cfg)
	if p.buyers > 0 {
		r.limited = true
		r.buyersLeft.Store(p.buyers)
	}
	if p.products == 0 {
		return r, nil
	}
	ids, err := c.createProducts(ctx, sc.Name, p.products, p.stock)
	if err != nil {
		return nil, err
	}
	r.products, r.stock = ids, p.stock
	r.told = make([]atomic.Int64, p.products)
	r.unsure = make([]atomic.Int64, p.products)
	r.holdBodies = make([][]byte, len(ids))
	for i, id := range ids {
		r.holdBodies[i] = fmt.Appendf(nil, `{"product_id":%d,"qty":1}`, id)
	}
	r.readPath = fmt.Sprintf("/api/products/%d", ids[0])
	return r, nil
}

// turn is one iteration of a worker: which worker and its connection,
// its slot in an open loop's schedule, and when its latency starts: now
// in a closed loop, the scheduled time in an open one.
type turn struct {
	st     *stats
	worker int
	conn   *wire
	slot   int64
	base   time.Time
}

// iterate is one unit of work: one request, or a buyer's whole checkout.
// It returns false when the scenario has no more work (every buyer has
// tried).
func (r *run) iterate(t turn) bool {
	if r.limited && r.buyersLeft.Add(-1) < 0 {
		return false
	}
	r.scenario.step(r, t)
	return true
}

// schedule hands out the turns of a run: each as soon as asked in a
// closed loop; at fixed intervals from the start with --rate, so that
// latency counts from when a request was due, not from when it was sent.
type schedule struct {
	start, end time.Time
	interval   float64 // nanoseconds between turns; 0 is a closed loop
	slots      atomic.Int64
	finished   atomic.Bool // the scenario ran out of work
}

// next waits for a worker's next turn; false ends the worker.
func (s *schedule) next(ctx context.Context, timer *time.Timer) (slot int64, at time.Time, ok bool) {
	if s.finished.Load() {
		return 0, time.Time{}, false
	}
	if s.interval == 0 {
		return 0, time.Now(), ctx.Err() == nil
	}
	slot = s.slots.Add(1) - 1
	at = s.start.Add(time.Duration(float64(slot) * s.interval))
	if !at.Before(s.end) {
		return 0, time.Time{}, false
	}
	if wait := time.Until(at); wait > 0 {
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
	}
	// Behind the schedule at the end: never sent.
	return slot, at, ctx.Err() == nil
}

// load runs the scenario's workers for the duration, one per connection.
func (r *run) load(ctx context.Context) Load {
	cfg := r.c.cfg
	r.c.progress("%s: %d connections, %s, %v", r.scenario.Name, cfg.Connections, loopMode(cfg.Rate), cfg.Duration)
	sched := &schedule{start: time.Now()}
	sched.end = sched.start.Add(cfg.Duration)
	st := newStats(cfg.Connections, sched.start, cfg.Duration)
	if cfg.Rate > 0 {
		sched.interval = float64(time.Second) / cfg.Rate
	}
	// Requests in flight when the run ends finish: cutting them would
	// leave their outcome unknown. Each is bounded by requestTimeout.
	runCtx, cancel := context.WithDeadline(ctx, sched.end)
	defer cancel()

	var (
		wg      sync.WaitGroup
		started atomic.Int64 // iterations begun
		// Iterations each target got: that the connections reached each
		// one is shown, not assumed.
		perTarget = make([]atomic.Int64, len(r.c.wires))
	)
	for w := range cfg.Connections {
		wg.Go(func() {
			timer := time.NewTimer(0)
			defer timer.Stop()
			conn, target := r.c.newWire(w)
			defer conn.close()
			for {
				slot, at, ok := sched.next(runCtx, timer)
				if !ok {
					return
				}
				started.Add(1)
				perTarget[target].Add(1)
				if !r.iterate(turn{st: st, worker: w, conn: conn, slot: slot, base: at}) {
					sched.finished.Store(true)
					return
				}
			}
		})
	}
	r.c.watch(r.scenario.Name, st, sched.start, &wg)
	elapsed := time.Since(sched.start)
	summary := st.snapshot().summary(r.scenario.Name, elapsed)
	summary.Seconds = st.timeline(elapsed)
	if len(r.c.targets) > 1 {
		for i, url := range r.c.targets {
			summary.Targets = append(summary.Targets, TargetLoad{
				URL: url, Connections: (cfg.Connections + len(r.c.targets) - 1 - i) / len(r.c.targets), Iterations: perTarget[i].Load(),
			})
		}
	}
	if cfg.Rate > 0 && !sched.finished.Load() && ctx.Err() == nil {
		scheduled := int64(math.Ceil(cfg.Duration.Seconds() * cfg.Rate))
		summary.Unsent = max(0, scheduled-started.Load())
	}
	return summary
}

// watch prints a progress line each second until the workers are done.
func (c *client) watch(name string, st *stats, start time.Time, wg *sync.WaitGroup) {
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
		c.progress("%s %3.0fs  %8.0f req/s  %9d requests  %6d errors  p99 %s",
			name, now.Sub(start).Seconds(), rps, all.requests, all.errors, fmtLatency(all.hist.ValueAtQuantile(99)))
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		case now := <-tick.C:
			report(now)
		}
	}
	// The last part second, if it is more than a sliver, and always for a
	// run shorter than a tick (a sellout may end in a tenth of a second),
	// so that every run shows one.
	if now := time.Now(); now.Sub(last) > 100*time.Millisecond || last.Equal(start) {
		report(now)
	}
}

func loopMode(rate float64) string {
	if rate > 0 {
		return fmt.Sprintf("open loop at %g/s", rate)
	}
	return "closed loop"
}
