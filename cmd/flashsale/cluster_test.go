package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"flashsale/httpapi"
	"flashsale/store/storetest"
)

// The cluster's nodes run a build of the program WITHOUT -race, whatever
// the test run's mode: Proto.Actor's own cluster code (gossip, member list,
// block list) has data races at our pinned version (docs/cluster.md), and
// the process tests fail on any race report. Our code on the nodes is
// still checked under -race by the single-process tests.

// nonRaceBinary builds the program without -race, once per test run, next
// to the binary TestMain built (and removes).
var nonRaceBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(filepath.Dir(binary), "flashsale-norace")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// freeAddrs are n addresses on 127.0.0.1 that nothing listens on now.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		defer ln.Close()
	}
	return addrs
}

// clusterNode is one node of a test cluster: its process and its id, and
// what it was started with, so that it can be started again.
type clusterNode struct {
	*proc
	id   string
	args []string
	env  []string
}

// startCluster starts n nodes on one database, automanaged on 127.0.0.1,
// and waits until every node sees all of them. extra are settings
// (NAME=value) every node gets.
func startCluster(t *testing.T, c *http.Client, dbURL string, n int, extra ...string) []clusterNode {
	t.Helper()
	memberships := freeAddrs(t, n)
	return startClusterWith(t, c, dbURL, n, func(i int) []string {
		return append([]string{"FLASHSALE_CLUSTER_MEMBERSHIP=" + memberships[i], "FLASHSALE_CLUSTER_PEERS=" + strings.Join(memberships, ",")}, extra...)
	})
}

// startClusterWith starts n nodes whose provider settings are
// providerEnv's, and waits until every node sees all of them.
func startClusterWith(t *testing.T, c *http.Client, dbURL string, n int, providerEnv func(i int) []string) []clusterNode {
	t.Helper()
	bin, err := nonRaceBinary()
	if err != nil {
		t.Fatal(err)
	}
	// A member that misses a health check while the cluster forms is
	// blocked by the engine for good (docs/cluster.md); on a loaded
	// machine that happens now and then. Such a start is not what the
	// tests are about: the nodes are started again.
	for attempt := 1; ; attempt++ {
		nodes, problem := launchCluster(t, c, bin, dbURL, n, providerEnv)
		if problem == "" {
			return nodes
		}
		for _, nd := range nodes {
			nd.kill(t)
		}
		if attempt == 3 {
			t.Fatalf("the cluster did not form in %d attempts: %s", attempt, problem)
		}
		t.Logf("attempt %d: %s; starting the nodes again", attempt, problem)
	}
}

