package actors

import (
	"context"
	"flashsale"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
)

// productActor serializes every change to one product.
//
// It alone owns everything below "owned state": the decided counters
// (product), the counters readers may see (visible), the active holds, the
// orders awaiting payment and those it has settled, their deadlines, the
// idempotency keys, and the batches. Nothing else reads or writes them;
// readers see only the Snapshot it publishes.
//
// Invariant, after every message, for product and for visible alike:
//
//	Available() = Stock − Held − AwaitingPayment − Paid ≥ 0
//	Held            = Σ qty of active holds
//	AwaitingPayment = Σ qty of orders pending_payment
//	Paid            = Σ qty of orders paid
//
// refund_required and cancelled orders take no stock.
type productActor struct {
	// dependencies
	id      int64
	cfg     *Config         // the host's: one copy for all actors
	log     *zerolog.Logger // made on first use: see logger
	metrics *Metrics
	host    *Host          // its store, id sequences, actor system and writer
	ref     *productHandle // its snapshot and waiting count
	self    *actor.PID

	// owned state
	product flashsale.Product // decided: includes queued and in-flight changes
	visible flashsale.Product // committed, less the holds and orders known to be expired
	version int64             // version of the last commit or load
	// sentVersion is the version the last batch sent writes, which the
	// next batch expects.
	sentVersion int64
	seq         int64 // seq of the last journal event decided
	holds       map[int64]*activeHold
	holdDue     dueHeap[*activeHold]
	orders      map[int64]*activeOrder // awaiting payment, and those settled here in the last KeyMemory
	orderDue    dueHeap[*activeOrder]  // orders awaiting payment, by end of payment window
	converted   map[int64]*activeOrder // hold id → the order it became, while the order is in orders
	settled     []settledOrder         // settled orders in orders, oldest first, to forget them in time
	keys        map[keyID]*keyEntry
	keyQueue    []*keyEntry                   // committed keys, oldest first, to forget them in time
	early       map[int64][]flashsale.Payment // webhooks recorded before their order, by order id
	deferred    []*applyPayment               // webhooks for orders whose batch is in flight

	queued   *batch   // decided, waiting to be sent
	inflight []*batch // sent to be committed, in the order sent
	failed   *failure // set from a failed batch until the actor has reloaded
	batches  int64    // batches begun, to number them in the log
	timer    *time.Timer
	timerAt  time.Time
	broken   bool          // the last load failed; writes are refused until one succeeds
	draining chan struct{} // set by drain; closed once everything is committed
	moved    bool          // drained because the product moved to another node
	view     uint64        // the host's view of the cluster that owned was computed for
	owned    bool
	loadNext *flashsale.ProductState // state to install on Started, instead of loading
}

// idle reports whether the actor has nothing to watch or write, so that it
// may stop and be loaded again on the next request.
func (a *productActor) idle() bool {
	return len(a.holds) == 0 && len(a.orderDue) == 0 && len(a.inflight) == 0 && a.queued.empty() &&
		len(a.deferred) == 0 && !a.broken && a.draining == nil
}

// now is the actor's clock: the wall clock, unless a test set another.
func (a *productActor) now() time.Time { return a.cfg.Clock() }

func newProductActor(id int64, h *Host, ref *productHandle) *productActor {
	return &productActor{
		id:      id,
		cfg:     &h.cfg,
		host:    h,
		ref:     ref,
		metrics: h.cfg.Metrics,
	}
}

// An idle actor is small, for a process may have one for each of a
// hundred thousand products touched once: its maps are made on first use
// (put), and so is its logger, whose buffer would be most of its memory.

// logger is the actor's logger, which names its product.
func (a *productActor) logger() *zerolog.Logger {
	if a.log == nil {
		l := a.host.log.With().Int64("product_id", a.id).Logger()
		a.log = &l
	}
	return a.log
}

// debugging reports whether the actor writes debug messages, without
// making its logger.
func (a *productActor) debugging() bool {
	return a.host.log.GetLevel() <= zerolog.DebugLevel && zerolog.GlobalLevel() <= zerolog.DebugLevel
}

// put sets m[k] = v, making the map first if it is nil.
func put[K comparable, V any](m *map[K]V, k K, v V) {
	if *m == nil {
		*m = map[K]V{}
	}
	(*m)[k] = v
}

