package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flashsale"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"flashsale/actors/actorstest"
	"flashsale/httpapi"
	"flashsale/store"
)

// binary is the flashsale executable TestMain builds, so that every test
// runs the program exactly as it ships: its own process, signals, exit code.
var binary string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "flashsale-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "flashsale")
	args := []string{"build", "-o", binary}
	// A race-enabled test run builds a race-enabled server: the packages
	// are already compiled that way, and the server is then checked for
	// data races under real load too.
	if raceEnabled() {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building flashsale: %v\n", err)
		return 1
	}
	return m.Run()
}

func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// childEnv is the test's environment without any FLASHSALE_* setting, so
// that only what a test passes reaches the program.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLASHSALE_") {
			env = append(env, kv)
		}
	}
	// A race-enabled program sleeps a second before exiting, to catch
	// late reports; a tenth is enough here and keeps stops quick.
	if _, set := os.LookupEnv("GORACE"); !set {
		env = append(env, "GORACE=atexit_sleep_ms=100")
	}
	return append(env, extra...)
}

// serverArgs starts a server on a free port of the loopback interface.
// sub is the subcommand, or empty for the bare program.
func serverArgs(sub, dbURL string, extra ...string) []string {
	var args []string
	if sub != "" {
		args = append(args, sub)
	}
	args = append(args, "--addr", "127.0.0.1:0", "--db", dbURL, "--log-level", "info")
	return append(args, extra...)
}

// runToExit runs the program to its end and returns its exit code, its
// stderr and how long it took. A program that does not end is killed.
func runToExit(t *testing.T, timeout time.Duration, args []string, env ...string) (int, string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = childEnv(env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("flashsale %q: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("flashsale %q did not end within %v; stderr:\n%s", args, timeout, stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stderr.String(), took
}

// logLines collects a server's stderr line by line. It keeps the recent
// lines for failure reports and remembers what tests look for, so that a
// long run never holds all of its request log.
type logLines struct {
	mu        sync.Mutex
	partial   []byte
	lines     []string
	messages  map[string]int // zerolog "message" values seen, and how often
	races     int            // race detector reports
	listening chan string    // the address of the "listening" line, once
}

const keptLogLines = 400

func newLogLines() *logLines {
	return &logLines{messages: map[string]int{}, listening: make(chan string, 1)}
}

func (l *logLines) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(b), nil
}

func (l *logLines) line(s string) {
	l.lines = append(l.lines, s)
	if len(l.lines) > 2*keptLogLines {
		l.lines = append([]string(nil), l.lines[len(l.lines)-keptLogLines:]...)
	}
	if strings.Contains(s, "WARNING: DATA RACE") {
		l.races++
	}
	if !strings.Contains(s, `"message":"`) {
		return
	}
	var entry struct {
		Message string `json:"message"`
		Addr    string `json:"addr"`
	}
	if json.Unmarshal([]byte(s), &entry) != nil {
		return
	}
	l.messages[entry.Message]++
	if entry.Message == "listening" && entry.Addr != "" {
		select {
		case l.listening <- entry.Addr:
		default:
		}
	}
}

func (l *logLines) count(message string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.messages[message]
}

func (l *logLines) raceReports() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.races
}

func (l *logLines) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := l.lines
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(append(lines, string(l.partial)), "\n")
}

// proc is a running server process.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *logLines
	done chan struct{} // closed once the process has exited and been reaped
	base string        // http://127.0.0.1:PORT
}

// startServer starts the program and waits until it listens. The process
// is killed when the test ends, and its stderr is shown if the test failed.
func startServer(t *testing.T, name string, args []string, env ...string) *proc {
	t.Helper()
	p := launchServer(t, name, args, env...)
	p.awaitListening(t)
	return p
}

// launchServer starts the program as startServer does, without waiting
// for it to listen, so that a test can start several at the same moment.
func launchServer(t *testing.T, name string, args []string, env ...string) *proc {
	t.Helper()
	return launchProgram(t, binary, name, args, env...)
}

// launchProgram is launchServer with another build of the program.
func launchProgram(t *testing.T, program, name string, args []string, env ...string) *proc {
	t.Helper()
	p := &proc{name: name, log: newLogLines(), done: make(chan struct{})}
	p.cmd = exec.Command(program, args...)
	p.cmd.Env = childEnv(env...)
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
		}
		<-p.done
		if n := p.log.raceReports(); n > 0 {
			t.Errorf("%s: the race detector reported %d data race(s)", name, n)
		}
		if t.Failed() {
			t.Logf("%s stderr, last lines:\n%s", name, p.log.tail(60))
		}
	})
	return p
}