// launchCluster starts n nodes and waits until every node sees all of
// them; it reports what it waited for in vain.
func launchCluster(t *testing.T, c *http.Client, bin, dbURL string, n int, providerEnv func(i int) []string) ([]clusterNode, string) {
	t.Helper()
	binds := freeAddrs(t, n)
	nodes := make([]clusterNode, n)
	for i := range nodes {
		env := append([]string{"FLASHSALE_ADMIN_TOKEN=" + clusterToken, "FLASHSALE_CLUSTER_NAME=test",
			"FLASHSALE_CLUSTER_BIND=" + binds[i]}, providerEnv(i)...)
		args := serverArgs("serve", dbURL)
		nodes[i] = clusterNode{launchProgram(t, bin, fmt.Sprintf("node %d", i+1), args, env...), binds[i], args, env}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, nd := range nodes {
		nd.awaitListening(t)
		if problem := nd.awaitMembers(t, c, n, deadline); problem != "" {
			return nodes, problem
		}
	}
	return nodes, ""
}

// clusterView is a node's answer to GET /api/admin/cluster.
type clusterView struct {
	Node    string   `json:"node"`
	Members []string `json:"members"`
}

// view asks the node whom it sees. It does not touch t, so that workers
// may use it.
func (nd clusterNode) view(c *http.Client) (clusterView, error) {
	var v clusterView
	status, raw, err := call(c, http.MethodGet, nd.base+"/api/admin/cluster", clusterToken, nil)
	switch {
	case err != nil:
		return v, err
	case status != http.StatusOK:
		return v, fmt.Errorf("GET /api/admin/cluster = %d %s", status, trim(raw))
	}
	return v, json.Unmarshal(raw, &v)
}

// awaitMembers waits until the node sees n members, at most until
// deadline; it reports what it saw last if it never did.
func (nd clusterNode) awaitMembers(t *testing.T, c *http.Client, n int, deadline time.Time) string {
	t.Helper()
	for {
		v, err := nd.view(c)
		if err == nil && len(v.Members) == n {
			if v.Node != nd.id {
				t.Fatalf("%s says it is %q; want %q", nd.name, v.Node, nd.id)
			}
			return ""
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("%s does not see all %d nodes: %+v %v", nd.name, n, v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restart starts a node that has exited again, with the same settings and
// addresses, and waits until it listens.
func (nd *clusterNode) restart(t *testing.T) {
	t.Helper()
	if !nd.exited() {
		t.Fatalf("%s is still running", nd.name)
	}
	bin, err := nonRaceBinary()
	if err != nil {
		t.Fatal(err)
	}
	// The last --addr wins: the HTTP address the node had before.
	args := append(slices.Clone(nd.args), "--addr", strings.TrimPrefix(nd.base, "http://"))
	nd.proc = launchProgram(t, bin, nd.name+" (restarted)", args, nd.env...)
	nd.awaitListening(t)
}

const clusterToken = "cluster-admin"

// TestClusterOfThreeNodes: three nodes on one database serve one catalogue.
// Holds of one product through all three never oversell, every node reads
// what was acknowledged, and a hold placed through one node is ordered
// through another and paid through the third.
func TestClusterOfThreeNodes(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t, "mysql")
	c := newClient(t)
	checkThreeNodes(t, c, url, startCluster(t, c, url, 3))
}

// TestClusterOfThreeNodesOnEtcd is TestClusterOfThreeNodes with the nodes
// finding each other through etcd (the etcd-server package), which the
// test starts on 127.0.0.1; without an etcd on PATH it is skipped.
func TestClusterOfThreeNodesOnEtcd(t *testing.T) {
	t.Parallel()
	etcdBin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no etcd on PATH (Debian: etcd-server); CI installs it")
		}
		t.Skip("no etcd on PATH (Debian: etcd-server)")
	}
	url := storetest.URL(t, "mysql")
	c := newClient(t)
	addrs := freeAddrs(t, 2)
	client, peer := "http://"+addrs[0], "http://"+addrs[1]
	etcd := exec.Command(etcdBin, "--name", "test", "--data-dir", t.TempDir(),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "test="+peer)
	if err := etcd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = etcd.Process.Kill()
		_ = etcd.Wait()
	})
	nodes := startClusterWith(t, c, url, 3, func(int) []string {
		return []string{"FLASHSALE_CLUSTER_PROVIDER=etcd", "FLASHSALE_CLUSTER_ETCD=" + addrs[0]}
	})
	checkThreeNodes(t, c, url, nodes)
}

