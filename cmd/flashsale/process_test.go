package main

import (
	"context"
	"encoding/json"
	"errors"
	"flashsale"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"flashsale/actors/actorstest"
	"flashsale/httpapi"
	"flashsale/store"
	"flashsale/store/storetest"
)

const adminToken = "e2e-admin-token"

func TestBadSettingsEndTheProcessAtOnce(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		// Every case but the bad database names a good one, so that only
		// the bad setting can be what stops the program.
		good := storetest.URL(t, dialect)
		unreachable := map[string]string{
			"sqlite": "sqlite://" + filepath.Join(t.TempDir(), "no-such-dir", "flashsale.db"),
			"mysql":  "mysql://root@tcp(127.0.0.1:1)/x",
		}[dialect]
		cases := []struct {
			name    string
			args    []string
			env     []string
			setting string
		}{
			{"hold-ttl flag", []string{"--db", good, "--hold-ttl", "nope"}, nil, "--hold-ttl"},
			{"hold-ttl env", []string{"--db", good}, []string{"FLASHSALE_HOLD_TTL=nope"}, "FLASHSALE_HOLD_TTL"},
			{"unknown db scheme", []string{"--db", "foo://x"}, nil, "--db"},
			{"unreachable db", []string{"--db", unreachable}, nil, "--db"},
			{"unknown command", []string{"bogus", "--db", good}, nil, "command"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				// A free port, so that a program that wrongly starts
				// serving neither collides with anything nor is missed.
				args := slices.Concat(tc.args, []string{"--addr", "127.0.0.1:0"})
				code, stderr, took := runToExit(t, 20*time.Second, args, tc.env...)
				if code != 2 {
					t.Errorf("exit code %d; want 2", code)
				}
				if took > 5*time.Second {
					t.Errorf("took %v to exit; want at once", took)
				}
				if strings.Contains(stderr, `"message":"listening"`) {
					t.Errorf("it listened despite the bad setting")
				}
				// Log lines may come first; the error itself is the one
				// line that is not a log line.
				var errLines []string
				for _, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
					if !json.Valid([]byte(line)) {
						errLines = append(errLines, line)
					}
				}
				if len(errLines) != 1 {
					t.Errorf("stderr has %d lines that are not log lines; want one error line", len(errLines))
				} else if line := errLines[0]; !strings.HasPrefix(line, "flashsale: ") || !strings.Contains(line, tc.setting) {
					t.Errorf("error line %q; want it to start with \"flashsale: \" and name %s", line, tc.setting)
				}
				if t.Failed() {
					t.Logf("args %q env %q; stderr:\n%s", args, tc.env, stderr)
				}
			})
		}
	})
}

func TestMigrateCommandMigratesAndExits(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		url := storetest.URL(t, dialect)
		// Opened without migrating: whatever schema there is, the binary
		// made it.
		db, err := store.Open(ctx, url, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.CreateProduct(ctx, flashsale.NewProduct{Name: "Early", Price: 100, Stock: 1}); err == nil {
			t.Fatal("a product was created before migrating: the database is not fresh")
		}

		for run, wantApplied := range []bool{true, false} {
			args := []string{"migrate", "--db", url, "--log-level", "info"}
			code, stderr, _ := runToExit(t, 60*time.Second, args)
			if code != 0 {
				t.Fatalf("migrate #%d: exit code %d; want 0; stderr:\n%s", run+1, code, stderr)
			}
			if applied := strings.Contains(stderr, `"message":"migration applied"`); applied != wantApplied {
				t.Errorf("migrate #%d applied migrations: %v; want %v; stderr:\n%s", run+1, applied, wantApplied, stderr)
			}
			if strings.Contains(stderr, `"message":"listening"`) {
				t.Errorf("migrate #%d started serving", run+1)
			}
		}

		p, err := db.CreateProduct(ctx, flashsale.NewProduct{Name: "Migrated", Price: 1999, Stock: 7})
		if err != nil {
			t.Fatalf("CreateProduct after migrate: %v", err)
		}
		st, err := db.LoadProduct(ctx, p.ID)
		if err != nil || st.Product != p || len(st.ActiveHolds) != 0 {
			t.Fatalf("LoadProduct(%d) = %+v, %v; want %+v with no holds", p.ID, st, err, p)
		}
		if first, err := db.NextIDs(ctx, "hold", 10); err != nil || first != 1 {
			t.Fatalf("NextIDs(hold) = %d, %v; want the sequence to start at 1", first, err)
		}
	})
}

