package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"flashsale/httpapi"
)

// The answers the bench reads, with the fields it checks. The bench is a
// client of the API like any other: it decodes what it needs and no more.
type (
	productJSON struct {
		ID             int64 `json:"id"`
		Stock          int64 `json:"stock"`
		AvailableStock int64 `json:"available_stock"`
	}
	holdJSON struct {
		HoldID    int64  `json:"hold_id"`
		ProductID int64  `json:"product_id"`
		Qty       int64  `json:"qty"`
		Status    string `json:"status"`
		ExpiresAt string `json:"expires_at"`
	}
	orderJSON struct {
		OrderID int64  `json:"order_id"`
		HoldID  int64  `json:"hold_id"`
		Status  string `json:"status"`
	}
	paymentJSON struct {
		OrderID int64  `json:"order_id"`
		Status  string `json:"status"`
	}
)

// client is what every phase of a run shares: the settings, the one HTTP
// client of setup and books, the load's wire to copy and the stderr
// progress.
type client struct {
	cfg     Config
	http    *http.Client
	wires   []wire   // one per target, not connected: each worker dials its own copy of one
	targets []string // the targets' URLs without a trailing slash
	target  string   // the first target, of setup and the books
	runID   string   // names this run's products and webhook keys
	stderr  io.Writer
}

func newClient(cfg Config, stderr io.Writer) (*client, error) {
	var id [4]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	targets, flag := slices.Clone(cfg.Targets), "--targets"
	if len(targets) == 0 {
		targets, flag = []string{cfg.Target}, "--target"
	}
	wires := make([]wire, len(targets))
	for i, t := range targets {
		u, err := url.Parse(t)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, &SettingError{flag, fmt.Errorf("%q is not a server URL such as http://127.0.0.1:8080", t)}
		}
		w, err := newWire(t)
		if err != nil {
			return nil, err
		}
		wires[i], targets[i] = *w, strings.TrimRight(t, "/")
	}
	// Setup and the books: a connection per worker of each, kept alive
	// and reused, to the target only (no proxy, no redirects).
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        cfg.Connections,
		MaxIdleConnsPerHost: cfg.Connections,
		MaxConnsPerHost:     cfg.Connections,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // what the load's wire does: no gzip to unpack
	}
	return &client{
		cfg: cfg,
		http: &http.Client{
			Transport: tr,
			Timeout:   requestTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		wires:   wires,
		targets: targets,
		target:  targets[0],
		runID:   hex.EncodeToString(id[:]),
		stderr:  stderr,
	}, nil
}

