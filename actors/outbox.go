package actors

import (
	"context"
	"errors"
	"flashsale"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"flashsale/actors/wire"
)

// errNotOwner is a node's answer to a call for a product it does not own
// by its own view: nothing was decided, and the caller re-routes.
var errNotOwner = errors.New("this node does not own the product")

// remoteCall is a request forwarded to another node, kept by its id until
// its answer comes back, its node leaves, or its caller gives up.
type remoteCall struct {
	id        uint64
	node      string    // where it was sent
	deadline  time.Time // when its caller gives up
	reroutes  int       // NotOwner answers followed
	ctx       context.Context
	productID int64
	msg       request            // nil for a snapshot
	snap      replyTo[*Snapshot] // a snapshot's answer
}

func (c *remoteCall) fail(err error) {
	if c.msg != nil {
		c.msg.fail(err)
		return
	}
	c.snap.fail(err)
}

// outbox sends the calls queued for one node, and the answers owed to it,
// as frames: one frame carries whatever queued while the one before was
// being sent, so that a busy pair of nodes exchanges few large messages and
// an idle one sends each call at once (no timer), as the group commit does.
type outbox struct {
	root    *actor.RootContext
	to      *actor.PID
	from    string
	metrics *clusterMetrics

	mu      sync.Mutex
	calls   []*wire.Call
	replies []*wire.Reply
	kick    chan struct{}
	done    chan struct{}
	closed  bool
}

func newOutbox(root *actor.RootContext, from, node string, m *clusterMetrics) *outbox {
	o := &outbox{root: root, to: actor.NewPID(node, inboxName), from: from, metrics: m,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	go o.run()
	return o
}

func (o *outbox) call(c *wire.Call) {
	o.mu.Lock()
	o.calls = append(o.calls, c)
	o.mu.Unlock()
	o.wake()
}

func (o *outbox) reply(r *wire.Reply) {
	o.mu.Lock()
	o.replies = append(o.replies, r)
	o.mu.Unlock()
	o.wake()
}

func (o *outbox) wake() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

func (o *outbox) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.closed = true
		close(o.done)
	}
}

func (o *outbox) run() {
	for {
		select {
		case <-o.done:
			return
		case <-o.kick:
		}
		// The answers of one committed batch, and the calls of one burst
		// of requests, are queued by goroutines woken together: let those
		// that are ready run first, so that one frame carries them.
		runtime.Gosched()
		o.mu.Lock()
		f := &wire.Frame{From: o.from, Calls: o.calls, Replies: o.replies}
		o.calls, o.replies = nil, nil
		o.mu.Unlock()
		if len(f.Calls)+len(f.Replies) == 0 {
			continue
		}
		o.root.Send(o.to, f)
		o.metrics.Frames.Inc()
		o.metrics.FrameBytes.Add(float64(proto.Size(f)))
		o.metrics.FrameItems.Observe(float64(len(f.Calls) + len(f.Replies)))
	}
}

// inbox is every node's actor that takes frames: answers to the calls this
// node forwarded, and calls for the products it owns. It never blocks: each
// call is decided on a goroutine of its own, which waits for the local
// actor's answer on a Go channel.
type inbox struct{ h *clusterHost }

func (i *inbox) Receive(ctx actor.Context) {
	f, ok := ctx.Message().(*wire.Frame)
	if !ok {
		return
	}
	for _, r := range f.Replies {
		i.h.answered(r)
	}
	for _, c := range f.Calls {
		go i.h.serve(f.From, c)
	}
}

// serve decides a call from another node on the local host, if this node
// owns its product, and queues the answer to the caller.
func (h *clusterHost) serve(from string, call *wire.Call) {
	r := h.decide(call)
	r.Id = call.GetId()
	h.mu.Lock()
	o := h.outboxOf(from)
	h.mu.Unlock()
	o.reply(r)
}