// checkThreeNodes is the test of TestClusterOfThreeNodes on nodes.
func checkThreeNodes(t *testing.T, c *http.Client, url string, nodes []clusterNode) {
	t.Helper()

	p := createProduct(t, c, nodes[0].proc, clusterToken, "Clustered", 300)
	owners := map[string]bool{}
	for _, nd := range nodes {
		owners[ownerOf(t, c, nd, p.ID)] = true
	}
	if len(owners) != 1 {
		t.Fatalf("the nodes name different owners of product %d: %v", p.ID, owners)
	}

	const holds = 600
	var (
		mu       sync.Mutex
		acked    []httpapi.HoldJSON
		statuses = map[int]int{}
		wg       sync.WaitGroup
	)
	start := time.Now()
	for i := range holds {
		wg.Go(func() {
			status, raw, err := call(c, http.MethodPost, nodes[i%3].base+"/api/holds", "", map[string]int64{"product_id": p.ID, "qty": 1})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				statuses[-1]++
				return
			}
			statuses[status]++
			var h httpapi.HoldJSON
			if status == http.StatusCreated && json.Unmarshal(raw, &h) == nil {
				acked = append(acked, h)
			}
		})
	}
	wg.Wait()
	t.Logf("%d holds of 1 through 3 nodes in %v: %v", holds, time.Since(start).Round(time.Millisecond), statuses)
	if statuses[http.StatusCreated] != 300 || statuses[http.StatusConflict] != 300 || len(acked) != 300 {
		t.Fatalf("answers %v (%d acknowledged); want 300 × 201 and 300 × 409", statuses, len(acked))
	}
	for _, nd := range nodes {
		if got := getProduct(t, c, nd.proc, p.ID); got.AvailableStock != 0 || got.Stock != 300 {
			t.Errorf("%s: product %+v; want 0 of 300 available", nd.name, got)
		}
	}
	db := storetest.OpenURL(t, url)
	checkDatabase(t, db, p.ID, acked)

	// Checkout across nodes: hold through node 1, order through node 2,
	// paid through node 3; the order is read through node 1.
	q := createProduct(t, c, nodes[0].proc, clusterToken, "Checkout", 5)
	h := placeHold(t, c, nodes[0].proc, q.ID, 2)
	var o httpapi.OrderJSON
	mustCall(t, c, http.MethodPost, nodes[1].base+"/api/orders", "", map[string]int64{"hold_id": h.HoldID}, http.StatusCreated, &o)
	if o.HoldID != h.HoldID || o.Status != "pending_payment" {
		t.Fatalf("order %+v; want one of hold %d, pending payment", o, h.HoldID)
	}
	mustCall(t, c, http.MethodPost, nodes[2].base+"/api/orders", "", map[string]int64{"hold_id": h.HoldID}, http.StatusConflict, nil)
	pay := map[string]any{"idempotency_key": "cluster-pay", "order_id": o.OrderID, "status": "success"}
	mustCall(t, c, http.MethodPost, nodes[2].base+"/api/payments/webhook", "", pay, http.StatusOK, nil)
	var paid httpapi.OrderJSON
	mustCall(t, c, http.MethodGet, fmt.Sprintf("%s/api/orders/%d", nodes[0].base, o.OrderID), "", nil, http.StatusOK, &paid)
	if paid.Status != "paid" {
		t.Errorf("order after the webhook through node 3: %+v; want paid", paid)
	}
	for _, nd := range nodes {
		if got := getProduct(t, c, nd.proc, q.ID); got.AvailableStock != 3 {
			t.Errorf("%s: product %+v; want 3 of 5 available", nd.name, got)
		}
	}
	// Whichever node took a request, the owner decided it: the journal
	// says so.
	owner := ownerOf(t, c, nodes[0], q.ID)
	events, err := db.Events(t.Context(), q.ID, 1, 100)
	if err != nil || len(events) != 3 {
		t.Fatalf("the journal of product %d after its creation: %d events, %v; want hold, order, payment", q.ID, len(events), err)
	}
	for _, e := range events {
		if e.Node != owner {
			t.Errorf("seq %d %s was decided on %q; want the owner %q", e.Seq, e.Kind, e.Node, owner)
		}
	}

	stopAndCheck(t, nodes, url)
}

// TestClusterRefusesSQLite: a cluster needs a database every node shares.
// stopAndCheck stops every node with SIGTERM, so that each drains, and
// then requires `flashsale check` to find the books of the database at
// url exact.
func stopAndCheck(t *testing.T, nodes []clusterNode, url string) {
	t.Helper()
	for _, nd := range nodes {
		nd.terminate(t)
	}
	assertCheckPasses(t, url)
}

func TestClusterRefusesSQLite(t *testing.T) {
	t.Parallel()
	code, stderr, _ := runToExit(t, 30*time.Second, serverArgs("serve", storetest.URL(t, "sqlite")),
		"FLASHSALE_CLUSTER_NAME=shop", "FLASHSALE_CLUSTER_BIND=127.0.0.1:7101")
	if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "--cluster-name") {
		t.Fatalf("cluster mode on SQLite: exit %d, stderr %q; want exit 2 and one line naming --cluster-name", code, stderr)
	}
}

// ownerOf is the owner of a product by a node's view.
func ownerOf(t *testing.T, c *http.Client, nd clusterNode, productID int64) string {
	t.Helper()
	var o struct {
		Owner string `json:"owner"`
	}
	mustCall(t, c, http.MethodGet, fmt.Sprintf("%s/api/admin/cluster/products/%d", nd.base, productID), clusterToken, nil, http.StatusOK, &o)
	return o.Owner
}

// ownerAndOthers splits the nodes into the owner of a product, by the first
// node's view, and the others.
func ownerAndOthers(t *testing.T, c *http.Client, nodes []clusterNode, productID int64) (owner clusterNode, others []clusterNode) {
	t.Helper()
	id := ownerOf(t, c, nodes[0], productID)
	for _, nd := range nodes {
		if nd.id == id {
			owner = nd
		} else {
			others = append(others, nd)
		}
	}
	if owner.proc == nil {
		t.Fatalf("owner %q of product %d is none of the nodes", id, productID)
	}
	return owner, others
}

