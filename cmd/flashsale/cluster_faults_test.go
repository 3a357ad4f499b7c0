package main

// The tests in this file break a cluster of real nodes while clients use
// it: a node frozen and woken, an owner killed with holds due or in the
// middle of a recorded history, nodes restarted one at a time; and one
// product run on two processes at once. They run on MariaDB only (a
// cluster refuses SQLite) and skip, saying so, without it. Like
// cluster_test.go, the cluster's nodes are a build without -race (see
// nonRaceBinary); the two single processes are the test run's own build.

import (
	"context"
	"encoding/json"
	"flashsale"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"flashsale/actors/actorstest"
	"flashsale/httpapi"
	"flashsale/httpapi/httpapitest"
	"flashsale/store"
	"flashsale/store/storetest"
)

// keyedHold is a hold request sent with an Idempotency-Key of its own, and
// what it got.
type keyedHold struct {
	key       string
	productID int64
	via       string // the name of the node it went through
	status    int    // 0 when it got no answer
	hold      httpapi.HoldJSON
	malformed bool // a 201 whose body is not the hold asked for
	err       error
}

// known says whether the client learned the hold's outcome.
func (r keyedHold) known() bool {
	return r.err == nil && (r.status == http.StatusCreated || r.status == http.StatusConflict)
}

// holdLedger records every keyed hold request of a test.
type holdLedger struct {
	next atomic.Int64
	mu   sync.Mutex // guards reqs
	reqs []keyedHold
}

// hold places a hold of one unit through a node, under a key no other
// request has, and records what it got. It does not touch t, so that
// workers may use it.
func (l *holdLedger) hold(c *http.Client, nd *proc, productID int64) keyedHold {
	return l.holdKey(c, nd, productID, fmt.Sprintf("hold-%d", l.next.Add(1)))
}

// holdKey is hold under a given key: a retry sends the key again.
func (l *holdLedger) holdKey(c *http.Client, nd *proc, productID int64, key string) keyedHold {
	r := keyedHold{key: key, productID: productID, via: nd.name}
	a := faultCall(c, http.MethodPost, nd.base+"/api/holds", keyHeader(r.key), holdRequest(productID, 1))
	r.status, r.err = a.status, a.err
	if r.err == nil && r.status == http.StatusCreated {
		r.malformed = json.Unmarshal(a.body, &r.hold) != nil || r.hold.HoldID < 1 || r.hold.ProductID != productID ||
			r.hold.Qty != 1 || r.hold.Status != "active"
	}
	l.mu.Lock()
	l.reqs = append(l.reqs, r)
	l.mu.Unlock()
	return r
}

// tally sums up the requests that keep says to.
func (l *holdLedger) tally(keep func(keyedHold) bool) loadTally {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := loadTally{statuses: map[int]int{}}
	for _, r := range l.reqs {
		switch {
		case !keep(r):
		case r.err != nil:
			t.errors++
		case r.malformed:
			t.statuses[r.status]++
			t.malformed++
		default:
			t.statuses[r.status]++
			if r.status == http.StatusCreated {
				t.acked = append(t.acked, r.hold)
			}
		}
	}
	return t
}

func ofProduct(id int64) func(keyedHold) bool {
	return func(r keyedHold) bool { return r.productID == id }
}

// checkHolds requires the database to have every acknowledged hold of a
// product, with the books exact, and no hold but those asked for: the
// product's active holds are the acknowledged ones and those whose request
// got no clear answer but found by their key. It returns the product as
// stored. The holds must not have expired.
func (l *holdLedger) checkHolds(t *testing.T, db *store.DB, productID int64) flashsale.ProductState {
	t.Helper()
	st := checkDatabase(t, db, productID, l.tally(ofProduct(productID)).acked)
	l.mu.Lock()
	reqs := slices.Clone(l.reqs)
	l.mu.Unlock()
	ours := map[int64]bool{}
	for _, r := range reqs {
		switch {
		case r.productID != productID:
		case r.status == http.StatusCreated:
			ours[r.hold.HoldID] = true
		case !r.known():
			h, err := db.HoldByKey(context.Background(), r.key)
			if err == nil && h.ProductID == productID {
				ours[h.ID] = true
			}
		}
	}
	for _, h := range st.ActiveHolds {
		if !ours[h.ID] {
			t.Errorf("product %d: active hold %+v was never asked for", productID, h)
		}
	}
	return st
}

