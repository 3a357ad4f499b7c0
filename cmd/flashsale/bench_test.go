package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"flashsale/cmd/flashsale/bench"
	"flashsale/store/storetest"
)

const benchWebhookSecret = "bench-test-secret"

// benchJSON runs `flashsale bench` in this process against target with
// --json, and returns what it printed and returned.
func benchJSON(t *testing.T, target string, args ...string) (bench.Summary, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	all := append([]string{"bench", "--target", target, "--json"}, args...)
	err := run(ctx, all, noEnv, strings.NewReader(""), &stdout, &stderr)
	var s bench.Summary
	if stdout.Len() > 0 {
		if jerr := json.Unmarshal(stdout.Bytes(), &s); jerr != nil {
			t.Fatalf("flashsale %q printed %q, not one JSON object: %v", all, stdout.String(), jerr)
		}
	}
	return s, stderr.String(), err
}

func TestBenchScenarios(t *testing.T) {
	t.Parallel()
	args := serverArgs("serve", storetest.URL(t, "sqlite"), "--admin-token", adminToken, "--webhook-secret", benchWebhookSecret)
	p := startServer(t, "server", args)
	const stock = 100
	cases := []struct {
		scenario string
		extra    []string
		check    func(t *testing.T, s bench.Summary)
	}{
		{scenario: "hot"},
		{scenario: "spread", extra: []string{"--products", "200"}, check: func(t *testing.T, s bench.Summary) {
			if s.Books.Products != 200 {
				t.Errorf("books checked %d products; want 200", s.Books.Products)
			}
		}},
		{scenario: "sellout", extra: []string{"--stock", fmt.Sprint(stock), "--duration", "10s"}, check: func(t *testing.T, s bench.Summary) {
			if s.Books.ToldUnits != stock || s.Statuses["201"] != stock {
				t.Errorf("%d units told held, %d holds answered 201; want exactly the stock, %d", s.Books.ToldUnits, s.Statuses["201"], stock)
			}
			if s.Requests != stock*bench.BuyersPerUnit || s.Statuses["409"] != s.Requests-stock {
				t.Errorf("%d requests, statuses %v; want %d buyers, all but %d told 409", s.Requests, s.Statuses, stock*bench.BuyersPerUnit, stock)
			}
		}},
		{scenario: "checkout", check: func(t *testing.T, s bench.Summary) {
			if s.Books.Paid == 0 || s.Books.Paid != s.Books.Orders || s.Books.PaidUnits != s.Books.Paid {
				t.Errorf("checkout: %d orders, %d told paid, journal %d units paid; want every order paid", s.Books.Orders, s.Books.Paid, s.Books.PaidUnits)
			}
			if len(s.Operations) != 3 {
				t.Errorf("operations %+v; want hold, order and webhook", s.Operations)
			}
		}},
		{scenario: "read", check: func(t *testing.T, s bench.Summary) {
			ops := map[string]int64{}
			for _, o := range s.Operations {
				ops[o.Name] = o.Requests
			}
			if ops["read"] == 0 || ops["hold"] == 0 {
				t.Errorf("operations %v; want reads with holds alongside", ops)
			}
		}},
		{scenario: "ceiling", check: func(t *testing.T, s bench.Summary) {
			if s.Books.Checked {
				t.Errorf("books checked for the ceiling scenario: %+v", s.Books)
			}
		}},
		{scenario: "hot", extra: []string{"--compare", "ceiling"}, check: func(t *testing.T, s bench.Summary) {
			if s.Ceiling == nil || s.Ceiling.Requests == 0 || s.Ceiling.Ratio <= 0 {
				t.Fatalf("ceiling %+v; want a ceiling run and a ratio", s.Ceiling)
			}
			if want := s.RequestsPerSecond / s.Ceiling.RequestsPerSecond; s.Ceiling.Ratio != want {
				t.Errorf("ratio %v; want %v", s.Ceiling.Ratio, want)
			}
		}},
		{scenario: "hot", extra: []string{"--rate", "100"}, check: func(t *testing.T, s bench.Summary) {
			if !s.OpenLoop || s.Requests+s.Unsent < 90 || s.Requests > 110 {
				t.Errorf("open loop at 100/s for 1s: %d requests, %d unsent; want about 100", s.Requests, s.Unsent)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(append([]string{tc.scenario}, tc.extra...), " "), func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--scenario", tc.scenario, "--connections", "4", "--duration", "1s",
				"--admin-token", adminToken, "--webhook-secret", benchWebhookSecret}, tc.extra...)
			s, stderr, err := benchJSON(t, p.base, args...)
			if err != nil {
				t.Fatalf("bench %q: %v\nstderr:\n%s", args, err, stderr)
			}
			if s.Scenario != tc.scenario || s.Requests == 0 || s.RequestsPerSecond <= 0 {
				t.Errorf("summary %+v; want requests of scenario %s", s.Load, tc.scenario)
			}
			if s.Errors != 0 || s.NoAnswer != 0 {
				t.Errorf("%d errors, %d without an answer; statuses %v", s.Errors, s.NoAnswer, s.Statuses)
			}
			if s.Latency.P50 <= 0 || s.Latency.P50 > s.Latency.P90 || s.Latency.P90 > s.Latency.P99 || s.Latency.P99 > s.Latency.Max*1.001 {
				t.Errorf("latency %+v; want 0 < p50 ≤ p90 ≤ p99 ≤ max", s.Latency)
			}
			if !s.Books.OK || len(s.Books.Problems) != 0 {
				t.Errorf("books %+v; want them to balance", s.Books)
			}
			if s.Books.Checked && (s.Books.ToldUnits == 0 || s.Books.TakenUnits != s.Books.ToldUnits || s.Books.AmbiguousUnits != 0) {
				t.Errorf("books %+v; want units taken = units told held > 0", s.Books)
			}
			if !strings.Contains(stderr, "p99") {
				t.Errorf("no progress line on stderr:\n%s", stderr)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

// TestBenchTable checks the table the bench prints without --json.
func TestBenchTable(t *testing.T) {
	t.Parallel()
	p := startServer(t, "server", serverArgs("serve", storetest.URL(t, "sqlite"), "--admin-token", adminToken))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args := []string{"bench", "--target", p.base, "--admin-token", adminToken, "--scenario", "hot",
		"--connections", "2", "--duration", "1s"}
	if err := run(ctx, args, noEnv, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"scenario hot against " + p.base, "operation", "p50", "p90", "p99", "max", "\nhold ", "status codes: 201×", "books: ok: 1 product(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchTargets spreads the connections over two targets, one server
// named twice (two servers on one SQLite file would not be one
// catalogue): each target gets its share of the connections and of the
// work, and the books still balance.
func TestBenchTargets(t *testing.T) {
	t.Parallel()
	p := startServer(t, "server", serverArgs("serve", storetest.URL(t, "sqlite"), "--admin-token", adminToken))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	all := []string{"bench", "--json", "--targets", p.base + "," + p.base + "/", "--admin-token", adminToken,
		"--scenario", "hot", "--connections", "3", "--duration", "1s"}
	if err := run(ctx, all, noEnv, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, stderr.String())
	}
	var s bench.Summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("bench printed %q: %v", stdout.String(), err)
	}
	if !s.Books.OK {
		t.Errorf("books %+v; want ok", s.Books)
	}
	if len(s.Targets) != 2 {
		t.Fatalf("targets %+v; want two", s.Targets)
	}
	var iterations int64
	for i, want := range []int{2, 1} {
		got := s.Targets[i]
		if got.URL != p.base || got.Connections != want || got.Iterations == 0 {
			t.Errorf("target %d: %+v; want %s with %d connections and some iterations", i, got, p.base, want)
		}
		iterations += got.Iterations
	}
	if iterations != s.Requests {
		t.Errorf("the targets' iterations add up to %d; the run made %d requests", iterations, s.Requests)
	}
}

// TestBenchDetectsABooksMismatch takes a unit of the bench's product
// behind its back: the books no longer balance, and the bench says so and
// fails.
func TestBenchDetectsABooksMismatch(t *testing.T) {
	t.Parallel()
	p := startServer(t, "server", serverArgs("serve", storetest.URL(t, "sqlite"), "--admin-token", adminToken))
	c := newClient(t)
	// The database is fresh with product 1 seeded: the bench's product is 2.
	const product = 2
	done := make(chan struct{})
	go func() {
		defer close(done)
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			status, _, err := call(c, http.MethodPost, p.base+"/api/holds", "", map[string]int64{"product_id": product, "qty": 1})
			if err == nil && status == http.StatusCreated {
				return
			}
		}
	}()
	s, stderr, err := benchJSON(t, p.base, "--scenario", "hot", "--connections", "2", "--duration", "2s", "--admin-token", adminToken)
	<-done
	var bad *settingError
	if err == nil || errors.As(err, &bad) || exitCode(err) != 1 {
		t.Fatalf("bench after a hold behind its back: %v; want an error that exits 1\nstderr:\n%s", err, stderr)
	}
	if s.Books.OK || len(s.Books.Problems) != 1 || s.Books.TakenUnits != s.Books.ToldUnits+1 {
		t.Fatalf("books %+v; want one problem, one unit more taken than told", s.Books)
	}
	if want := fmt.Sprintf("product %d: ", product); !strings.HasPrefix(s.Books.Problems[0], want) {
		t.Errorf("problem %q; want it to name product %d", s.Books.Problems[0], product)
	}
}

func TestBenchSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args    []string
		setting string
	}{
		{[]string{"--scenario", "nope"}, "--scenario"},
		{[]string{"--target", "ftp://example.com"}, "--target"},
		{[]string{"--connections", "0"}, "--connections"},
		{[]string{"--duration", "-1s"}, "--duration"},
		{[]string{"--rate", "-5"}, "--rate"},
		{[]string{"--compare", "hot"}, "--compare"},
		{[]string{"--targets", "http://127.0.0.1:2"}, "--targets"}, // beside --target
		{[]string{"--scenario", "hot"}, "--admin-token"},           // products need the admin API
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		// A closed port: nothing may be contacted before the settings fail.
		args := append([]string{"bench", "--target", "http://127.0.0.1:1"}, tc.args...)
		err := run(context.Background(), args, noEnv, strings.NewReader(""), &stdout, &stderr)
		var bad *settingError
		if !errors.As(err, &bad) || bad.setting != tc.setting || exitCode(err) != 2 {
			t.Errorf("bench %q: %v; want a bad setting %s (exit 2)", tc.args, err, tc.setting)
		}
	}
	cfg, err := loadConfig([]string{"bench"}, noEnv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := bench.Config{Target: bench.DefaultTarget, Scenario: "hot", Connections: 64, Duration: 10 * time.Second,
		Products: 10000, Stock: 1000}
	if !reflect.DeepEqual(cfg.Bench, want) {
		t.Errorf("bench defaults %+v; want %+v", cfg.Bench, want)
	}
}

// TestBenchReport runs a short bench with --report and reads the page it
// wrote: the run's figures, one point a second, and nothing fetched from
// elsewhere.
func TestBenchReport(t *testing.T) {
	t.Parallel()
	p := startServer(t, "server", serverArgs("serve", storetest.URL(t, "sqlite"), "--admin-token", adminToken))
	path := filepath.Join(t.TempDir(), "report.html")
	s, stderr, err := benchJSON(t, p.base, "--scenario", "hot", "--connections", "4", "--duration", "2s",
		"--admin-token", adminToken, "--report", path)
	if err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, stderr)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(raw)
	for _, want := range []string{
		fmt.Sprintf(`<td class="requests">%d</td>`, s.Requests),
		fmt.Sprintf(`<td data-status="201">%d</td>`, s.Statuses["201"]),
		fmt.Sprintf("books: ok: 1 product(s), %d units taken = %d units told held", s.Books.TakenUnits, s.Books.ToldUnits),
		"latency by percentile",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	// One row and one point of each series a second, holding every
	// request between them.
	rows := regexp.MustCompile(`<tr class="second"><td>(\d+)</td><td>(\d+)</td>`).FindAllStringSubmatch(page, -1)
	var sum int64
	for i, row := range rows {
		if row[1] != fmt.Sprint(i+1) {
			t.Errorf("row %d is of second %s", i, row[1])
		}
		n, _ := strconv.ParseInt(row[2], 10, 64)
		sum += n
	}
	if len(rows) != 2 || sum != s.Requests {
		t.Errorf("%d rows of seconds, %d requests in them; want 2 seconds holding all %d requests", len(rows), sum, s.Requests)
	}
	series := regexp.MustCompile(`data-points="(\d+)"`).FindAllStringSubmatch(page, -1)
	if len(series) != 4 { // requests/s, p50, p99, the percentile curve
		t.Errorf("%d series in the charts; want 4", len(series))
	}
	for _, sr := range series[:min(3, len(series))] {
		if sr[1] != "2" {
			t.Errorf("a series over the seconds has %s points; want 2", sr[1])
		}
	}
	for _, external := range []string{"<script", "src=", "href=", "@import", "url("} {
		if strings.Contains(page, external) {
			t.Errorf("the report holds %q: it must need nothing else to open", external)
		}
	}
}