// awaitListening waits until the launched program listens.
func (p *proc) awaitListening(t *testing.T) {
	t.Helper()
	select {
	case addr := <-p.log.listening:
		p.base = "http://" + addr
	case <-p.done:
		t.Fatalf("%s exited with code %d before listening", p.name, p.cmd.ProcessState.ExitCode())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not log that it listens within 30s", p.name)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits for the process to exit. It returns the exit
// status and how long the process took to exit.
func (p *proc) stop(t *testing.T, sig syscall.Signal, within time.Duration) (syscall.WaitStatus, time.Duration) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("%s did not exit within %v of %v", p.name, within, sig)
	}
	return p.cmd.ProcessState.Sys().(syscall.WaitStatus), time.Since(start)
}

// terminate stops the process gracefully and requires a clean exit.
func (p *proc) terminate(t *testing.T) {
	t.Helper()
	ws, took := p.stop(t, syscall.SIGTERM, 10*time.Second)
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("%s after SIGTERM: %v (took %v); want exit code 0", p.name, ws, took)
	}
}

// kill stops the process the hard way: nothing runs after the signal.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	ws, _ := p.stop(t, syscall.SIGKILL, 10*time.Second)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%s after SIGKILL: %v; want killed by the signal", p.name, ws)
	}
}

// newClient returns a client for the test's servers. Its pool is large
// enough for the test's concurrency, so that connections are reused rather
// than exhausting local ports.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// call makes one request. It does not touch t, so that workers may use it.
func call(c *http.Client, method, url, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// mustCall makes a request that must answer with status want, and decodes
// the answer into v when v is not nil. It returns the raw body.
func mustCall(t *testing.T, c *http.Client, method, url, token string, body any, want int, v any) []byte {
	t.Helper()
	status, raw, err := call(c, method, url, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if status != want {
		t.Fatalf("%s %s = %d %s; want %d", method, url, status, raw, want)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, url, raw, err)
		}
	}
	return raw
}

func getProduct(t *testing.T, c *http.Client, p *proc, id int64) httpapi.ProductJSON {
	t.Helper()
	var got httpapi.ProductJSON
	mustCall(t, c, http.MethodGet, fmt.Sprintf("%s/api/products/%d", p.base, id), "", nil, http.StatusOK, &got)
	return got
}

func placeHold(t *testing.T, c *http.Client, p *proc, productID, qty int64) httpapi.HoldJSON {
	t.Helper()
	var h httpapi.HoldJSON
	mustCall(t, c, http.MethodPost, p.base+"/api/holds", "", map[string]int64{"product_id": productID, "qty": qty}, http.StatusCreated, &h)
	if h.HoldID < 1 || h.ProductID != productID || h.Qty != qty || h.Status != "active" {
		t.Fatalf("POST /api/holds answered %+v; want an active hold of %d of product %d", h, qty, productID)
	}
	return h
}

func createProduct(t *testing.T, c *http.Client, p *proc, token, name string, stock int64) httpapi.ProductJSON {
	t.Helper()
	var got httpapi.ProductJSON
	body := map[string]any{"name": name, "price": "1.00", "stock": stock}
	mustCall(t, c, http.MethodPost, p.base+"/api/admin/products", token, body, http.StatusCreated, &got)
	if got.ID < 1 || got.Stock != stock || got.AvailableStock != stock {
		t.Fatalf("created product %+v; want stock %d, all available", got, stock)
	}
	return got
}

// loadTally is what a load of hold requests got back.
type loadTally struct {
	acked     []httpapi.HoldJSON // answered 201
	statuses  map[int]int        // every status answered, 201 included
	errors    int                // requests that got no complete answer
	malformed int                // 201s whose body is not the hold asked for
}

func (l *loadTally) add(o loadTally) {
	l.acked = append(l.acked, o.acked...)
	for s, n := range o.statuses {
		l.statuses[s] += n
	}
	l.errors += o.errors
	l.malformed += o.malformed
}

// unexpected returns the statuses answered that are not allowed.
func (l *loadTally) unexpected(allowed ...int) map[int]int {
	odd := map[int]int{}
	for s, n := range l.statuses {
		if !slices.Contains(allowed, s) {
			odd[s] = n
		}
	}
	return odd
}

// runWorkers runs n workers at once, each calling f(w, i) for i = 0, 1, …
// until stop closes, it made maxCalls calls, or the deadline passed, so
// that a test that fails to stop them still ends. f reports false when
// the server is going or gone; the worker then pauses rather than spin.
func runWorkers(n, maxCalls int, deadline time.Time, stop <-chan struct{}, pause time.Duration, f func(w, i int) bool) {
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for i := range maxCalls {
				select {
				case <-stop:
					return
				default:
				}
				if time.Now().After(deadline) {
					return
				}
				if !f(w, i) {
					time.Sleep(pause)
				}
			}
		})
	}
	wg.Wait()
}