// Receive handles one message.
func (a *productActor) Receive(ctx actor.Context) {
	msg := ctx.Message()
	var wait time.Duration
	if req, ok := msg.(request); ok {
		wait = time.Since(req.sentAt())
		a.ref.waiting.Add(-1)
		a.metrics.MailboxBacklog.Dec()
		a.metrics.MessagesProcessed.Inc()
		a.metrics.MailboxWait.Observe(wait.Seconds())
	}
	seq := a.seq
	a.handle(ctx, msg)
	if !a.debugging() {
		return
	}
	if e := a.logger().Debug(); e.Enabled() {
		e.Str("kind", kindOf(msg)).Dur("mailbox_wait", wait)
		if a.seq > seq {
			// The events this message journalled, and the batch that
			// writes them.
			e.Int64("seq", seq+1).Int64("seq_last", a.seq).Int64("batch", a.queuedBatchOf(seq+1))
		}
		e.Msg("message")
	}
}

// queuedBatchOf is the batch that writes the event with the given seq.
func (a *productActor) queuedBatchOf(seq int64) int64 {
	for _, p := range a.inflight {
		if n := len(p.write.Events); n > 0 && p.write.Events[0].Seq <= seq && seq <= p.write.Events[n-1].Seq {
			return p.id
		}
	}
	if a.queued == nil {
		return 0
	}
	return a.queued.id
}

func (a *productActor) handle(ctx actor.Context, msg any) {
	switch m := msg.(type) {
	case *actor.Started:
		a.metrics.LiveActors.Inc()
		a.metrics.Activations.Inc()
		a.self = ctx.Self()
		if a.loadNext != nil {
			a.install(*a.loadNext)
			a.loadNext = nil
		} else {
			// Restarted by its supervisor: what was in memory is gone.
			_ = a.reload()
		}
	case idleTick:
		// Sent by the host's sweep (passivateIdle); a request may have
		// come since. A busy actor (holding units, say) is asked again
		// at the next sweep.
		quiet := time.Since(time.Unix(0, a.ref.active.Load()))
		if quiet >= a.cfg.PassivateAfter && a.idle() && a.host.passivate(a.id, a.ref) {
			a.logger().Debug().Msg("passivating")
			ctx.Stop(a.self)
		}
	case *actor.Stopping, *actor.Restarting:
		// A restarted actor is a new productActor: this one's timer goes.
		a.stopTimer()
	case *actor.Stopped:
		a.metrics.LiveActors.Dec()
	case request:
		a.ref.active.Store(m.sentAt().UnixNano()) // its envelope read the clock already
		m.decide(a)
		if a.moved {
			a.finishDrain()
		}
	case *drain:
		a.draining, a.moved = m.done, m.moved
		a.stopTimer()
		a.finishDrain()
	case expireTick:
		a.timerAt = time.Time{}
		if !a.owns() {
			a.leave() // the owner releases what is due
			return
		}
		if !a.broken && a.draining == nil {
			a.expireDue(a.now())
			a.armTimer()
		}
	case reloadTick:
		if a.broken {
			_ = a.reload()
		}
	case batchDone:
		a.batchDone(m.b, m.err)
	}
}

// admit decides whether a write may be decided at all. A caller that has
// gone by the time its message is dequeued is dropped without a write.
func (a *productActor) admit(ctx context.Context, m request) bool {
	switch {
	case ctx.Err() != nil:
		return false
	case a.moved:
		m.fail(errNotOwner)
		return false
	case a.draining != nil:
		m.fail(fmt.Errorf("%w: shutting down", flashsale.ErrUnavailable))
		return false
	case !a.owns():
		// This node's view moved the product before the host took the
		// actor out: nothing is decided, the caller goes to the owner.
		m.fail(errNotOwner)
		a.leave()
		return false
	case a.broken:
		m.fail(fmt.Errorf("%w: product %d could not be loaded from the database", flashsale.ErrUnavailable, a.id))
		return false
	}
	a.expireDue(a.now())
	return true
}

func (a *productActor) setStock(m *setStock) {
	if !a.admit(m.ctx, m) {
		return
	}
	if m.stock < a.product.Taken() {
		a.refuse(m, flashsale.ErrStockBelowCommitted, m.stock < a.visible.Taken())
		return
	}
	a.product.Stock = m.stock
	a.record(flashsale.EventStockChanged, m.stock, 0, 0, "", "")
	p := a.writing()
	p.ops = append(p.ops, op{
		msg:  m,
		done: func(err error) { m.answer(a.visible, err) },
	})
	a.flush()
}