func TestServeAndBareCommandServeTheSeededProduct(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newClient(t)
		const seeded = `{"id":1,"name":"Flash Sale Item","price":"49.99","stock":50,"available_stock":50}`
		var want map[string]any
		if err := json.Unmarshal([]byte(seeded), &want); err != nil {
			t.Fatal(err)
		}
		for _, sub := range []string{"", "serve"} {
			p := startServer(t, fmt.Sprintf("flashsale %q", sub), serverArgs(sub, storetest.URL(t, dialect)))
			mustCall(t, c, http.MethodGet, p.base+"/healthz", "", nil, http.StatusOK, nil)
			mustCall(t, c, http.MethodGet, p.base+"/readyz", "", nil, http.StatusOK, nil)
			var got map[string]any
			mustCall(t, c, http.MethodGet, p.base+"/api/products/1", "", nil, http.StatusOK, &got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("subcommand %q: product 1 is %v; want %v", sub, got, want)
			}
			p.terminate(t)
		}

		url := storetest.URL(t, dialect)
		p := startServer(t, "unseeded", serverArgs("serve", url, "--seed=false"))
		mustCall(t, c, http.MethodGet, p.base+"/api/products/1", "", nil, http.StatusNotFound, nil)
		p.terminate(t)
		db := storetest.OpenURL(t, url)
		if _, err := db.LoadProduct(context.Background(), 1); !errors.Is(err, flashsale.ErrProductNotFound) {
			t.Fatalf("LoadProduct(1) after --seed=false: %v; want ErrProductNotFound", err)
		}
	})
}

func TestSIGTERMStopsGracefullyKeepingAcknowledgedHolds(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newClient(t)
		url := storetest.URL(t, dialect)
		// A request timeout far beyond the test's: no request may then end
		// in a 503, nor have its hold written after its caller gave up.
		args := serverArgs("serve", url, "--hold-ttl", "10m", "--admin-token", adminToken, "--request-timeout", "60s")
		p := startServer(t, "server", args)
		prod := createProduct(t, c, p, adminToken, "Graceful", 1_000_000)

		stop := make(chan struct{})
		loaded := make(chan loadTally, 1)
		go func() { loaded <- holdLoad(c, p.base, prod.ID, 32, 3, stop) }()
		time.Sleep(300 * time.Millisecond)
		ws, took := p.stop(t, syscall.SIGTERM, 5*time.Second)
		close(stop)
		load := <-loaded
		t.Logf("acknowledged %d holds; statuses %v; %d requests without an answer; exit took %v",
			len(load.acked), load.statuses, load.errors, took)
		if !ws.Exited() || ws.ExitStatus() != 0 {
			t.Errorf("after SIGTERM: %v; want exit code 0", ws)
		}
		if p.log.count("stopped") != 1 {
			t.Errorf("no \"stopped\" log line: the shutdown did not run to its end")
		}
		if odd := load.unexpected(http.StatusCreated); len(odd) > 0 || load.malformed > 0 {
			t.Errorf("unexpected answers %v, %d malformed 201s", odd, load.malformed)
		}
		if len(load.acked) == 0 {
			t.Fatalf("no hold was acknowledged before SIGTERM: the test proved nothing")
		}

		db := storetest.OpenURL(t, url)
		st := checkDatabase(t, db, prod.ID, load.acked)
		// A graceful stop answers every request it takes on, so every hold
		// it wrote was heard of.
		if len(st.ActiveHolds) != len(load.acked) {
			t.Errorf("%d active holds in the database, %d acknowledged; want the same", len(st.ActiveHolds), len(load.acked))
		}
	})
}