// holdLoad has workers POST holds of 1 to maxQty units until stop closes,
// for at most 30 seconds and 5000 requests each.
func holdLoad(c *http.Client, base string, productID int64, workers int, maxQty int64, stop <-chan struct{}) loadTally {
	tallies := make([]loadTally, workers)
	for w := range tallies {
		tallies[w].statuses = map[int]int{}
	}
	runWorkers(workers, 5000, time.Now().Add(30*time.Second), stop, 5*time.Millisecond, func(w, _ int) bool {
		return holdOnce(c, base, productID, maxQty, &tallies[w])
	})
	total := loadTally{statuses: map[int]int{}}
	for _, t := range tallies {
		total.add(t)
	}
	return total
}

// holdOnce POSTs one hold and tallies what it got. It reports false when
// the request got no answer.
func holdOnce(c *http.Client, base string, productID, maxQty int64, tally *loadTally) bool {
	qty := 1 + rand.Int64N(maxQty)
	status, raw, err := call(c, http.MethodPost, base+"/api/holds", "", map[string]int64{"product_id": productID, "qty": qty})
	if err != nil {
		tally.errors++
		return false
	}
	tally.statuses[status]++
	if status != http.StatusCreated {
		return true
	}
	var h httpapi.HoldJSON
	if json.Unmarshal(raw, &h) != nil || h.HoldID < 1 || h.Qty != qty || h.ProductID != productID || h.Status != "active" {
		tally.malformed++
		return true
	}
	tally.acked = append(tally.acked, h)
	return true
}

// checkDatabase checks the product's books in the database (see
// actorstest.CheckBooks) and requires every acknowledged hold to be there,
// active, with its quantity. It returns what it read.
func checkDatabase(t *testing.T, db *store.DB, productID int64, acked []httpapi.HoldJSON) flashsale.ProductState {
	t.Helper()
	st := actorstest.CheckBooks(t, db, productID)
	active := make(map[int64]flashsale.Hold, len(st.ActiveHolds))
	for _, h := range st.ActiveHolds {
		active[h.ID] = h
	}
	missing := 0
	for _, a := range acked {
		h, ok := active[a.HoldID]
		if !ok || h.Qty != a.Qty || h.ProductID != a.ProductID {
			missing++
			if missing <= 5 {
				got, err := db.Hold(context.Background(), a.HoldID)
				t.Errorf("acknowledged hold %+v: in the database as %+v (err %v); want active with qty %d", a, got, err, a.Qty)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged holds are not active in the database", missing, len(acked))
	}
	return st
}

// checkHoldsOverHTTP requires every acknowledged hold to be served as it
// was acknowledged.
func checkHoldsOverHTTP(t *testing.T, c *http.Client, p *proc, acked []httpapi.HoldJSON) {
	t.Helper()
	var (
		mu  sync.Mutex
		bad []string
	)
	each(acked, func(a httpapi.HoldJSON) {
		got, status, raw, err := getJSON[httpapi.HoldJSON](c, fmt.Sprintf("%s/api/holds/%d", p.base, a.HoldID))
		if err != nil || status != http.StatusOK || got != a {
			mu.Lock()
			bad = append(bad, fmt.Sprintf("hold %d: %d %s (err %v); acknowledged as %+v", a.HoldID, status, raw, err, a))
			mu.Unlock()
		}
	})
	if len(bad) > 0 {
		t.Errorf("%d of %d acknowledged holds are not served as acknowledged, e.g.:\n%s",
			len(bad), len(acked), strings.Join(bad[:min(len(bad), 5)], "\n"))
	}
}

// getJSON makes a GET request and decodes a 200 answer into a T; err is
// the request's or the decoding's. It does not touch t, so that workers
// may use it.
func getJSON[T any](c *http.Client, url string) (got T, status int, raw []byte, err error) {
	status, raw, err = call(c, http.MethodGet, url, "", nil)
	if err == nil && status == http.StatusOK {
		err = json.Unmarshal(raw, &got)
	}
	return got, status, raw, err
}

// each runs f on every item, 16 at a time.
func each[T any](items []T, f func(T)) {
	var wg sync.WaitGroup
	next := make(chan T)
	for range 16 {
		wg.Go(func() {
			for it := range next {
				f(it)
			}
		})
	}
	for _, it := range items {
		next <- it
	}
	close(next)
	wg.Wait()
}
