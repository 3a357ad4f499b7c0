package actors

import (
	"encoding/json"
	"flashsale"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	"github.com/labstack/echo"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Membership providers a node may use.
const (
	ProviderAutomanaged = "automanaged"
	ProviderEtcd        = "etcd"
)

// defaultRefresh is how often automanaged members poll each other.
const defaultRefresh = 500 * time.Millisecond

// blockedPath is where a node's membership endpoint answers whether its
// view dropped a member id for good.
const blockedPath = "/_flashsale/blocked/"

type blockedJSON struct {
	Blocked bool `json:"blocked"`
}

// membership is how this node finds the others: the engine's provider, and
// what must be closed besides it when the node leaves.
type membership struct {
	provider cluster.ClusterProvider
	close    func() error
}

// newMembership makes the provider ccfg names. self is the node's cluster,
// once made, host:port the address others reach its remote at, and
// blocked tells whether this node's view dropped a member for good.
func newMembership(ccfg ClusterConfig, system *actor.ActorSystem, self func() *cluster.Cluster, blocked func(memberID string) bool,
	host string, port int) (membership, error) {
	switch ccfg.Provider {
	case ProviderEtcd:
		// Each member keeps a lease of a few seconds under
		// /flashsale/<cluster name>/ and watches the others'.
		p, err := etcd.NewWithConfig("/flashsale", clientv3.Config{Endpoints: ccfg.Etcd, DialTimeout: 5 * time.Second})
		if err != nil {
			return membership{}, fmt.Errorf("cluster etcd: %w", err)
		}
		return membership{provider: p, close: func() error { return nil }}, nil
	case ProviderAutomanaged, "":
	default:
		return membership{}, fmt.Errorf("cluster provider %q: want %s or %s", ccfg.Provider, ProviderAutomanaged, ProviderEtcd)
	}
	mhost, mport, err := splitHostPort("cluster membership", ccfg.Membership)
	if err != nil {
		return membership{}, err
	}
	refresh := ccfg.RefreshTTL
	if refresh <= 0 {
		refresh = defaultRefresh
	}
	// The provider would serve its health endpoint on every interface; ours
	// listens on the membership address only (echo keeps a preset listener).
	ln, err := net.Listen("tcp", net.JoinHostPort(mhost, strconv.Itoa(mport)))
	if err != nil {
		return membership{}, fmt.Errorf("cluster membership: %w", err)
	}
	health := echo.New()
	health.HideBanner, health.HidePort = true, true
	health.Listener = ln
	health.GET("/_health", func(ctx echo.Context) error {
		return ctx.JSON(http.StatusOK, automanaged.NewNode(ccfg.Name, system.ID, host, port, mport, self().GetClusterKinds()))
	})
	// A node that was frozen or cut off does not notice that the others
	// dropped it (the engine blocks a dropped member for good and tells
	// it nothing): it asks them here.
	health.GET(blockedPath+":id", func(ctx echo.Context) error {
		return ctx.JSON(http.StatusOK, blockedJSON{Blocked: blocked(ctx.Param("id"))})
	})
	p := automanaged.NewWithTesting(refresh, mport, health, ccfg.Peers...)
	// The provider's Shutdown leaves the health endpoint up; a node that
	// is gone must not answer it.
	return membership{provider: p, close: health.Close}, nil
}

// watchDropped finds out, every refresh, whether the others dropped this
// node, and if so makes it rejoin under a new member id. A dropped member
// is blocked by the engine on every other node for good, and the engine
// does not tell it. With automanaged, the node asks its peers' membership
// endpoints. With etcd, the node's lease lapsed and its own view lost it:
// it is missing from its own view for longer than a change of view takes.
func (h *clusterHost) watchDropped() {
	refresh := h.ccfg.RefreshTTL
	if refresh <= 0 {
		refresh = defaultRefresh
	}
	client := &http.Client{Timeout: refresh}
	tick := time.NewTicker(refresh)
	defer tick.Stop()
	var missing time.Time // since when this node has been missing from its own view
	for {
		select {
		case <-h.stop:
			return
		case <-tick.C:
		}
		h.mu.Lock()
		id, member := h.eng.system.ID, slices.Contains(h.members, h.self)
		h.mu.Unlock()
		switch {
		case h.ccfg.Provider != ProviderEtcd:
			for _, peer := range h.ccfg.Peers {
				if peer != h.ccfg.Membership && droppedBy(client, peer, id) {
					h.log.Warn().Str("peer", peer).Str("member_id", id).Msg("a peer dropped this node from the cluster; rejoining")
					h.rejoin()
					break
				}
			}
		case member:
			missing = time.Time{}
		case missing.IsZero():
			missing = time.Now()
		case time.Since(missing) > etcdRejoinAfter:
			h.log.Warn().Str("member_id", id).Msg("this node has been missing from its own view of the cluster; rejoining")
			h.rejoin()
			missing = time.Time{}
		}
	}
}

// etcdRejoinAfter is how long a node on etcd may be missing from its own
// view before it rejoins: longer than a member's lease takes to appear.
const etcdRejoinAfter = 3 * time.Second

// droppedBy asks peer's membership endpoint whether it dropped member id.
// No answer is no news: a peer that is down drops nobody.
func droppedBy(client *http.Client, peer, id string) bool {
	resp, err := client.Get("http://" + peer + blockedPath + id)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var b blockedJSON
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&b) == nil && b.Blocked
}

// rejoin makes this node a member again under a new member id. Until the
// new member sees the cluster, the node owns nothing: its actors stop,
// requests for every product answer 503, and /readyz says 503.
func (h *clusterHost) rejoin() {
	h.metrics.Rejoins.Inc()
	h.mu.Lock()
	h.dropped = true
	h.members = nil
	h.place.update(nil)
	lost := h.forgetLocked(func(string) bool { return true })
	old := h.eng
	h.mu.Unlock()
	for _, c := range lost {
		c.fail(fmt.Errorf("%w: node %s dropped from the cluster with the request in flight", flashsale.ErrUnavailable, h.self))
	}
	h.movedAway()
	old.leave(false)
	for {
		_, err := h.join(h.log)
		if err == nil {
			return
		}
		h.log.Warn().Err(err).Msg("rejoining the cluster failed; trying again")
		select {
		case <-h.stop:
			return
		case <-time.After(time.Second):
		}
	}
}