func TestRestartServesTheSameHoldsAndStock(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newClient(t)
		args := serverArgs("serve", storetest.URL(t, dialect), "--hold-ttl", "10m")
		p := startServer(t, "first server", args)
		var (
			holds []httpapi.HoldJSON
			units int64
		)
		for i := range 8 {
			h := placeHold(t, c, p, 1, int64(1+i%3))
			holds = append(holds, h)
			units += h.Qty
		}
		before := mustCall(t, c, http.MethodGet, p.base+"/api/products/1", "", nil, http.StatusOK, nil)
		var prod httpapi.ProductJSON
		if err := json.Unmarshal(before, &prod); err != nil || prod.AvailableStock != prod.Stock-units {
			t.Fatalf("before restart: product %s (%v); want %d units held", before, err, units)
		}
		beforeHolds := map[int64]string{}
		for _, h := range holds {
			beforeHolds[h.HoldID] = string(mustCall(t, c, http.MethodGet, fmt.Sprintf("%s/api/holds/%d", p.base, h.HoldID), "", nil, http.StatusOK, nil))
		}
		p.terminate(t)

		p = startServer(t, "restarted server", args)
		if after := mustCall(t, c, http.MethodGet, p.base+"/api/products/1", "", nil, http.StatusOK, nil); string(after) != string(before) {
			t.Errorf("product after restart %s; before %s", after, before)
		}
		for id, was := range beforeHolds {
			if is := mustCall(t, c, http.MethodGet, fmt.Sprintf("%s/api/holds/%d", p.base, id), "", nil, http.StatusOK, nil); string(is) != was {
				t.Errorf("hold %d after restart %s; before %s", id, is, was)
			}
		}
		// The restarted server goes on from the stored state: new ids and
		// the remaining stock.
		h := placeHold(t, c, p, 1, 2)
		if _, seen := beforeHolds[h.HoldID]; seen {
			t.Errorf("the restarted server reused hold id %d", h.HoldID)
		}
		if got := getProduct(t, c, p, 1); got.AvailableStock != prod.AvailableStock-2 {
			t.Errorf("available after one more hold of 2: %d; want %d", got.AvailableStock, prod.AvailableStock-2)
		}
		p.terminate(t)
	})
}

func TestSIGKILLLosesNoAcknowledgedHold(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newClient(t)
		url := storetest.URL(t, dialect)
		args := serverArgs("serve", url, "--hold-ttl", "10m", "--admin-token", adminToken)
		const rounds, stock = 3, 1_000_000
		var (
			productID int64
			acked     []httpapi.HoldJSON // over every round
			db        *store.DB
		)
		// checkRestarted requires a fresh server on the database to serve
		// every hold acknowledged so far, and stock agreeing with the
		// database's active holds.
		checkRestarted := func(p *proc) {
			t.Helper()
			checkHoldsOverHTTP(t, c, p, acked)
			got := getProduct(t, c, p, productID)
			row := actorstest.CheckBooks(t, db, productID).Product
			if got.Stock != stock || got.Stock-got.AvailableStock != row.Held {
				t.Errorf("served %+v; the database has %d units in active holds of a stock of %d", got, row.Held, stock)
			}
		}
		for round := 1; round <= rounds; round++ {
			p := startServer(t, fmt.Sprintf("server of round %d", round), args)
			if round == 1 {
				productID = createProduct(t, c, p, adminToken, "Crash", stock).ID
			} else {
				checkRestarted(p)
			}

			stop := make(chan struct{})
			loaded := make(chan loadTally, 1)
			go func() { loaded <- holdLoad(c, p.base, productID, 64, 3, stop) }()
			delay := time.Duration(200+rand.IntN(400)) * time.Millisecond
			time.Sleep(delay)
			p.kill(t)
			close(stop)
			load := <-loaded
			t.Logf("round %d: SIGKILL after %v; acknowledged %d holds; statuses %v; %d requests without an answer",
				round, delay, len(load.acked), load.statuses, load.errors)
			if odd := load.unexpected(http.StatusCreated, http.StatusServiceUnavailable); len(odd) > 0 || load.malformed > 0 {
				t.Errorf("round %d: unexpected answers %v, %d malformed 201s", round, odd, load.malformed)
			}
			acked = append(acked, load.acked...)

			if db == nil {
				db = storetest.OpenURL(t, url)
			}
			checkDatabase(t, db, productID, acked)
			if t.Failed() {
				t.FailNow()
			}
		}
		if len(acked) == 0 {
			t.Fatal("no hold was acknowledged in any round: the test proved nothing")
		}
		seen := map[int64]bool{}
		for _, h := range acked {
			if seen[h.HoldID] {
				t.Errorf("hold id %d was acknowledged twice", h.HoldID)
			}
			seen[h.HoldID] = true
		}
		p := startServer(t, "server after the last round", args)
		checkRestarted(p)
		p.terminate(t)
		assertCheckPasses(t, url)
	})
}

