package actors

import (
	"context"
	"flashsale"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"flashsale/actors/wire"
)

// ClusterConfig is where this node sits in a cluster of flashsale nodes.
type ClusterConfig struct {
	Name string // the cluster's name: nodes of other names are not members
	// Bind is this node's remote address, host:port; it is the node's id.
	Bind string
	// Advertise is the host others reach this node at, when it differs
	// from Bind's.
	Advertise string
	// Provider is how nodes find each other: ProviderAutomanaged (the
	// default) or ProviderEtcd.
	Provider string
	// Etcd are etcd's endpoints, for ProviderEtcd.
	Etcd []string
	// Membership is this node's automanaged health address, host:port;
	// Peers are every node's, this one included.
	Membership string
	Peers      []string
	// RefreshTTL is how often the automanaged provider polls the peers;
	// zero is half a second.
	RefreshTTL time.Duration
	// Metrics is where the cluster's metrics register; nil is nowhere.
	Metrics prometheus.Registerer
}

// productKind is the cluster kind of product actors. Members register it so
// that membership says who hosts products and the owner of a product is the
// one disthash would pick; its actors are never activated through the
// engine (the local Host runs them), so its props do nothing.
const productKind = "product"

// inboxName is the well-known name of every node's inbox actor.
const inboxName = "flashsale-inbox"

// clusterHost runs the products this node owns on the local Host and
// forwards the requests for the others to their owner's inbox. It waits on
// no Proto.Actor future (upstream issue 1145) and never sends a write twice:
// answers come back as frames, matched to their calls by id.
type clusterHost struct {
	local   *Host
	log     zerolog.Logger
	self    string // this node's id, its remote address
	ccfg    ClusterConfig
	metrics *clusterMetrics

	place   placement          // owner of each product by this node's latest view
	mu      sync.Mutex         // guards the fields below
	eng     *engine            // this node's member of the cluster; replaced when it rejoins
	members []string           // by this node's latest view, sorted
	blocked map[string]bool    // member ids this node's view dropped for good
	dropped bool               // a peer dropped this node: it rejoins, meanwhile it takes no writes
	outbox  map[string]*outbox // by peer node
	pending map[uint64]*remoteCall
	nextID  uint64
	stop    chan struct{}
}

// engine is this node's member of the cluster in Proto.Actor: an actor
// system of its own (its id is the member id), its remote, its inbox and
// its membership provider. A member that the others dropped is blocked by
// them for good, so a node comes back with a new engine.
type engine struct {
	system     *actor.ActorSystem
	cluster    *cluster.Cluster
	membership membership
}

// NewClusterService starts this node as a member of the cluster ccfg names
// and a Service whose product actors are spread over the members: this
// node runs the products it owns and forwards the others' requests.
func NewClusterService(cfg Config, store Store, log zerolog.Logger, ccfg ClusterConfig) (*Service, error) {
	cfg = cfg.complete()
	local := newHost(cfg, store, log)
	ch, err := startCluster(local, log, ccfg)
	if err != nil {
		return nil, err
	}
	local.start()
	return &Service{cfg: cfg, store: store, host: ch, local: local, cluster: ch, routes: new(routes)}, nil
}