// sendSignal sends a signal to a node that runs.
func sendSignal(t *testing.T, p *proc, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%v to %s: %v", sig, p.name, err)
	}
}

// createProductOwnedBy creates products until one is owned by the node,
// by the first node's view, and returns it.
func createProductOwnedBy(t *testing.T, c *http.Client, nodes []clusterNode, owner clusterNode, name string, stock int64) httpapi.ProductJSON {
	t.Helper()
	for range 40 {
		p := createProduct(t, c, nodes[0].proc, clusterToken, name, stock)
		if ownerOf(t, c, nodes[0], p.ID) == owner.id {
			return p
		}
	}
	t.Fatalf("none of 40 new products is owned by %s", owner.name)
	return httpapi.ProductJSON{}
}

// deciders are the nodes that decided a product's hold_created events, in
// seq order, one entry per run of the same node.
func deciders(events []flashsale.Event) []string {
	var runs []string
	for _, e := range events {
		if e.Kind == flashsale.EventHoldCreated && (len(runs) == 0 || runs[len(runs)-1] != e.Node) {
			runs = append(runs, e.Node)
		}
	}
	return runs
}

// wakeGrace is how long a woken node may go on deciding, with the copies of
// products it held when it froze, before it finds it was dropped from the
// cluster. The database fence keeps those decisions right; the contract is
// that the double activation is short.
const wakeGrace = 3 * time.Second