func TestTwoProcessesOnOneDatabaseNeverOversell(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newClient(t)
		url := storetest.URL(t, dialect)
		// A request timeout far beyond the test's, so that every 503 comes
		// from the version check, which rolls its hold back for certain.
		args := serverArgs("serve", url, "--hold-ttl", "10m", "--request-timeout", "60s")
		servers := []*proc{startServer(t, "server A", args), startServer(t, "server B", args)}
		const stock, perServer = 50, 200
		for _, p := range servers {
			// Both load product 1 at version 0 before anyone takes a hold,
			// so that one of them is bound to write on a stale version.
			if got := getProduct(t, c, p, 1); got.Stock != stock || got.AvailableStock != stock {
				t.Fatalf("%s: product 1 is %+v; want a stock of %d, all available", p.name, got, stock)
			}
		}

		var (
			mu    sync.Mutex
			load  = loadTally{statuses: map[int]int{}}
			by    = map[string]int{}
			wg    sync.WaitGroup
			start = make(chan struct{})
		)
		for _, p := range servers {
			for range perServer {
				wg.Go(func() {
					<-start
					status, raw, err := call(c, http.MethodPost, p.base+"/api/holds", "", map[string]int64{"product_id": 1, "qty": 1})
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						load.errors++
						return
					}
					load.statuses[status]++
					if status != http.StatusCreated {
						return
					}
					var h httpapi.HoldJSON
					if json.Unmarshal(raw, &h) != nil || h.ProductID != 1 || h.Qty != 1 || h.HoldID < 1 {
						load.malformed++
						return
					}
					load.acked = append(load.acked, h)
					by[p.name]++
				})
			}
		}
		close(start)
		wg.Wait()
		t.Logf("statuses %v, acknowledged by server %v, %d requests without an answer", load.statuses, by, load.errors)

		if n := len(load.acked); n > stock {
			t.Errorf("%d holds of one unit acknowledged for a stock of %d: oversold", n, stock)
		}
		if len(load.acked) == 0 {
			t.Errorf("no hold was acknowledged")
		}
		if load.errors > 0 || load.malformed > 0 {
			t.Errorf("%d requests got no answer, %d malformed 201s", load.errors, load.malformed)
		}
		if odd := load.unexpected(http.StatusCreated, http.StatusConflict, http.StatusServiceUnavailable); len(odd) > 0 {
			t.Errorf("unexpected answers %v", odd)
		}
		db := storetest.OpenURL(t, url)
		st := checkDatabase(t, db, 1, load.acked)
		if got, want := st.Product.Held, int64(len(load.acked)); got != want {
			t.Errorf("the database holds %d units; %d were acknowledged", got, want)
		}
		ids := map[int64]bool{}
		for _, h := range load.acked {
			if ids[h.HoldID] {
				t.Errorf("hold id %d was acknowledged twice", h.HoldID)
			}
			ids[h.HoldID] = true
		}
		// The burst opened connections that never carried a request; a
		// server waits up to 5s for such connections when it shuts down.
		c.CloseIdleConnections()
		for _, p := range servers {
			p.terminate(t)
		}
		assertCheckPasses(t, url)
	})
}

