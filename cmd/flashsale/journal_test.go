package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flashsale"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"flashsale/actors"
	"flashsale/actors/actorstest"
	"flashsale/httpapi"
	"flashsale/store"
	"flashsale/store/storetest"
)

// awaitLines waits until out has at least n complete lines.
func awaitLines(t *testing.T, out *actorstest.LockedBuffer, n int, within time.Duration) []string {
	t.Helper()
	var lines []string
	actorstest.Eventually(t, within, func() string {
		if lines = out.Lines(); len(lines) < n {
			return fmt.Sprintf("%d lines printed; want %d:\n%s", len(lines), n, out.String())
		}
		return ""
	})
	return lines
}

// noEnv is an environment without any setting.
func noEnv(string) (string, bool) { return "", false }

// command runs the program as main does, with no environment, and returns
// what it printed on stdout. What it logged is shown if the test fails.
func command(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, noEnv, strings.NewReader(stdin), &stdout, &stderr)
	t.Cleanup(func() {
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("flashsale %q stderr:\n%s", args, stderr.String())
		}
	})
	return stdout.String(), err
}

// assertCheckPasses runs `flashsale check` on a database and requires it
// to find every product's journal and books in agreement.
func assertCheckPasses(t *testing.T, dbURL string) {
	t.Helper()
	out, err := command(t, "", "check", "--db", dbURL)
	if err != nil || !strings.HasSuffix(out, " products checked, 0 with problems\n") || strings.Contains(out, "problems\n  ") {
		t.Errorf("flashsale check = %v; want no problems; it printed:\n%s", err, out)
	}
}

// startRegistry starts product actors on db, as a server process would.
func startRegistry(t *testing.T, db *store.DB, ttl time.Duration, metrics *actors.Metrics) *actorstest.Service {
	t.Helper()
	cfg := actors.DefaultConfig()
	cfg.HoldTTL, cfg.PaymentTTL, cfg.IDBlock, cfg.Metrics = ttl, ttl, 10, metrics
	return actorstest.NewService(t, db, cfg)
}

// drain drains product actors started by the test, which must succeed.
func drain(t *testing.T, r *actorstest.Service) {
	t.Helper()
	if err := r.Drain(); err != nil {
		t.Fatalf("drain: %v", err)
	}
}

// journalFixture is a database with one product whose journal has six
// events: created with 20 units, a hold of 3 (key hold-1), a hold of 2,
// an order of the first hold (key order-1), its payment (key pay-1) and a
// restock to 25.
type journalFixture struct {
	url     string
	db      *store.DB
	product int64
	hold1   flashsale.Hold
	hold2   flashsale.Hold
	order   flashsale.Order
	events  []flashsale.Event
}

func newJournalFixture(t *testing.T, dialect string) *journalFixture {
	t.Helper()
	ctx := context.Background()
	f := &journalFixture{url: storetest.URL(t, dialect)}
	f.db = storetest.OpenURL(t, f.url)
	p, err := f.db.CreateProduct(ctx, flashsale.NewProduct{Name: "Journal", Price: 500, Stock: 20})
	if err != nil {
		t.Fatal(err)
	}
	f.product = p.ID
	r := startRegistry(t, f.db, time.Hour, nil)
	if f.hold1, err = r.PlaceHold(ctx, p.ID, 3, "hold-1"); err != nil {
		t.Fatal(err)
	}
	if f.hold2, err = r.PlaceHold(ctx, p.ID, 2, ""); err != nil {
		t.Fatal(err)
	}
	if f.order, err = r.CreateOrder(ctx, f.hold1.ID, "order-1"); err != nil {
		t.Fatal(err)
	}
	if res, err := r.ApplyPayment(ctx, "pay-1", f.order.ID, flashsale.PaymentSuccess); err != nil || res.Status != flashsale.OrderPaid {
		t.Fatalf("payment: %+v, %v", res, err)
	}
	if _, err := r.SetStock(ctx, p.ID, 25); err != nil {
		t.Fatal(err)
	}
	drain(t, r)
	f.events = actorstest.Journal(t, f.db, f.product)
	kinds := make([]string, len(f.events))
	for i, e := range f.events {
		kinds[i] = string(e.Kind)
	}
	if got := strings.Join(kinds, " "); got != "product_created hold_created hold_created order_created order_paid stock_changed" {
		t.Fatalf("fixture journal: %s", got)
	}
	return f
}