func startCluster(local *Host, log zerolog.Logger, ccfg ClusterConfig) (*clusterHost, error) {
	host, port, err := splitHostPort("cluster bind", ccfg.Bind)
	if err != nil {
		return nil, err
	}
	if ccfg.Advertise != "" {
		if host, port, err = splitHostPort("cluster advertise", ccfg.Advertise); err != nil {
			return nil, err
		}
	}
	ch := &clusterHost{
		// Known before the member starts: the inbox and the topology
		// events compare owners with it as soon as it has.
		self:  net.JoinHostPort(host, strconv.Itoa(port)),
		local: local, log: log.With().Str("component", "cluster").Logger(), ccfg: ccfg,
		metrics: newClusterMetrics(ccfg.Metrics), blocked: map[string]bool{},
		outbox: map[string]*outbox{}, pending: map[uint64]*remoteCall{}, stop: make(chan struct{}),
	}
	// Before any of local's actors runs: each event records the node
	// that decided it, and each request is checked against the owner.
	local.cfg.Node = ch.self
	local.owns = func(id int64) bool { return ch.owner(id) == ch.self }
	if _, err := ch.join(log); err != nil {
		return nil, err
	}
	go ch.sweep()
	go ch.watchDropped()
	ch.log.Info().Str("node", ch.self).Str("cluster", ccfg.Name).Strs("peers", ccfg.Peers).Msg("cluster member started")
	return ch, nil
}

// join starts a new member of the cluster for this node.
func (h *clusterHost) join(log zerolog.Logger) (*engine, error) {
	ccfg := h.ccfg
	host, port, err := splitHostPort("cluster bind", ccfg.Bind)
	if err != nil {
		return nil, err
	}
	advHost, advPort, _ := net.SplitHostPort(h.self)
	engineLog := log.With().Str("component", "protoactor").Logger()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(zerolog.NewSlogHandler(engineLog))
	}))
	ropts := []remote.ConfigOption{}
	if ccfg.Advertise != "" {
		ropts = append(ropts, remote.WithAdvertisedHost(ccfg.Advertise))
	}
	e := &engine{system: system}
	advPortN, _ := strconv.Atoi(advPort)
	m, err := newMembership(ccfg, system, func() *cluster.Cluster { return e.cluster }, h.isBlocked, advHost, advPortN)
	if err != nil {
		system.Shutdown()
		return nil, err
	}
	e.membership = m
	kind := cluster.NewKind(productKind, actor.PropsFromFunc(func(actor.Context) {}))
	e.cluster = cluster.New(system, cluster.Configure(ccfg.Name, m.provider, disthash.New(),
		remote.Configure(host, port, ropts...), cluster.WithKinds(kind)))
	system.EventStream.Subscribe(func(evt any) {
		if t, ok := evt.(*cluster.ClusterTopology); ok {
			h.topology(e, t)
		}
	})
	if _, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &inbox{h: h} }), inboxName); err != nil {
		_ = m.close()
		system.Shutdown()
		return nil, fmt.Errorf("cluster inbox: %w", err)
	}
	// From here on the topology events of e are this node's view, and
	// those of an engine it left are not.
	h.mu.Lock()
	h.eng, h.dropped = e, false
	h.mu.Unlock()
	e.cluster.StartMember()
	if addr := system.Address(); addr != h.self {
		h.log.Warn().Str("node", h.self).Str("remote", addr).Msg("the remote's address is not the node id the members know")
	}
	return e, nil
}

// leave stops the engine: gracefully at shutdown, at once when the node
// was dropped and rejoins.
func (e *engine) leave(graceful bool) {
	e.cluster.Shutdown(graceful)
	_ = e.membership.provider.Shutdown(graceful)
	_ = e.membership.close()
}

func splitHostPort(what, addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", what, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("%s: bad port in %q", what, addr)
	}
	return h, port, nil
}

// topology takes a new view of the members from engine e: owners follow
// it, and calls in flight to a node that left answer ErrUnavailable at
// once (their outcome is unknown; a retry with the same idempotency key
// finds what committed).
func (h *clusterHost) topology(e *engine, t *cluster.ClusterTopology) {
	h.mu.Lock()
	if h.eng != nil && h.eng != e || h.dropped {
		h.mu.Unlock() // the view of an engine this node has left
		return
	}
	members := make([]string, 0, len(t.Members))
	for _, m := range t.Members {
		if m.HasKind(productKind) {
			members = append(members, m.Address())
		}
	}
	slices.Sort(members)
	h.place.update(members)
	h.members = members
	// The engine blocks a member that left for good, though this event
	// may list it only as left.
	for _, m := range t.Left {
		h.blocked[m.Id] = true
	}
	for _, id := range t.Blocked {
		h.blocked[id] = true
	}
	lost := h.forgetLocked(func(node string) bool { return !slices.Contains(members, node) })
	h.mu.Unlock()
	for _, c := range lost {
		c.fail(fmt.Errorf("%w: node %s left the cluster with the request in flight", flashsale.ErrUnavailable, c.node))
	}
	h.log.Info().Strs("members", members).Int("lost_calls", len(lost)).Msg("cluster topology")
	h.movedAway()
}