// TestClusterSurvivesTheOwnersKill: the owner of a hot product is
// SIGKILLed while holds go on through the other two nodes. Requests in
// flight to it answer 503 (nothing else fails), holds succeed again through
// both survivors within 2 s, and every acknowledged hold is in the
// database with the books exact.
func TestClusterSurvivesTheOwnersKill(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t, "mysql")
	c := newClient(t)
	nodes := startCluster(t, c, url, 3)
	p := createProduct(t, c, nodes[0].proc, clusterToken, "Hot", 1_000_000)
	victim, survivors := ownerAndOthers(t, c, nodes, p.ID)

	stop := make(chan struct{})
	tallies := make([]loadTally, len(survivors))
	var wg sync.WaitGroup
	for i, s := range survivors {
		wg.Go(func() { tallies[i] = holdLoad(c, s.base, p.ID, 8, 3, stop) })
	}
	time.Sleep(time.Second)
	victim.kill(t)
	killed := time.Now()
	for _, s := range survivors {
		for {
			status, raw, err := call(c, http.MethodPost, s.base+"/api/holds", "", map[string]int64{"product_id": p.ID, "qty": 1})
			if err == nil && status == http.StatusCreated {
				var h httpapi.HoldJSON
				if json.Unmarshal(raw, &h) == nil {
					tallies[0].acked = append(tallies[0].acked, h)
				}
				break
			}
			if time.Since(killed) > 10*time.Second {
				close(stop)
				wg.Wait()
				t.Fatalf("%s: no hold succeeded within 10 s of the kill: %d %s %v", s.name, status, raw, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("%s: first hold acknowledged %v after the owner's kill", s.name, time.Since(killed).Round(time.Millisecond))
	}
	failover := time.Since(killed)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	total := loadTally{statuses: map[int]int{}}
	for _, tl := range tallies {
		total.add(tl)
	}
	t.Logf("load through the survivors: %v, %d acknowledged", total.statuses, len(total.acked))
	if odd := total.unexpected(http.StatusCreated, http.StatusServiceUnavailable); len(odd) > 0 || total.errors > 0 || total.malformed > 0 {
		t.Errorf("answers %v (unexpected %v, %d without an answer, %d malformed); want only 201 and 503",
			total.statuses, odd, total.errors, total.malformed)
	}
	if failover > 2*time.Second {
		t.Errorf("holds succeeded through both survivors %v after the kill; want within 2 s", failover)
	}
	checkDatabase(t, storetest.OpenURL(t, url), p.ID, total.acked)
	for _, s := range survivors {
		s.terminate(t)
	}
	assertCheckPasses(t, url)
}

// TestClusterSettings: a node's settings that cannot work are refused at
// once, naming the setting at fault.
func TestClusterSettings(t *testing.T) {
	t.Parallel()
	mysql := []string{"--db", "mysql://root@tcp(127.0.0.1:3306)/shop", "--cluster-name", "shop"}
	for _, tc := range []struct {
		args []string
		bad  string // the setting named, or empty for none
	}{
		{[]string{"--cluster-name", "shop", "--cluster-bind", "127.0.0.1:7101"}, "--cluster-name"}, // SQLite, the default
		{mysql, "--cluster-bind"},
		{append(mysql, "--cluster-bind", "127.0.0.1:7101"), "--cluster-membership"},
		{append(mysql, "--cluster-bind", "127.0.0.1:7101", "--cluster-membership", "127.0.0.1:7201"), "--cluster-peers"},
		{append(mysql, "--cluster-bind", "127.0.0.1:7101", "--cluster-provider", "etcd"), "--cluster-etcd"},
		{append(mysql, "--cluster-provider", "consul"), "--cluster-provider"},
		{append(mysql, "--cluster-bind", "127.0.0.1:7101", "--cluster-provider", "etcd", "--cluster-etcd", "127.0.0.1:2379"), ""},
		{[]string{"--cluster-bind", "127.0.0.1:7101"}, ""}, // no cluster name: a single process
	} {
		_, err := loadConfig(append([]string{"serve"}, tc.args...), noEnv, &bytes.Buffer{})
		bad, isBad := errors.AsType[*settingError](err)
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("flashsale serve %q: %v; want it accepted", tc.args, err)
		case tc.bad != "" && (!isBad || bad.setting != tc.bad || strings.Contains(err.Error(), "\n")):
			t.Errorf("flashsale serve %q: %v; want one line naming %s", tc.args, err, tc.bad)
		}
	}
	cfg, err := loadConfig(append([]string{"serve", "--cluster-bind", "127.0.0.1:7101", "--cluster-membership", "127.0.0.1:7201",
		"--cluster-peers", "127.0.0.1:7201, 127.0.0.1:7202,"}, mysql...), noEnv, &bytes.Buffer{})
	if err != nil || !slices.Equal(cfg.Cluster.Peers, []string{"127.0.0.1:7201", "127.0.0.1:7202"}) {
		t.Errorf("--cluster-peers read as %q, %v", cfg.Cluster.Peers, err)
	}
}