func (f *journalFixture) eventsArgs(extra ...string) []string {
	return append([]string{"events", "--product", strconv.FormatInt(f.product, 10), "--db", f.url}, extra...)
}

// column is one field of a printed line and where it sits, in runes.
type column struct {
	text       string
	start, end int
}

// columnsOf splits a line at its spaces.
func columnsOf(line string) []column {
	var (
		cols []column
		pos  int
		cur  *column
	)
	for _, r := range line {
		if r == ' ' {
			cur = nil
		} else {
			if cur == nil {
				cols = append(cols, column{start: pos})
				cur = &cols[len(cols)-1]
			}
			cur.text += string(r)
			cur.end = pos + 1
		}
		pos++
	}
	return cols
}

// The printed columns, and which of them are right-aligned numbers.
var (
	eventColumns = []string{"SEQ", "TIME", "KIND", "HOLD", "ORDER", "KEY", "QTY", "AVAILABLE", "HELD", "AWAITING", "PAID", "REASON", "NODE"}
	rightAligned = map[int]bool{0: true, 3: true, 4: true, 6: true, 7: true, 8: true, 9: true, 10: true}
)

// wantColumns is what a line must say of an event, given the one before.
func wantColumns(before *flashsale.Event, e flashsale.Event) []string {
	dash := func(s string) string {
		if s == "" || s == "0" {
			return "-"
		}
		return s
	}
	change := func(from, to int64) string {
		if before == nil {
			return fmt.Sprintf("→%d", to)
		}
		return fmt.Sprintf("%d→%d", from, to)
	}
	var b flashsale.Event
	if before != nil {
		b = *before
	}
	return []string{
		strconv.FormatInt(e.Seq, 10), e.At.UTC().Format("2006-01-02T15:04:05.000Z"), string(e.Kind),
		dash(strconv.FormatInt(e.HoldID, 10)), dash(strconv.FormatInt(e.OrderID, 10)), dash(e.IdempotencyKey),
		strconv.FormatInt(e.Qty, 10),
		change(b.Available(), e.Available()), change(b.Held, e.Held), change(b.AwaitingPayment, e.AwaitingPayment),
		change(b.Paid, e.Paid), dash(e.Reason), dash(e.Node),
	}
}

// checkEventLines requires a header and one line per event, saying what
// wantColumns says, and the lines aligned with each other: left-aligned
// columns start, right-aligned ones end, at the same place on every line;
// SEQ and KIND sit under their header.
func checkEventLines(t *testing.T, out string, before *flashsale.Event, events []flashsale.Event) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if !strings.HasSuffix(out, "\n") || len(lines) != len(events)+1 {
		t.Fatalf("printed %d lines; want a header and %d events:\n%s", len(lines), len(events), out)
	}
	header := columnsOf(lines[0])
	var names []string
	for _, c := range header {
		names = append(names, c.text)
	}
	if strings.Join(names, " ") != strings.Join(eventColumns, " ") {
		t.Fatalf("header %q; want the columns %v", lines[0], eventColumns)
	}
	var first []column
	for i, e := range events {
		line := lines[i+1]
		cols := columnsOf(line)
		want := wantColumns(before, e)
		var got []string
		for _, c := range cols {
			got = append(got, c.text)
		}
		if strings.Join(got, " | ") != strings.Join(want, " | ") {
			t.Errorf("line of seq %d:\n%s\nsays  %q\nwant  %q", e.Seq, line, got, want)
			continue
		}
		if first == nil {
			first = cols
			if cols[0].end != header[0].end || cols[2].start != header[2].start {
				t.Errorf("SEQ ends at %d and KIND starts at %d under a header whose SEQ ends at %d and KIND starts at %d:\n%s\n%s",
					cols[0].end, cols[2].start, header[0].end, header[2].start, lines[0], line)
			}
		}
		for j := range cols {
			if rightAligned[j] && cols[j].end != first[j].end || !rightAligned[j] && cols[j].start != first[j].start {
				t.Errorf("column %s of seq %d is not aligned with the line of seq %d:\n%s\n%s",
					eventColumns[j], e.Seq, events[0].Seq, lines[1], line)
			}
		}
		before = &events[i]
	}
}