// newWire is a worker's own connection for the load, to the targets in
// turn, and which of them it is.
func (c *client) newWire(worker int) (*wire, int) {
	i := worker % len(c.wires)
	w := c.wires[i]
	return &w, i
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

func (c *client) do(ctx context.Context, method, path string, body []byte, header http.Header) answer {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.target+path, rd)
	if err != nil {
		return answer{err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
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

func (c *client) admin() http.Header {
	return http.Header{"Authorization": {"Bearer " + c.cfg.AdminToken}}
}

// preflight fails at once when the target does not answer.
func (c *client) preflight(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	a := c.do(ctx, http.MethodGet, "/healthz", nil, nil)
	switch {
	case a.err != nil:
		return fmt.Errorf("target %s does not answer: %w", c.target, a.err)
	case a.status != http.StatusOK:
		return fmt.Errorf("target %s: GET /healthz answered %d", c.target, a.status)
	}
	return nil
}

func (c *client) progress(format string, args ...any) {
	fmt.Fprintf(c.stderr, "bench: "+format+"\n", args...)
}

// each calls f(i) for every i below n, on as many goroutines as there are
// connections, and returns when all calls have.
func (c *client) each(n int, f func(i int)) {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(n, c.cfg.Connections) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// createProducts makes n products of the given stock through the admin
// API, on all connections at once. It returns their ids in order.
func (c *client) createProducts(ctx context.Context, scenario string, n int, stock int64) ([]int64, error) {
	ids := make([]int64, n)
	var (
		firstErr error
		errOnce  sync.Once
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	start := time.Now()
	c.each(n, func(i int) {
		if ctx.Err() != nil {
			return
		}
		body, _ := json.Marshal(map[string]any{
			"name": fmt.Sprintf("bench %s %s #%d", scenario, c.runID, i+1), "price": "1.00", "stock": stock,
		})
		a := c.do(ctx, http.MethodPost, "/api/admin/products", body, c.admin())
		var p productJSON
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
	})
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n == 1 {
		c.progress("created product %d (stock %d)", ids[0], stock)
	} else {
		c.progress("created %d products, ids %d to %d, stock %d each, in %v",
			n, slices.Min(ids), slices.Max(ids), stock, time.Since(start).Round(time.Millisecond))
	}
	return ids, nil
}

// readProducts reads the products on all connections at once.
func (c *client) readProducts(ctx context.Context, ids []int64) ([]productJSON, []string) {
	got := make([]productJSON, len(ids))
	failed := make([]string, len(ids))
	c.each(len(ids), func(i int) {
		a := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/products/%d", ids[i]), nil, nil)
		switch {
		case a.err != nil:
			failed[i] = fmt.Sprintf("product %d: could not be read: %v", ids[i], a.err)
		case a.status != http.StatusOK:
			failed[i] = fmt.Sprintf("product %d: GET answered %d %s", ids[i], a.status, bytes.TrimSpace(a.body))
		case json.Unmarshal(a.body, &got[i]) != nil || got[i].ID != ids[i]:
			failed[i] = fmt.Sprintf("product %d: unexpected answer %s", ids[i], bytes.TrimSpace(a.body))
		}
	})
	var problems []string
	for _, f := range failed {
		if f != "" {
			problems = append(problems, f)
		}
	}
	return got, problems
}

// events reads a page of a product's journal through the admin API.
func (c *client) events(ctx context.Context, id, after int64, limit int) ([]httpapi.EventJSON, error) {
	a := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/admin/products/%d/events?after=%d&limit=%d", id, after, limit), nil, c.admin())
	if a.err != nil {
		return nil, a.err
	}
	if a.status != http.StatusOK {
		return nil, fmt.Errorf("GET events answered %d %s", a.status, bytes.TrimSpace(a.body))
	}
	var page struct {
		Events []httpapi.EventJSON `json:"events"`
	}
	if err := json.Unmarshal(a.body, &page); err != nil {
		return nil, err
	}
	return page.Events, nil
}

// lastEvent finds a product's last journal event. Its journal holds at
// least atLeast events besides the product's creation, one per confirmed
// change, so the search starts there rather than at the beginning.
func (c *client) lastEvent(ctx context.Context, id, atLeast int64) (httpapi.EventJSON, error) {
	after := max(atLeast, 0)
	page, err := c.events(ctx, id, after, 1000)
	if err != nil {
		return httpapi.EventJSON{}, err
	}
	if len(page) == 0 {
		// Shorter than expected: find the end by halving.
		lo, hi := int64(0), after // an event follows lo; none follows hi
		for lo+1 < hi {
			mid := lo + (hi-lo)/2
			p, err := c.events(ctx, id, mid, 1)
			if err != nil {
				return httpapi.EventJSON{}, err
			}
			if len(p) > 0 {
				lo = mid
			} else {
				hi = mid
			}
		}
		after = lo
		if page, err = c.events(ctx, id, after, 1000); err != nil {
			return httpapi.EventJSON{}, err
		}
		if len(page) == 0 {
			return httpapi.EventJSON{}, errors.New("the journal is empty")
		}
	}
	for {
		last := page[len(page)-1]
		next, err := c.events(ctx, id, last.Seq, 1000)
		if err != nil {
			return httpapi.EventJSON{}, err
		}
		if len(next) == 0 {
			return last, nil
		}
		page = next
	}
}
