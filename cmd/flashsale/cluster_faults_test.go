package main

// The tests in this file break a cluster of real nodes while clients use
// it: a node frozen and woken, an owner killed with holds due, nodes
// restarted one at a time, and one product run on two processes at once.
// They run on MariaDB only (a cluster refuses SQLite) and skip, saying so,
// without it. Like cluster_test.go, the cluster's nodes are a build
// without -race (see nonRaceBinary).

import (
	"context"
	"encoding/json"
	"flashsale"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"flashsale/actors/actorstest"
	"flashsale/httpapi"
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
	r := keyedHold{key: fmt.Sprintf("hold-%d", l.next.Add(1)), productID: productID, via: nd.name}
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
	for _, nd := range nodes {
		nd.terminate(t)
	}
	assertCheckPasses(t, url)
}