func TestEventsCommandPrintsTheJournal(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		f := newJournalFixture(t, dialect)

		out, err := command(t, "", f.eventsArgs()...)
		if err != nil {
			t.Fatalf("events: %v", err)
		}
		checkEventLines(t, out, nil, f.events)

		// --from starts later; the first line's counters start from the
		// event before it.
		out, err = command(t, "", f.eventsArgs("--from", "3")...)
		if err != nil {
			t.Fatalf("events --from 3: %v", err)
		}
		checkEventLines(t, out, &f.events[1], f.events[2:])
		out, err = command(t, "", f.eventsArgs("--from", "7")...)
		if err != nil || len(strings.Split(strings.TrimSpace(out), "\n")) != 1 {
			t.Errorf("events --from 7 = %v, printed:\n%s\nwant the header alone", err, out)
		}

		// Settings it needs, and a product that is not there.
		if _, err := command(t, "", "events", "--db", f.url); err == nil || !strings.Contains(err.Error(), "--product") || exitCode(err) != 2 {
			t.Errorf("events without --product: %v (exit code %d); want a bad --product setting", err, exitCode(err))
		}
		for _, bad := range [][]string{{"--product", "0"}, {"--product", "x"}, {"--product", "1", "--from", "0"}} {
			args := append([]string{"events", "--db", f.url}, bad...)
			if _, err := command(t, "", args...); err == nil || exitCode(err) != 2 {
				t.Errorf("events %q: %v; want a bad setting", bad, err)
			}
		}
		if _, err := command(t, "", "events", "--product", "999999", "--db", f.url); !errors.Is(err, flashsale.ErrProductNotFound) {
			t.Errorf("events of an unknown product: %v; want product not found", err)
		}
	})
}

// TestEventsCommandColumnsStayAligned: the header sits over its columns,
// and columns stay aligned for the numbers and keys a sale can have.
func TestEventsCommandColumnsStayAligned(t *testing.T) {
	t.Parallel()
	f := newJournalFixture(t, "sqlite")
	t.Run("header over its columns", func(t *testing.T) {
		out, err := command(t, "", f.eventsArgs()...)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		checkAligned(t, lines[0], lines[1:])
	})
	t.Run("large stock and long keys", func(t *testing.T) {
		ctx := context.Background()
		p, err := f.db.CreateProduct(ctx, flashsale.NewProduct{Name: "Big sale", Price: 100, Stock: 250_000})
		if err != nil {
			t.Fatal(err)
		}
		r := startRegistry(t, f.db, time.Hour, nil)
		for _, h := range []struct {
			qty int64
			key string
		}{{12_345, "a-key-well-over-twenty-characters"}, {7, "é" + strings.Repeat("ключ", 10)}, {1, ""}} {
			if _, err := r.PlaceHold(ctx, p.ID, h.qty, h.key); err != nil {
				t.Fatal(err)
			}
		}
		drain(t, r)
		out, err := command(t, "", "events", "--product", strconv.FormatInt(p.ID, 10), "--db", f.url)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 5 {
			t.Fatalf("printed %d lines; want a header and 4 events:\n%s", len(lines), out)
		}
		for _, line := range lines {
			if !utf8.ValidString(line) {
				t.Errorf("line is not valid UTF-8: %q", line)
			}
		}
		checkAligned(t, lines[1], lines[2:])
	})
}