func (h *clusterHost) decide(call *wire.Call) *wire.Reply {
	id := call.GetProductId()
	if h.owner(id) != h.self {
		return withError(&wire.Reply{}, errNotOwner)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, call.GetDeadlineUnixNano()))
	defer cancel()
	switch r := call.GetRequest().(type) {
	case *wire.Call_Snapshot:
		snap, err := h.local.snapshot(ctx, id)
		return withError(&wire.Reply{Result: &wire.Reply_Snapshot{Snapshot: snapshotToWire(snap)}}, err)
	case *wire.Call_Query:
		m := &query{envelope: newEnvelope(), replyTo: newReply[flashsale.Product]()}
		p, err := ask(ctx, h.local, id, m, m.replyTo)
		return withError(&wire.Reply{Result: &wire.Reply_Product{Product: productToWire(p)}}, err)
	case *wire.Call_SetStock:
		m := &setStock{envelope: newEnvelope(), replyTo: newReply[flashsale.Product](), ctx: ctx, stock: r.SetStock.GetStock()}
		p, err := ask(ctx, h.local, id, m, m.replyTo)
		return withError(&wire.Reply{Result: &wire.Reply_Product{Product: productToWire(p)}}, err)
	case *wire.Call_PlaceHold:
		w := r.PlaceHold
		if soldOut(h.local, h.local.cfg.Clock(), id, w.GetQty(), w.GetKey()) {
			return withError(&wire.Reply{}, flashsale.ErrInsufficientStock)
		}
		m := &placeHold{envelope: newEnvelope(), replyTo: newReply[flashsale.Hold](), ctx: ctx,
			qty: w.GetQty(), key: w.GetKey(), hash: w.GetHash()}
		hold, err := ask(ctx, h.local, id, m, m.replyTo)
		return withError(&wire.Reply{Result: &wire.Reply_Hold{Hold: holdToWire(hold)}}, err)
	case *wire.Call_CreateOrder:
		w := r.CreateOrder
		m := &createOrder{envelope: newEnvelope(), replyTo: newReply[flashsale.Order](), ctx: ctx,
			holdID: w.GetHoldId(), key: w.GetKey(), hash: w.GetHash()}
		o, err := ask(ctx, h.local, id, m, m.replyTo)
		return withError(&wire.Reply{Result: &wire.Reply_Order{Order: orderToWire(o)}}, err)
	case *wire.Call_ApplyPayment:
		m := &applyPayment{envelope: newEnvelope(), replyTo: newReply[paymentAnswer](), ctx: ctx, pay: paymentFromWire(r.ApplyPayment)}
		a, err := ask(ctx, h.local, id, m, m.replyTo)
		return withError(&wire.Reply{Result: &wire.Reply_Payment{Payment: paymentResultToWire(a)}}, err)
	}
	return withError(&wire.Reply{}, fmt.Errorf("unknown call %T", call.GetRequest()))
}

// clusterMetrics count what crosses between nodes.
type clusterMetrics struct {
	Forwarded  prometheus.Counter
	NotOwner   prometheus.Counter
	Rejoins    prometheus.Counter
	Frames     prometheus.Counter
	FrameBytes prometheus.Counter
	FrameItems prometheus.Histogram
}

func newClusterMetrics(reg prometheus.Registerer) *clusterMetrics {
	m := &clusterMetrics{
		Forwarded: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_cluster_forwarded_total",
			Help: "Requests forwarded to the node that owns their product."}),
		NotOwner: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_cluster_not_owner_total",
			Help: "Forwarded requests answered NotOwner and re-routed."}),
		Rejoins: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_cluster_rejoins_total",
			Help: "Times this node found the others had dropped it, and joined again under a new member id."}),
		Frames: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_cluster_frames_sent_total",
			Help: "Frames sent to other nodes."}),
		FrameBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_cluster_frame_bytes_total",
			Help: "Bytes of the frames sent to other nodes, as protobuf."}),
		FrameItems: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flashsale_cluster_frame_items",
			Help: "Calls and answers per frame sent.", Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
	}
	if reg != nil {
		reg.MustRegister(m.Forwarded, m.NotOwner, m.Rejoins, m.Frames, m.FrameBytes, m.FrameItems)
	}
	return m
}