// TestClusterOwnerFrozenAndWoken: the owner of a small product is
// SIGSTOPped for 4 s, then woken, while hundreds of clients hold through
// the other two nodes, and through the woken node after it wakes. Nothing
// is oversold, every acknowledged hold is in the database with the books
// exact, only 201, 409 and 503 are answered, and the woken node stops
// deciding for products it was dropped from: it says /readyz 503 until it
// has rejoined with a new member id, and within 15 s every node lists all
// three members again and is ready.
func TestClusterOwnerFrozenAndWoken(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t, "mysql")
	c := newClient(t)
	nodes := startCluster(t, c, url, 3)
	const stock = 20
	small := createProduct(t, c, nodes[0].proc, clusterToken, "Frozen small", stock)
	frozen, others := ownerAndOthers(t, c, nodes, small.ID)
	// A product of the same owner with stock to spare: its journal says
	// which node decided its holds before, during and after the freeze.
	big := createProductOwnedBy(t, c, nodes, frozen, "Frozen big", 1_000_000)

	// The owner runs both actors when it freezes: the copies it wakes
	// with are stale.
	var l holdLedger
	for _, id := range []int64{small.ID, small.ID, small.ID, small.ID, small.ID, big.ID, big.ID} {
		if r := l.hold(c, frozen.proc, id); r.status != http.StatusCreated {
			t.Fatalf("hold through the owner before the freeze: %+v", r)
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	steady := func(nd clusterNode, productID int64, workers int) {
		wg.Go(func() {
			runWorkers(workers, 100_000, time.Now().Add(time.Minute), stop, 0, func(int, int) bool {
				l.hold(c, nd.proc, productID)
				time.Sleep(100 * time.Millisecond)
				return true
			})
		})
	}
	sendSignal(t, frozen.proc, syscall.SIGSTOP)
	frozenAt := time.Now()
	for _, nd := range others {
		steady(nd, small.ID, 100)
		steady(nd, big.ID, 10)
	}
	time.Sleep(4 * time.Second)
	sendSignal(t, frozen.proc, syscall.SIGCONT)
	woke := time.Now()
	steady(frozen, small.ID, 10)
	steady(frozen, big.ID, 5)

	// Until every node lists all three and is ready: what the woken node
	// said, and the last moment it had not rejoined. Its own view is not
	// enough: it may list all three while the others still block it.
	var (
		wokenSaid   = map[string]int{}
		notRejoined = woke
		converged   time.Duration
	)
	for converged == 0 && time.Since(woke) < 15*time.Second {
		sample := time.Now()
		all := true
		for _, nd := range nodes {
			v, err := nd.view(c)
			ready, _, rerr := call(c, http.MethodGet, nd.base+"/readyz", "", nil)
			ok := err == nil && len(v.Members) == 3 && rerr == nil && ready == http.StatusOK
			if nd.id == frozen.id {
				wokenSaid[fmt.Sprintf("readyz %d, %d members", ready, len(v.Members))]++
			}
			all = all && ok
		}
		if !all {
			notRejoined = sample
		}
		if all {
			converged = time.Since(woke)
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("the woken node answered (readyz, members seen): %v", wokenSaid)
	if converged == 0 {
		for _, nd := range nodes {
			v, err := nd.view(c)
			ready, _, _ := call(c, http.MethodGet, nd.base+"/readyz", "", nil)
			t.Errorf("%s 15 s after the wake: readyz %d, view %+v (%v); want 200 and all three members", nd.name, ready, v, err)
		}
	} else {
		t.Logf("all three nodes list three members and are ready %v after the wake", converged.Round(time.Millisecond))
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	for _, nd := range nodes {
		tl := l.tally(func(r keyedHold) bool { return r.via == nd.name })
		t.Logf("%s: %v, %d without an answer", nd.name, tl.statuses, tl.errors)
	}
	total := l.tally(func(keyedHold) bool { return true })
	if odd := total.unexpected(http.StatusCreated, http.StatusConflict, http.StatusServiceUnavailable); len(odd) > 0 || total.errors > 0 || total.malformed > 0 {
		t.Errorf("answers %v (unexpected %v, %d without an answer, %d malformed); want only 201, 409 and 503",
			total.statuses, odd, total.errors, total.malformed)
	}
	if n := len(l.tally(ofProduct(small.ID)).acked); n > stock {
		t.Errorf("%d holds of one unit acknowledged on a stock of %d: oversold", n, stock)
	}
	db := storetest.OpenURL(t, url)
	st := l.checkHolds(t, db, small.ID)
	t.Logf("product %d: %d of %d units held in the database", small.ID, st.Product.Held, stock)
	l.checkHolds(t, db, big.ID)

	// Which node decided the big product's holds, and when.
	events := actorstest.Journal(t, db, big.ID)
	runs := deciders(events)
	t.Logf("holds of product %d decided by, in turn: %v (%d turns)", big.ID, runs[:min(6, len(runs))], len(runs))
	var late []string
	took := false // another node has decided since the freeze
	for _, e := range events {
		switch {
		case e.Kind != flashsale.EventHoldCreated || e.At.Before(frozenAt):
		case e.Node != frozen.id:
			took = true
		case took && e.At.After(woke.Add(wakeGrace)) && e.At.Before(notRejoined):
			late = append(late, fmt.Sprintf("seq %d at +%v", e.Seq, e.At.Sub(woke).Round(time.Millisecond)))
		}
	}
	if len(late) > 0 {
		t.Errorf("the woken node decided %d holds of product %d more than %v after waking, before it had rejoined (last seen not rejoined at +%v), e.g. %v",
			len(late), big.ID, wakeGrace, notRejoined.Sub(woke).Round(time.Millisecond), late[:min(5, len(late))])
	}
	if converged > 0 {
		// Once it rejoined, the nodes agree again on whom each product
		// belongs to, and read the books the database has.
		for _, id := range []int64{small.ID, big.ID} {
			owners := map[string]bool{}
			for _, nd := range nodes {
				owners[ownerOf(t, c, nd, id)] = true
			}
			if len(owners) != 1 {
				t.Errorf("after the rejoin the nodes name different owners of product %d: %v", id, owners)
			}
		}
		for _, nd := range nodes {
			if got := getProduct(t, c, nd.proc, small.ID); got.AvailableStock != stock-st.Product.Held {
				t.Errorf("%s: product %+v; the database holds %d of %d", nd.name, got, st.Product.Held, stock)
			}
		}
	}
	c.CloseIdleConnections()
	stopAndCheck(t, nodes, url)
}

// releaseSlack is how long after its time a hold or an order whose owner
// died may still take its units: the survivors look for products with
// something due once a second.
const releaseSlack = 2 * time.Second

// TestClusterReleasesTheDeadOwnersHoldsOnTime: holds and an unpaid order
// are placed through the owner of a product, which is then SIGKILLed.
// With nobody asking for the product, the survivors release them in the
// database on time, and the journal says a survivor decided it.
func TestClusterReleasesTheDeadOwnersHoldsOnTime(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t, "mysql")
	c := newClient(t)
	nodes := startCluster(t, c, url, 3, "FLASHSALE_HOLD_TTL=2s", "FLASHSALE_PAYMENT_TTL=3s")
	const stock = 10
	p := createProduct(t, c, nodes[0].proc, clusterToken, "Orphaned", stock)
	owner, survivors := ownerAndOthers(t, c, nodes, p.ID)
	var holds []httpapi.HoldJSON
	for _, q := range []int64{1, 2, 3} {
		holds = append(holds, placeHold(t, c, owner.proc, p.ID, q))
	}
	var o httpapi.OrderJSON
	mustCall(t, c, http.MethodPost, owner.base+"/api/orders", "", map[string]int64{"hold_id": placeHold(t, c, owner.proc, p.ID, 2).HoldID},
		http.StatusCreated, &o)
	owner.kill(t)
	killed := time.Now()

	db := storetest.OpenURL(t, url)
	ctx := context.Background()
	due := map[string]time.Time{} // what must be released, by when
	for _, h := range holds {
		at, err := time.Parse(time.RFC3339, h.ExpiresAt)
		if err != nil {
			t.Fatalf("hold %+v: %v", h, err)
		}
		due[fmt.Sprintf("hold %d", h.HoldID)] = at
	}
	order, err := db.Order(ctx, o.OrderID)
	if err != nil {
		t.Fatal(err)
	}
	due[fmt.Sprintf("order %d", o.OrderID)] = order.ExpiresAt
	// released says whether one of them is released in the database; the
	// database is read, never the service, so that nobody asks for the
	// product.
	released := func(what string) bool {
		var id int64
		if n, _ := fmt.Sscanf(what, "hold %d", &id); n == 1 {
			h, err := db.Hold(ctx, id)
			return err == nil && h.Status == flashsale.HoldExpired
		}
		_, _ = fmt.Sscanf(what, "order %d", &id)
		o, err := db.Order(ctx, id)
		return err == nil && o.Status == flashsale.OrderCancelled
	}
	last := slices.MaxFunc(slices.Collect(maps.Values(due)), time.Time.Compare)
	late := map[string]time.Duration{} // after its time, when seen released
	for len(late) < len(due) && time.Now().Before(last.Add(releaseSlack+3*time.Second)) {
		now := time.Now()
		for what, at := range due {
			if _, seen := late[what]; !seen && released(what) {
				late[what] = now.Sub(at)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("owner killed %v before the first was due; released after their time (as polled every 50 ms): %v",
		slices.MinFunc(slices.Collect(maps.Values(due)), time.Time.Compare).Sub(killed).Round(time.Millisecond), late)
	for what, at := range due {
		d, seen := late[what]
		switch {
		case !seen:
			t.Errorf("%s, due at %s, is not released in the database %v after", what, at.Format(time.TimeOnly), releaseSlack+3*time.Second)
		case d > releaseSlack:
			t.Errorf("%s was released in the database %v after its time; want within %v", what, d.Round(time.Millisecond), releaseSlack)
		}
	}

	st := actorstest.CheckBooks(t, db, p.ID)
	if st.Product.Held != 0 || st.Product.AwaitingPayment != 0 {
		t.Errorf("product %+v after every hold and order was due; want nothing held or awaiting payment", st.Product)
	}
	for _, e := range actorstest.Journal(t, db, p.ID) {
		if (e.Kind == flashsale.EventHoldExpired || e.Kind == flashsale.EventOrderCancelled) &&
			!slices.ContainsFunc(survivors, func(nd clusterNode) bool { return nd.id == e.Node }) {
			t.Errorf("seq %d %s was decided on %q; want one of the survivors", e.Seq, e.Kind, e.Node)
		}
	}
	for _, nd := range survivors {
		if got := getProduct(t, c, nd.proc, p.ID); got.AvailableStock != stock {
			t.Errorf("%s: product %+v; want all %d available", nd.name, got, stock)
		}
		nd.terminate(t)
	}
	assertCheckPasses(t, url)
}

// TestClusterEarlyWebhookThroughAnotherNode: a webhook for a product's next
// order reaches node 3 before the order is made, through node 2, from a
// hold placed through node 1; the order is created paid. It is done once
// for a product of each node, so that the webhook's node is the owner
// once and another node twice.
func TestClusterEarlyWebhookThroughAnotherNode(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t, "mysql")
	c := newClient(t)
	nodes := startCluster(t, c, url, 3, "FLASHSALE_WEBHOOK_SECRET="+webhookSecret)
	const stock = 5
	order := func(productID int64) httpapi.OrderJSON {
		t.Helper()
		h := placeHold(t, c, nodes[0].proc, productID, 1)
		var o httpapi.OrderJSON
		mustCall(t, c, http.MethodPost, nodes[1].base+"/api/orders", "", map[string]int64{"hold_id": h.HoldID}, http.StatusCreated, &o)
		return o
	}
	for _, owner := range nodes {
		p := createProductOwnedBy(t, c, nodes, owner, "Early", stock)
		// The owner hands out its order ids in turn: the next is one
		// more than the order it makes now.
		next := order(p.ID).OrderID + 1
		w := newWebhook(fmt.Sprintf("early-%d", next), next, "success")
		if status, raw, err := postWebhook(c, nodes[2].base, w.body, webhookSecret); err != nil || status != http.StatusAccepted {
			t.Fatalf("webhook for order %d of product %d (owner %s) through node 3 = %d %s (%v); want 202",
				next, p.ID, owner.name, status, trim(raw), err)
		}
		o := order(p.ID)
		if o.OrderID != next || o.Status != "paid" {
			t.Errorf("product %d (owner %s): order %+v after the early webhook for order %d; want that order, paid", p.ID, owner.name, o, next)
		}
		for _, nd := range nodes {
			var got httpapi.OrderJSON
			mustCall(t, c, http.MethodGet, fmt.Sprintf("%s/api/orders/%d", nd.base, o.OrderID), "", nil, http.StatusOK, &got)
			if got != o {
				t.Errorf("%s serves order %+v; it was created as %+v", nd.name, got, o)
			}
			if got := getProduct(t, c, nd.proc, p.ID); got.AvailableStock != stock-2 {
				t.Errorf("%s: product %+v; want %d of %d available", nd.name, got, stock-2, stock)
			}
		}
	}
	stopAndCheck(t, nodes, url)
}

// TestClusterRollingRestart: under a steady load of holds through all
// three nodes, each node in turn is stopped with SIGTERM and started again
// on the same addresses. Clients stop sending to a node before it stops,
// as a load balancer would, and go back to it once the cluster has
// formed again. Nothing but 201, 409 and 503 is answered, every request is
// answered, every acknowledged hold is in the database and the books are
// exact.
func TestClusterRollingRestart(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t, "mysql")
	c := newClient(t)
	nodes := startCluster(t, c, url, 3)
	p := createProduct(t, c, nodes[0].proc, clusterToken, "Rolling", 1_000_000)

	// A node is sent to only while it is in service; inFlight counts the
	// requests sent to it that have not returned.
	type target struct {
		nd        *clusterNode
		inService atomic.Bool
		inFlight  atomic.Int64
	}
	targets := make([]*target, len(nodes))
	names := make([]string, len(nodes)) // a restarted node's name says so
	for i := range nodes {
		names[i] = nodes[i].name
		targets[i] = &target{nd: &nodes[i]}
		targets[i].inService.Store(true)
	}
	var l holdLedger
	stop := make(chan struct{})
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		runWorkers(24, 100_000, time.Now().Add(2*time.Minute), stop, 0, func(w, i int) bool {
			tg := targets[(w+i)%len(targets)]
			tg.inFlight.Add(1)
			if tg.inService.Load() {
				l.hold(c, tg.nd.proc, p.ID)
			}
			tg.inFlight.Add(-1)
			time.Sleep(20 * time.Millisecond)
			return true
		})
	}()
	time.Sleep(time.Second)
	for i, tg := range targets {
		tg.inService.Store(false)
		actorstest.Eventually(t, 10*time.Second, func() string {
			if n := tg.inFlight.Load(); n > 0 {
				return fmt.Sprintf("%d requests still in flight to %s", n, tg.nd.name)
			}
			return ""
		})
		owned := ownerOf(t, c, nodes[(i+1)%len(nodes)], p.ID) == tg.nd.id
		tg.nd.terminate(t)
		time.Sleep(500 * time.Millisecond) // the others go on without it
		tg.nd.restart(t)
		deadline := time.Now().Add(30 * time.Second)
		for _, nd := range nodes {
			if problem := nd.awaitMembers(t, c, len(nodes), deadline); problem != "" {
				close(stop)
				<-loaded
				t.Fatalf("after restarting %s: %s", tg.nd.name, problem)
			}
		}
		tg.inService.Store(true)
		t.Logf("%s (the product's owner: %v) restarted", tg.nd.name, owned)
		time.Sleep(time.Second)
	}
	close(stop)
	<-loaded

	for _, name := range names {
		tl := l.tally(func(r keyedHold) bool { return strings.HasPrefix(r.via, name) })
		t.Logf("%s, before and after its restart: %v, %d without an answer", name, tl.statuses, tl.errors)
		if len(tl.acked) == 0 {
			t.Errorf("no hold was acknowledged through %s", name)
		}
	}
	total := l.tally(func(keyedHold) bool { return true })
	if odd := total.unexpected(http.StatusCreated, http.StatusConflict, http.StatusServiceUnavailable); len(odd) > 0 || total.errors > 0 || total.malformed > 0 {
		t.Errorf("answers %v (unexpected %v, %d without an answer, %d malformed); want only 201, 409 and 503",
			total.statuses, odd, total.errors, total.malformed)
	}
	l.checkHolds(t, storetest.OpenURL(t, url), p.ID)
	c.CloseIdleConnections()
	stopAndCheck(t, nodes, url)
}

// TestClusterHoldsAndReadsAreLinearizable records every hold and read of
// one product made through all three nodes, and SIGKILLs the product's
// owner in the middle; the clients of the dead node go on through the
// survivors. The history, with the holds whose outcome was unknown looked
// up by key, must be linearizable against the model of available stock
// (httpapitest.CheckStockHistory).
func TestClusterHoldsAndReadsAreLinearizable(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t, "mysql")
	c := newClient(t)
	nodes := startCluster(t, c, url, 3)
	const (
		stock     = 150
		holders   = 15
		holds     = 450
		readers   = 6
		killAfter = 60 // holds answered before the owner's kill
	)
	p := createProduct(t, c, nodes[0].proc, clusterToken, "Linearizable", stock)
	owner, survivors := ownerAndOthers(t, c, nodes, p.ID)
	var dead atomic.Bool
	// via is the node client k sends its i-th request through: its own,
	// or a survivor once its own is dead.
	via := func(k, i int) *proc {
		if nd := nodes[k%len(nodes)]; !dead.Load() || nd.id != owner.id {
			return nd.proc
		}
		return survivors[(k+i)%len(survivors)].proc
	}

	h := httpapitest.NewHistory()
	var (
		answered    atomic.Int64 // holds whose client learned the outcome
		mu          sync.Mutex   // guards problems
		problems    []string
		holdersDone sync.WaitGroup
		readersDone sync.WaitGroup
		next        = make(chan int, holds)
		done        = make(chan struct{})
	)
	for i := range holds {
		next <- i
	}
	close(next)
	for k := range holders {
		holdersDone.Go(func() {
			for i := range next {
				in := httpapitest.StockInput{Hold: true, Key: fmt.Sprintf("lin-%d", i)}
				call := h.Now()
				a := faultCall(c, http.MethodPost, via(k, i).base+"/api/holds", keyHeader(in.Key), holdRequest(p.ID, 1))
				out := httpapitest.StockOutput{Status: a.status, Known: a.err == nil && (a.status == http.StatusCreated || a.status == http.StatusConflict)}
				h.Add(k, in, call, out)
				if out.Known {
					answered.Add(1)
				} else if a.err == nil && a.status != http.StatusServiceUnavailable {
					mu.Lock()
					problems = append(problems, a.String())
					mu.Unlock()
				}
			}
		})
	}
	for r := range readers {
		readersDone.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				call := h.Now()
				got, status, _, err := getJSON[httpapi.ProductJSON](c, fmt.Sprintf("%s/api/products/%d", via(r, i).base, p.ID))
				if err == nil && status == http.StatusOK {
					h.Add(holders+r, httpapitest.StockInput{}, call, httpapitest.StockOutput{Status: status, Available: got.AvailableStock, Known: true})
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	actorstest.Eventually(t, 30*time.Second, func() string {
		if n := answered.Load(); n < killAfter {
			return fmt.Sprintf("%d holds answered", n)
		}
		return ""
	})
	owner.kill(t)
	killedAt := h.Now()
	dead.Store(true)
	holdersDone.Wait()
	close(done)
	readersDone.Wait()
	// Every server drained or dead: a hold whose outcome is unknown now
	// took effect or never will.
	for _, nd := range survivors {
		nd.terminate(t)
	}

	db := storetest.OpenURL(t, url)
	unknown, err := h.Resolve(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	ops := h.Ops()
	var created, refused, reads, afterKill int
	for _, op := range ops {
		in, out := op.Input.(httpapitest.StockInput), op.Output.(httpapitest.StockOutput)
		switch {
		case !in.Hold:
			reads++
		case out.Status == http.StatusCreated:
			created++
		default:
			refused++
		}
		if in.Hold && op.Call > killedAt && op.Return != math.MaxInt64 {
			afterKill++
		}
	}
	t.Logf("%d operations: %d holds took effect, %d refused, %d of unknown outcome before their keys were looked up, %d reads; %d holds answered after the kill",
		len(ops), created, refused, unknown, reads, afterKill)
	if len(problems) > 0 {
		t.Errorf("%d holds answered neither 201, 409 nor 503, e.g. %v", len(problems), problems[:min(5, len(problems))])
	}
	if afterKill == 0 {
		t.Errorf("no hold sent after the owner's kill was answered: the history says nothing of the takeover")
	}
	httpapitest.AssertLinearizable(t, stock, ops)
	assertCheckPasses(t, url)
}

// TestTwoProcessesSellExactlyTheStock runs one product on two processes at
// once, as a cluster does for a while when its membership changes: two
// single processes (no cluster) on one MariaDB database, both with the
// product loaded, and hundreds of holds of one unit split over both at the
// stock boundary. The version fence refuses the batches decided on a
// stale copy; a hold answered 503 meanwhile is sent again with its
// Idempotency-Key until it is decided. Exactly the stock is sold, never
// more, and the books are exact.
func TestTwoProcessesSellExactlyTheStock(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t, "mysql")
	c := newClient(t)
	// A request timeout far beyond the test's, so that every 503 comes
	// from the version check, which rolls its batch back for certain.
	args := serverArgs("serve", url, "--hold-ttl", "10m", "--request-timeout", "60s", "--admin-token", adminToken)
	servers := []*proc{startServer(t, "server A", args), startServer(t, "server B", args)}
	const stock, perServer, attempts = 40, 200, 100
	p := createProduct(t, c, servers[0], adminToken, "Fenced", stock)
	for _, s := range servers {
		// Both load the product before any hold, so that each is bound
		// to write on a version the other has moved on.
		if got := getProduct(t, c, s, p.ID); got.AvailableStock != stock {
			t.Fatalf("%s: product %+v; want all %d available", s.name, got, stock)
		}
	}

	var (
		l      holdLedger
		mu     sync.Mutex      // guards final
		final  = map[int]int{} // the status each hold ended with
		wg     sync.WaitGroup
		start  = make(chan struct{})
		byNode = map[string]int{}
	)
	for i := range 2 * perServer {
		s := servers[i%len(servers)]
		wg.Go(func() {
			<-start
			key := fmt.Sprintf("fenced-%d", i)
			var r keyedHold
			for range attempts {
				if r = l.holdKey(c, s, p.ID, key); r.known() || r.err != nil || r.status != http.StatusServiceUnavailable {
					break
				}
				time.Sleep(time.Duration(5+rand.IntN(20)) * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			final[r.status]++
			if r.status == http.StatusCreated {
				byNode[s.name]++
			}
		})
	}
	close(start)
	wg.Wait()
	total := l.tally(func(keyedHold) bool { return true })
	t.Logf("holds ended %v, acknowledged by %v; every attempt: %v, %d without an answer", final, byNode, total.statuses, total.errors)

	if final[http.StatusCreated] != stock || final[http.StatusConflict] != 2*perServer-stock {
		t.Errorf("holds ended %v; want exactly %d × 201 and %d × 409", final, stock, 2*perServer-stock)
	}
	if odd := total.unexpected(http.StatusCreated, http.StatusConflict, http.StatusServiceUnavailable); len(odd) > 0 || total.errors > 0 || total.malformed > 0 {
		t.Errorf("answers %v (unexpected %v, %d without an answer, %d malformed); want only 201, 409 and 503",
			total.statuses, odd, total.errors, total.malformed)
	}
	// Both loaded the product at its first version: the one that
	// committed second did so on a version the other had moved on, and the
	// fence refused it (its holds were decided again).
	conflicts := 0.0
	for _, s := range servers {
		conflicts += metrics(t, c, s, "flashsale_batch_version_conflicts_total")["flashsale_batch_version_conflicts_total"]
	}
	t.Logf("%v version conflicts", conflicts)
	if conflicts == 0 {
		t.Errorf("no version conflict: the fence between the processes was not tried")
	}
	st := l.checkHolds(t, storetest.OpenURL(t, url), p.ID)
	if st.Product.Held != stock {
		t.Errorf("the database holds %d units of a stock of %d; want all of it", st.Product.Held, stock)
	}
	c.CloseIdleConnections()
	for _, s := range servers {
		s.terminate(t)
	}
	assertCheckPasses(t, url)
}