// checkAligned requires each column of lines to sit where it sits in
// model: a left-aligned column starting, a right-aligned one ending, at the
// same rune. It reports each column once.
func checkAligned(t *testing.T, model string, lines []string) {
	t.Helper()
	want := columnsOf(model)
	reported := map[int]bool{}
	for _, line := range lines {
		cols := columnsOf(line)
		if len(cols) != len(want) {
			t.Errorf("line has %d columns; want %d:\n%s\n%s", len(cols), len(want), model, line)
			continue
		}
		for j := range cols {
			if reported[j] {
				continue
			}
			if rightAligned[j] && cols[j].end != want[j].end || !rightAligned[j] && cols[j].start != want[j].start {
				reported[j] = true
				t.Errorf("column %s: %q spans runes %d–%d, where the first line shown has it at %d–%d:\n%s\n%s",
					eventColumns[j], cols[j].text, cols[j].start, cols[j].end, want[j].start, want[j].end, model, line)
			}
		}
	}
}

func TestEventsCommandJSONMatchesTheAPI(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		f := newJournalFixture(t, dialect)
		r := startRegistry(t, f.db, time.Hour, nil)
		api := httptest.NewServer(httpapi.New(httpapi.Config{AdminToken: adminToken}, r, f.db, zerolog.Nop()))
		t.Cleanup(api.Close)
		var page struct {
			ProductID int64            `json:"product_id"`
			Events    []map[string]any `json:"events"`
			NextAfter int64            `json:"next_after"`
		}
		c := newClient(t)
		mustCall(t, c, http.MethodGet, fmt.Sprintf("%s/api/admin/products/%d/events", api.URL, f.product), adminToken, nil, http.StatusOK, &page)
		if len(page.Events) != len(f.events) {
			t.Fatalf("the API shows %d events; want %d", len(page.Events), len(f.events))
		}

		for _, from := range []int{1, 4} {
			out, err := command(t, "", f.eventsArgs("--json", "--from", strconv.Itoa(from))...)
			if err != nil {
				t.Fatalf("events --json --from %d: %v", from, err)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != len(f.events)-from+1 {
				t.Fatalf("events --json --from %d printed %d lines; want %d:\n%s", from, len(lines), len(f.events)-from+1, out)
			}
			for i, line := range lines {
				var got map[string]any
				if err := json.Unmarshal([]byte(line), &got); err != nil {
					t.Fatalf("line %d is not JSON: %q", i+1, line)
				}
				want := page.Events[from-1+i]
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("--json line %q\nthe API shows %v", line, want)
				}
			}
		}
		// The fields themselves, for the order's payment.
		paid := page.Events[4]
		want := map[string]any{"seq": 5.0, "kind": "order_paid", "hold_id": float64(f.hold1.ID), "order_id": float64(f.order.ID),
			"idempotency_key": "pay-1", "qty": 3.0, "stock": 20.0, "available_stock": 15.0, "held": 2.0,
			"awaiting_payment": 0.0, "paid": 3.0}
		for k, v := range want {
			if paid[k] != v {
				t.Errorf("order_paid %s = %v; want %v (event %v)", k, paid[k], v, paid)
			}
		}
		if at, _ := paid["at"].(string); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(at) {
			t.Errorf("at %q is not RFC 3339 UTC with milliseconds", at)
		}
	})
}