// forgetLocked closes the outboxes to the nodes gone says are gone and
// returns the calls in flight to them; h.mu is held.
func (h *clusterHost) forgetLocked(gone func(node string) bool) []*remoteCall {
	var lost []*remoteCall
	for id, c := range h.pending {
		if gone(c.node) {
			lost = append(lost, c)
			delete(h.pending, id)
		}
	}
	for node, o := range h.outbox {
		if gone(node) {
			o.close()
			delete(h.outbox, node)
		}
	}
	return lost
}

// movedAway stops the local actors of the products this node no longer
// owns, off the engine's event stream: it walks every running product.
func (h *clusterHost) movedAway() {
	go func() {
		if n := h.local.moved(); n > 0 {
			h.log.Info().Int("products", n).Msg("products moved to other nodes; their actors stop here")
		}
	}()
}

// isBlocked reports whether this node's view dropped a member for good.
func (h *clusterHost) isBlocked(memberID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.blocked[memberID]
}

// ready reports whether this node takes writes: it is a member by its
// own view and no peer has dropped it.
func (h *clusterHost) ready() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.dropped:
		return fmt.Errorf("%w: this node was dropped from the cluster and is rejoining", flashsale.ErrUnavailable)
	case !slices.Contains(h.members, h.self):
		return fmt.Errorf("%w: this node is not a member of the cluster by its own view", flashsale.ErrUnavailable)
	}
	return nil
}

// owner is the node that owns a product by this node's latest view, or
// empty before this node has seen any.
func (h *clusterHost) owner(productID int64) string {
	return h.place.owner(productID)
}

// view is this node's id and the members it sees.
func (h *clusterHost) view() (string, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.self, slices.Clone(h.members)
}

func (h *clusterHost) snapshot(ctx context.Context, productID int64) (*Snapshot, error) {
	owner := h.owner(productID)
	if owner == h.self {
		return h.local.snapshot(ctx, productID)
	}
	c := &remoteCall{ctx: ctx, productID: productID, snap: newReply[*Snapshot]()}
	if err := h.forward(owner, c); err != nil {
		return nil, err
	}
	a, err := await(ctx, c.snap.reply)
	if err != nil {
		return nil, err
	}
	return a.value, a.err
}

func (h *clusterHost) send(ctx context.Context, productID int64, msg request) error {
	owner := h.owner(productID)
	if owner == h.self {
		return h.local.send(ctx, productID, msg)
	}
	return h.forward(owner, &remoteCall{ctx: ctx, productID: productID, msg: msg})
}

// running shows only the products this node runs and owns; the others are
// read from the database by the catalogue.
func (h *clusterHost) running(productID int64) (*Snapshot, bool) {
	if h.owner(productID) != h.self {
		return nil, false
	}
	return h.local.running(productID)
}

// forward queues a call in the outbox of node, which answers it later.
func (h *clusterHost) forward(node string, c *remoteCall) error {
	if node == "" {
		return fmt.Errorf("%w: this node sees no cluster member yet", flashsale.ErrUnavailable)
	}
	deadline, ok := c.ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	h.mu.Lock()
	select {
	case <-h.stop:
		h.mu.Unlock()
		return fmt.Errorf("%w: shutting down", flashsale.ErrUnavailable)
	default:
	}
	h.nextID++
	c.id, c.node, c.deadline = h.nextID, node, deadline
	call, err := encodeCall(c)
	if err != nil {
		h.mu.Unlock()
		return err
	}
	h.pending[c.id] = c
	o := h.outboxOf(node)
	h.mu.Unlock()
	h.metrics.Forwarded.Inc()
	o.call(call)
	return nil
}