// refuse answers a request that the decided state refuses: at once when the
// committed state refuses it too, else with the batch that commits the
// changes it was refused on. So nobody hears "no" on account of a change
// that is not committed, and may never be: if that batch fails, the request
// is decided again on what the database holds. Readers, who see only what
// is committed, never see stock that a refusal said was not there.
func (a *productActor) refuse(m request, err error, committedRefuses bool) {
	p := a.lastWriting()
	if committedRefuses || p == nil {
		m.fail(err)
		return
	}
	a.metrics.RefusalsAwaitingCommit.Inc()
	p.ops = append(p.ops, op{msg: m, refusal: true, done: func(commitErr error) {
		if commitErr != nil {
			err = commitErr
		}
		m.fail(err)
	}})
}

// reload replaces the in-memory state with the database's. On failure the
// actor refuses writes and tries again after a pause.
func (a *productActor) reload() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CommitTimeout)
	defer cancel()
	st, err := a.host.store.LoadProduct(ctx, a.id)
	if err != nil {
		a.broken = true
		a.logger().Warn().Err(err).Msg("loading the product failed; writes are refused until it loads")
		system, self := a.host.system, a.self
		time.AfterFunc(a.cfg.ReloadBackoff, func() { system.Root.Send(self, reloadTick{}) })
		return err
	}
	a.install(st)
	return nil
}

// install takes a loaded state as the actor's own, then releases at once
// what expired while nobody was watching.
func (a *productActor) install(st flashsale.ProductState) {
	a.broken = false
	if a.queued != nil && len(a.queued.ops) == 0 {
		// Releases queued while the database was away were decided on
		// the old state; the new state decides them again below.
		a.queued = nil
	}
	a.product, a.visible, a.version, a.seq = st.Product, st.Product, st.Version, st.LastSeq
	a.sentVersion = st.Version
	a.holds, a.orders, a.converted, a.settled = nil, nil, nil, nil
	if n := len(st.ActiveHolds); n > 0 {
		a.holds = make(map[int64]*activeHold, n)
	}
	if n := len(st.UnpaidOrders); n > 0 {
		a.orders = make(map[int64]*activeOrder, n)
	}
	a.holdDue = a.holdDue[:0]
	a.orderDue = a.orderDue[:0]
	// Committed keys stay true across a reload; uncommitted ones are gone
	// with their batch.
	for k, e := range a.keys {
		if e.p != nil {
			delete(a.keys, k)
		}
	}
	for _, h := range st.ActiveHolds {
		ah := &activeHold{Hold: h, committed: true}
		a.holds[h.ID] = ah
		a.holdDue.push(ah)
		a.rememberLoaded(keyID{scopeHold, h.IdempotencyKey}, h.RequestHash, h)
	}
	for _, o := range st.UnpaidOrders {
		ao := &activeOrder{Order: o, committed: true}
		a.orders[o.ID] = ao
		a.orderDue.push(ao)
		a.rememberLoaded(keyID{scopeOrder, o.IdempotencyKey}, o.RequestHash, o.AsCreated())
	}
	a.publish()
	if a.self != nil {
		a.expireDue(a.now())
		a.armTimer()
	}
}

func (a *productActor) publish() {
	s := &Snapshot{Product: a.visible, ValidUntil: earliest(a.holdDue.next(), a.orderDue.next())}
	a.ref.snap.Store(s)
}

// owns reports whether this node owns the product by its latest view of
// the cluster, asking the host only when the view changed.
func (a *productActor) owns() bool {
	if a.host.owns == nil {
		return true
	}
	if v := a.host.view.Load(); v != a.view || a.view == 0 {
		a.view, a.owned = v, a.host.owns(a.id)
	}
	return a.owned
}

// leave takes the actor out of its host because its product moved, once:
// it commits what it has in flight, then stops.
func (a *productActor) leave() {
	// The host's drain message sets draining and moved; until it comes,
	// owns is false and admits nothing.
	if a.draining == nil {
		a.host.leave(a.id, a.ref)
	}
}

// finishDrain stops the actor once a drain was asked for and nothing is
// left to commit. An actor whose product moved stops only once no request
// is on its way to it, as passivation does, so that none is lost.
func (a *productActor) finishDrain() {
	if a.draining == nil || len(a.inflight) > 0 || !a.queued.empty() {
		return
	}
	if a.moved {
		a.ref.stopped.Store(true)
		if a.ref.waiting.Load() > 0 {
			a.ref.stopped.Store(false)
			return
		}
	}
	select {
	case <-a.draining:
	default:
		close(a.draining)
		a.host.system.Root.Stop(a.self)
	}
}