func TestEventsCommandSteps(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		f := newJournalFixture(t, dialect)
		seqsOf := func(out string) []string {
			var seqs []string
			for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n")[1:] {
				if cols := columnsOf(line); len(cols) > 0 {
					seqs = append(seqs, cols[0].text)
				}
			}
			return seqs
		}
		for _, c := range []struct {
			stdin string
			from  string
			want  string
		}{
			{"\n\nq\n", "1", "1 2 3"}, // Enter, Enter, q: three events
			{"", "1", "1"},            // the end of input quits
			{"q\n", "4", "4"},
			{" q \n", "1", "1"},
			{"\n\n\n\n\n\n\n\n", "1", "1 2 3 4 5 6"}, // more Enters than events
			{"\nx\n\n", "2", "2 3 4 5"},              // anything but q goes on
		} {
			out, err := command(t, c.stdin, f.eventsArgs("--step", "--from", c.from)...)
			if err != nil {
				t.Errorf("--step --from %s with input %q: %v", c.from, c.stdin, err)
			}
			if got := strings.Join(seqsOf(out), " "); got != c.want {
				t.Errorf("--step --from %s with input %q printed seqs %q; want %q:\n%s", c.from, c.stdin, got, c.want, out)
			}
		}

		// Each event is printed before the wait for Enter, not after it.
		stdin, typed := io.Pipe()
		var out actorstest.LockedBuffer
		done := make(chan error, 1)
		go func() {
			done <- run(context.Background(), f.eventsArgs("--step"), noEnv, stdin, &out, io.Discard)
		}()
		awaitLines(t, &out, 2, 10*time.Second)
		time.Sleep(100 * time.Millisecond)
		if n := len(out.Lines()); n != 2 {
			t.Errorf("%d lines before the first Enter; want the header and seq 1:\n%s", n, out.String())
		}
		fmt.Fprint(typed, "\n")
		awaitLines(t, &out, 3, 10*time.Second)
		fmt.Fprint(typed, "q\n")
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("events --step: %v", err)
			}
		case <-time.After(10 * time.Second):
			typed.Close()
			t.Fatal("events --step did not quit on q")
		}
		if got := strings.Join(seqsOf(out.String()), " "); got != "1 2" {
			t.Errorf("printed seqs %q; want \"1 2\"", got)
		}
	})
}

// TestEventsStepStopsWhenInterrupted: Ctrl-C (the end of run's context)
// stops `events --step` while it waits for Enter.
func TestEventsStepStopsWhenInterrupted(t *testing.T) {
	t.Parallel()
	f := newJournalFixture(t, "sqlite")
	stdin, typed := io.Pipe()
	defer typed.Close()
	var out actorstest.LockedBuffer
	ctx, interrupt := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, f.eventsArgs("--step"), noEnv, stdin, &out, io.Discard) }()
	awaitLines(t, &out, 2, 10*time.Second)
	interrupt()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Errorf("events --step still waits for Enter 2s after it was interrupted")
		typed.Close()
		<-done
	}
	if n := len(out.Lines()); n != 2 {
		t.Errorf("printed %d lines; want the header and the event before the interrupt:\n%s", n, out.String())
	}
}

func TestEventsCommandFollows(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		f := newJournalFixture(t, dialect)
		for _, asJSON := range []bool{false, true} {
			args := f.eventsArgs("--follow", "--from", "5")
			if asJSON {
				args = append(args, "--json")
			}
			ctx, stop := context.WithCancel(context.Background())
			var out actorstest.LockedBuffer
			done := make(chan error, 1)
			go func() { done <- run(ctx, args, noEnv, strings.NewReader(""), &out, io.Discard) }()

			n := len(actorstest.Journal(t, f.db, f.product))
			header := 1
			if asJSON {
				header = 0
			}
			lines := awaitLines(t, &out, header+n-4, 10*time.Second)
			// What is already there is printed, then the command waits.
			time.Sleep(300 * time.Millisecond)
			if got := len(out.Lines()); got != len(lines) {
				t.Errorf("%q printed %d lines with nothing new; want %d", args, got, len(lines))
			}
			select {
			case err := <-done:
				t.Fatalf("%q ended by itself: %v", args, err)
			default:
			}

			// Another process commits a hold: it is printed.
			r := startRegistry(t, f.db, time.Hour, nil)
			key := fmt.Sprintf("followed-json-%v", asJSON)
			h, err := r.PlaceHold(context.Background(), f.product, 1, key)
			if err != nil {
				t.Fatal(err)
			}
			drain(t, r)
			lines = awaitLines(t, &out, header+n-3, 5*time.Second)
			last := lines[len(lines)-1]
			if asJSON {
				var e map[string]any
				if err := json.Unmarshal([]byte(last), &e); err != nil || e["seq"] != float64(n+1) ||
					e["kind"] != "hold_created" || e["hold_id"] != float64(h.ID) || e["idempotency_key"] != key {
					t.Errorf("followed JSON line %q (%v); want hold %d as seq %d", last, err, h.ID, n+1)
				}
			} else {
				events := actorstest.Journal(t, f.db, f.product)
				want := wantColumns(&events[n-1], events[n])
				var got []string
				for _, c := range columnsOf(last) {
					got = append(got, c.text)
				}
				if strings.Join(got, " | ") != strings.Join(want, " | ") {
					t.Errorf("followed line %q; want %q", last, want)
				}
			}

			stop()
			select {
			case err := <-done:
				// Stopped while it queried rather than while it waited, it
				// reports the interrupted query.
				if err != nil && !(errors.Is(err, flashsale.ErrUnavailable) && strings.Contains(err.Error(), "context canceled")) {
					t.Errorf("%q after the interrupt: %v", args, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%q did not stop when its context ended", args)
			}
		}
	})
}