// outboxOf is the outbox to node, made on first use; h.mu is held.
func (h *clusterHost) outboxOf(node string) *outbox {
	o, ok := h.outbox[node]
	if !ok {
		o = newOutbox(h.eng.system.Root, h.self, node, h.metrics)
		h.outbox[node] = o
	}
	return o
}

// answered takes the reply to a call this node forwarded. A NotOwner reply
// means nothing was decided: the call goes to the owner by the latest view,
// a few times at most.
func (h *clusterHost) answered(r *wire.Reply) {
	h.mu.Lock()
	c, ok := h.pending[r.GetId()]
	delete(h.pending, r.GetId())
	h.mu.Unlock()
	switch {
	case !ok:
		// Its caller has given up, or its node left.
	case r.GetError() == wire.Error_NOT_OWNER:
		h.metrics.NotOwner.Inc()
		go h.reroute(c)
	default:
		c.answer(r)
	}
}

// reroute sends a call that was answered NotOwner to the owner by this
// node's latest view.
func (h *clusterHost) reroute(c *remoteCall) {
	c.reroutes++
	owner := h.owner(c.productID)
	switch {
	case c.reroutes > maxReroutes:
		c.fail(noSettledOwner(c.productID))
	case owner == h.self && c.msg != nil:
		if err := h.local.send(c.ctx, c.productID, c.msg); err != nil {
			c.fail(err)
		}
	case owner == h.self:
		snap, err := h.local.snapshot(c.ctx, c.productID)
		c.snap.answer(snap, err)
	default:
		if err := h.forward(owner, c); err != nil {
			c.fail(err)
		}
	}
}

// maxReroutes bounds how often one call follows NotOwner answers.
const maxReroutes = 3

// noSettledOwner is the answer to a call that followed maxReroutes
// NotOwner answers: the nodes disagree on the owner for now.
func noSettledOwner(productID int64) error {
	return fmt.Errorf("%w: product %d has no settled owner", flashsale.ErrUnavailable, productID)
}

// sweep forgets the calls whose callers have given up, so that a reply
// that never comes does not keep them.
func (h *clusterHost) sweep() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-tick.C:
			h.mu.Lock()
			for id, c := range h.pending {
				if now.After(c.deadline) {
					delete(h.pending, id)
				}
			}
			h.mu.Unlock()
		}
	}
}

// shutdown leaves the cluster: calls still in flight answer ErrUnavailable.
func (h *clusterHost) shutdown() {
	h.mu.Lock()
	select {
	case <-h.stop:
		h.mu.Unlock()
		return
	default:
	}
	close(h.stop)
	pending := h.forgetLocked(func(string) bool { return true })
	eng := h.eng
	h.mu.Unlock()
	for _, c := range pending {
		c.fail(fmt.Errorf("%w: shutting down", flashsale.ErrUnavailable))
	}
	eng.leave(true)
}

// Ready reports whether this node takes writes: always outside a
// cluster; in one, while it is a member by its own view and no peer has
// dropped it.
func (s *Service) Ready() error {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.ready()
}

// ClusterNode is this node's id and the members it sees; empty outside a
// cluster.
func (s *Service) ClusterNode() (node string, members []string) {
	if s.cluster == nil {
		return "", nil
	}
	return s.cluster.view()
}

// ClusterOwner is the node that owns a product by this node's view; empty
// outside a cluster.
func (s *Service) ClusterOwner(productID int64) string {
	if s.cluster == nil {
		return ""
	}
	return s.cluster.owner(productID)
}