func TestHoldExpiresOnTime(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newClient(t)
		url := storetest.URL(t, dialect)
		p := startServer(t, "server", serverArgs("serve", url, "--hold-ttl", "1s"))
		if got := getProduct(t, c, p, 1); got.AvailableStock != 50 {
			t.Fatalf("product 1 before the hold: %+v; want 50 available", got)
		}
		taken := time.Now()
		h := placeHold(t, c, p, 1, 3)
		expires, err := time.Parse(time.RFC3339, h.ExpiresAt)
		if err != nil {
			t.Fatal(err)
		}
		// The expiry is the TTL after the hold, rounded up to the second.
		if d := expires.Sub(taken); d < time.Second || d > 2*time.Second+500*time.Millisecond {
			t.Errorf("expires_at %s is %v after the request; want the 1s TTL rounded up to the second", h.ExpiresAt, d)
		}
		if got := getProduct(t, c, p, 1); got.AvailableStock != 47 {
			t.Fatalf("product 1 while held: %+v; want 47 available", got)
		}

		time.Sleep(time.Until(taken.Add(2500 * time.Millisecond)))
		var after httpapi.HoldJSON
		mustCall(t, c, http.MethodGet, fmt.Sprintf("%s/api/holds/%d", p.base, h.HoldID), "", nil, http.StatusOK, &after)
		if after.Status != "expired" {
			t.Errorf("hold after 2.5s: %+v; want expired", after)
		}

		// The release is written by the server's own timer, before anyone
		// reads the product (a read past the expiry releases it as well).
		db := storetest.OpenURL(t, url)
		actorstest.Eventually(t, 5*time.Second, func() string {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			st, err := db.LoadProduct(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			hold, err := db.Hold(ctx, h.HoldID)
			if err != nil {
				t.Fatal(err)
			}
			if hold.Status != flashsale.HoldExpired || st.Product.Held != 0 || len(st.ActiveHolds) != 0 {
				return fmt.Sprintf("%v after the hold expired the database has hold %+v and product %+v",
					time.Since(expires).Round(time.Millisecond), hold, st.Product)
			}
			return ""
		})
		if got := getProduct(t, c, p, 1); got.AvailableStock != 50 {
			t.Errorf("product 1 after expiry: %+v; want all 50 available again", got)
		}
		p.terminate(t)
	})
}

// TestServiceBoundsEarlyWebhooks, as an operator sees it: a webhook for an
// order id no server has reserved is refused with 404; one for a reserved
// id whose order does not appear is kept for --early-webhook-ttl, then
// dropped by the running service, so such webhooks do not pile up, its key
// is free again, and the order that later gets its id is not paid by it.
func TestServiceBoundsEarlyWebhooks(t *testing.T) {
	storetest.RunParallel(t, func(t *testing.T, dialect string) {
		url := storetest.URL(t, dialect)
		p := startServer(t, "server", serverArgs("serve", url, "--early-webhook-ttl", "1s"))
		c := newClient(t)
		webhook := func(key string, orderID int64, status string) (int, string) {
			code, raw, err := call(c, http.MethodPost, p.base+"/api/payments/webhook", "",
				map[string]any{"idempotency_key": key, "order_id": orderID, "status": status})
			if err != nil {
				t.Fatal(err)
			}
			return code, string(raw)
		}
		if code, raw := webhook("stray-1", 1, "success"); code != http.StatusNotFound {
			t.Fatalf("webhook before any order id is reserved = %d %s; want 404", code, raw)
		}
		order := func() (id int64, status string) {
			var o httpapi.OrderJSON
			h := placeHold(t, c, p, 1, 1)
			mustCall(t, c, http.MethodPost, p.base+"/api/orders", "", map[string]int64{"hold_id": h.HoldID}, http.StatusCreated, &o)
			return o.OrderID, o.Status
		}
		if id, status := order(); id != 1 || status != "pending_payment" {
			t.Fatalf("first order = %d %s; want 1 pending_payment, unpaid by the stray webhook", id, status)
		}
		if code, raw := webhook("pay-never", 2, "success"); code != http.StatusAccepted {
			t.Fatalf("early webhook for order 2 = %d %s; want 202", code, raw)
		}
		// Within its TTL the key is taken: another payload is refused.
		if code, raw := webhook("pay-never", 2, "failed"); code != http.StatusConflict {
			t.Fatalf("same key, other payload, at once = %d %s; want 409", code, raw)
		}
		db := storetest.OpenURL(t, url)
		actorstest.Eventually(t, 10*time.Second, func() string {
			if _, err := db.PaymentByKey(t.Context(), "pay-never"); !errors.Is(err, flashsale.ErrPaymentNotFound) {
				return fmt.Sprintf("the early webhook is still recorded (%v) after a TTL of 1s", err)
			}
			return ""
		})
		if id, status := order(); id != 2 || status != "pending_payment" {
			t.Fatalf("second order = %d %s; want 2 pending_payment, unpaid by the dropped webhook", id, status)
		}
		if code, raw := webhook("pay-never", 3, "failed"); code != http.StatusAccepted {
			t.Fatalf("the key after its TTL = %d %s; want 202, a new webhook", code, raw)
		}
		if p.log.count("retention pass") == 0 {
			t.Errorf("no retention pass was logged")
		}
	})
}