// rawSQL opens the database behind a flashsale URL directly, bypassing the
// store, to damage it the way a bad manual edit would.
func rawSQL(t *testing.T, dbURL string) *sql.DB {
	t.Helper()
	var (
		db  *sql.DB
		err error
	)
	switch {
	case strings.HasPrefix(dbURL, "sqlite://"):
		db, err = sql.Open("sqlite", "file:"+strings.TrimPrefix(dbURL, "sqlite://")+"?_pragma=busy_timeout(10000)")
	case strings.HasPrefix(dbURL, "mysql://"):
		db, err = sql.Open("mysql", strings.TrimPrefix(dbURL, "mysql://"))
	default:
		t.Fatalf("unknown database URL %q", dbURL)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec1(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("%s changed %d rows (%v); want 1", query, n, err)
	}
}

func TestCheckCommand(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		f := newJournalFixture(t, dialect)
		other, err := f.db.CreateProduct(context.Background(), flashsale.NewProduct{Name: "Untouched", Price: 1, Stock: 3})
		if err != nil {
			t.Fatal(err)
		}
		p, o := f.product, other.ID
		okLines := fmt.Sprintf("product %d: ok (6 events)\nproduct %d: ok (1 events)\n2 products checked, 0 with problems\n", p, o)
		out, err := command(t, "", "check", "--db", f.url)
		if err != nil || out != okLines {
			t.Fatalf("check of a healthy database = %v, printed:\n%s\nwant:\n%s", err, out, okLines)
		}

		raw := rawSQL(t, f.url)
		cases := []struct {
			name       string
			damage     string
			undo       string
			args       []any
			complaints []string
		}{
			{"a counter of the product row",
				"UPDATE products SET held = held + 1 WHERE id = ?", "UPDATE products SET held = held - 1 WHERE id = ?", []any{p},
				[]string{"journal replays to", "holds and orders add up to"}},
			{"a paid order lost",
				"UPDATE orders SET status = 'cancelled' WHERE id = ?", "UPDATE orders SET status = 'paid' WHERE id = ?", []any{f.order.ID},
				[]string{"holds and orders add up to"}},
			{"an active hold gone",
				"UPDATE holds SET status = 'expired' WHERE id = ?", "UPDATE holds SET status = 'active' WHERE id = ?", []any{f.hold2.ID},
				[]string{"holds and orders add up to"}},
			{"the qty of a journalled hold",
				"UPDATE events SET qty = qty + 1 WHERE seq = 2 AND product_id = ?", "UPDATE events SET qty = qty - 1 WHERE seq = 2 AND product_id = ?", []any{p},
				[]string{"seq 2 hold_created: replayed"}},
			{"the counters a payment recorded",
				"UPDATE events SET paid = paid + 1 WHERE seq = 5 AND product_id = ?", "UPDATE events SET paid = paid - 1 WHERE seq = 5 AND product_id = ?", []any{p},
				[]string{"seq 5 order_paid: replayed"}},
		}
		for _, c := range cases {
			exec1(t, raw, c.damage, c.args...)
			out, err := command(t, "", "check", "--db", f.url)
			if err == nil || exitCode(err) != 1 {
				t.Errorf("%s: check = %v (exit code %d); want it to fail with exit code 1", c.name, err, exitCode(err))
			}
			if !strings.Contains(out, fmt.Sprintf("product %d: ok", o)) || !strings.Contains(out, fmt.Sprintf("product %d: ", p)) ||
				!strings.HasSuffix(out, "2 products checked, 1 with problems\n") {
				t.Errorf("%s: check printed:\n%s\nwant product %d's problems and product %d ok", c.name, out, p, o)
			}
			for _, complaint := range c.complaints {
				if !strings.Contains(out, complaint) {
					t.Errorf("%s: check printed:\n%s\nwant it to say %q", c.name, out, complaint)
				}
			}
			exec1(t, raw, c.undo, c.args...)
			if out, err := command(t, "", "check", "--db", f.url); err != nil || out != okLines {
				t.Fatalf("%s undone: check = %v, printed:\n%s", c.name, err, out)
			}
		}

		// A lost event is a gap.
		exec1(t, raw, "DELETE FROM events WHERE seq = 3 AND product_id = ?", p)
		out, err = command(t, "", "check", "--db", f.url)
		if err == nil || !strings.Contains(out, "seq 4 where 3 was due") {
			t.Errorf("check with seq 3 deleted = %v, printed:\n%s\nwant the gap named", err, out)
		}
	})
}

// TestReleaseExpiredWhileAServerRuns: holds and an order that another
// process left behind are released by `flashsale release-expired` while
// server A, which loaded the product before, runs on. A's next batch
// meets the version the command bumped, reloads, and decides again.
func TestReleaseExpiredWhileAServerRuns(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		url := storetest.URL(t, dialect)
		dbA := storetest.OpenURL(t, url)
		prod, err := dbA.CreateProduct(ctx, flashsale.NewProduct{Name: "Released", Price: 100, Stock: 10})
		if err != nil {
			t.Fatal(err)
		}
		idle, err := dbA.CreateProduct(ctx, flashsale.NewProduct{Name: "Idle", Price: 100, Stock: 5})
		if err != nil {
			t.Fatal(err)
		}

		// Server A, with holds that last, has loaded the product.
		metricsA := prometheus.NewRegistry()
		regA := startRegistry(t, dbA, 10*time.Minute, actors.NewMetrics(metricsA))
		api := httptest.NewServer(httpapi.New(httpapi.Config{AdminToken: adminToken, Metrics: metricsA}, regA, dbA, zerolog.Nop()))
		t.Cleanup(api.Close)
		c := newClient(t)
		productURL := fmt.Sprintf("%s/api/products/%d", api.URL, prod.ID)
		var seen httpapi.ProductJSON
		mustCall(t, c, http.MethodGet, productURL, "", nil, http.StatusOK, &seen)
		if seen.AvailableStock != 10 {
			t.Fatalf("A shows %+v; want 10 available", seen)
		}

		// Process B takes two holds and an order of short life, and stops
		// before they expire: nobody is left to release them.
		dbB := storetest.OpenURL(t, url)
		regB := startRegistry(t, dbB, time.Second, nil)
		var due time.Time
		var holds []flashsale.Hold
		for _, qty := range []int64{2, 3, 1} {
			h, err := regB.PlaceHold(ctx, prod.ID, qty, "")
			if err != nil {
				t.Fatal(err)
			}
			holds = append(holds, h)
		}
		order, err := regB.CreateOrder(ctx, holds[2].ID, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, t2 := range []time.Time{holds[0].ExpiresAt, holds[1].ExpiresAt, order.ExpiresAt} {
			if t2.After(due) {
				due = t2
			}
		}
		drain(t, regB)
		st, err := dbA.LoadProduct(ctx, prod.ID)
		if err != nil || st.Product.Held != 5 || st.Product.AwaitingPayment != 1 {
			t.Fatalf("after B: %+v, %v; want 5 held and 1 awaiting payment", st.Product, err)
		}
		journalled := len(actorstest.Journal(t, dbA, prod.ID))
		time.Sleep(time.Until(due) + 100*time.Millisecond)
		if st, _ := dbA.LoadProduct(ctx, prod.ID); st.Product.Held != 5 {
			t.Fatalf("the holds were released before the command ran: %+v", st.Product)
		}

		out, err := command(t, "", "release-expired", "--db", url)
		if want := "released 2 holds and 1 unpaid orders in 1 products\n"; err != nil || out != want {
			t.Fatalf("release-expired = %v, printed %q; want %q", err, out, want)
		}
		st, err = dbA.LoadProduct(ctx, prod.ID)
		if err != nil || st.Product.Held != 0 || st.Product.AwaitingPayment != 0 || len(st.ActiveHolds) != 0 || len(st.UnpaidOrders) != 0 {
			t.Fatalf("after release-expired: %+v with %d active holds, %d pending orders (%v); want all released",
				st.Product, len(st.ActiveHolds), len(st.UnpaidOrders), err)
		}
		for _, h := range holds[:2] {
			if got, err := dbA.Hold(ctx, h.ID); err != nil || got.Status != flashsale.HoldExpired {
				t.Errorf("hold %d is %+v (%v); want expired", h.ID, got, err)
			}
		}
		if got, err := dbA.Order(ctx, order.ID); err != nil || got.Status != flashsale.OrderCancelled || got.CancelReason != flashsale.CancelledByPaymentWindow {
			t.Errorf("order %d is %+v (%v); want cancelled by its payment window", order.ID, got, err)
		}
		events := actorstest.Journal(t, dbA, prod.ID)
		released := map[string]int64{}
		for _, e := range events[journalled:] {
			switch {
			case e.Kind == flashsale.EventHoldExpired && (e.HoldID == holds[0].ID || e.HoldID == holds[1].ID):
				released[fmt.Sprint("hold ", e.HoldID)] = e.Qty
			case e.Kind == flashsale.EventOrderCancelled && e.OrderID == order.ID && e.Reason == string(flashsale.CancelledByPaymentWindow):
				released[fmt.Sprint("order ", e.OrderID)] = e.Qty
			default:
				t.Errorf("release-expired journalled %+v", e)
			}
		}
		if len(released) != 3 || released[fmt.Sprint("hold ", holds[0].ID)] != 2 || released[fmt.Sprint("hold ", holds[1].ID)] != 3 ||
			released[fmt.Sprint("order ", order.ID)] != 1 {
			t.Errorf("journalled releases %v; want holds %d (2) and %d (3), order %d (1)", released, holds[0].ID, holds[1].ID, order.ID)
		}
		if out, err := command(t, "", "release-expired", "--db", url); err != nil || out != "released 0 holds and 0 unpaid orders in 0 products\n" {
			t.Errorf("release-expired again = %v, printed %q; want nothing released", err, out)
		}

		// A, which never heard of any of this, takes a hold: its batch
		// meets the version the command bumped, A reloads and decides again.
		var h httpapi.HoldJSON
		mustCall(t, c, http.MethodPost, api.URL+"/api/holds", "", map[string]int64{"product_id": prod.ID, "qty": 4}, http.StatusCreated, &h)
		mustCall(t, c, http.MethodGet, productURL, "", nil, http.StatusOK, &seen)
		if seen.AvailableStock != 6 {
			t.Errorf("A shows %+v after a hold of 4; want 6 available", seen)
		}
		if got := counterValue(t, metricsA, "flashsale_batch_version_conflicts_total"); got != 1 {
			t.Errorf("A met %v version conflicts; want 1", got)
		}
		st, err = dbA.LoadProduct(ctx, prod.ID)
		if err != nil || st.Product.Held != 4 || len(st.ActiveHolds) != 1 || st.ActiveHolds[0].ID != h.HoldID {
			t.Errorf("after A's hold: %+v with holds %+v (%v); want hold %d of 4 alone", st.Product, st.ActiveHolds, err, h.HoldID)
		}
		last := actorstest.Journal(t, dbA, prod.ID)
		if e := last[len(last)-1]; len(last) != len(events)+1 || e.Kind != flashsale.EventHoldCreated || e.HoldID != h.HoldID || e.Held != 4 {
			t.Errorf("A's hold journalled as %+v (%d events, %d before)", e, len(last), len(events))
		}
		if st, _ := dbA.LoadProduct(ctx, idle.ID); st.Product.Available() != 5 {
			t.Errorf("the idle product: %+v", st.Product)
		}
		assertCheckPasses(t, url)
	})
}

// counterValue reads a counter without labels from a registry.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}
