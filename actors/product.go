package actors

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
)

// maxAttempts bounds how often one message is decided again after version
// conflicts before its caller hears ErrUnavailable.
const maxAttempts = 3

// productActor serializes every change to one product.
//
// It alone owns everything below the dependencies: the decided counters
// (product), the counters readers may see (visible), the active holds and
// their expiry order, the idempotency keys, and the batches. Nothing else
// reads or writes them; readers see only the Snapshot it publishes.
//
// Invariant, after every message:
// product.Stock - product.Held - product.AwaitingPayment - product.Paid >= 0,
// and product.Held is the sum of qty over holds.
type productActor struct {
	// dependencies
	id     int64
	cfg    Config
	store  Store
	ids    *Sequence
	log    zerolog.Logger
	snap   *atomic.Pointer[Snapshot]
	system *actor.ActorSystem
	self   *actor.PID

	// owned state
	product  Product // decided: includes queued and in-flight changes
	visible  Product // committed changes, less the holds known to be expired
	version  int64   // version of the last commit or load
	holds    map[int64]*activeHold
	expiries expiryHeap
	keys     map[string]*keyEntry
	keyQueue []*keyEntry // committed keys, oldest first, to forget them in time

	queued   *pending // decided, waiting for the transaction in flight
	inflight *pending // being committed; nil when none is
	timer    *time.Timer
	timerAt  time.Time
	broken   bool          // the last load failed; writes are refused until one succeeds
	draining chan struct{} // set by drain; closed once everything is committed
	loadNext *ProductState // state to install on Started, instead of loading
}

type activeHold struct {
	Hold
	committed bool
	index     int // in expiries
}

// keyEntry remembers an idempotency key so that a retry that is already in
// the mailbox when the first request commits finds the hold it made.
type keyEntry struct {
	key         string
	hash        string
	hold        Hold
	p           *pending // the batch that writes it, until committed
	committedAt time.Time
}

// pending is a batch being gathered or committed, with the callers that
// wait for it.
type pending struct {
	batch Batch
	ops   []*op
	// stockChanged marks a batch that writes only counters.
	stockChanged bool
}

// op is one caller waiting for a batch.
type op struct {
	msg    any             // the message, to decide again after a version conflict
	commit func()          // applies the change to the visible counters
	done   func(err error) // answers the caller
}

func (p *pending) empty() bool {
	return len(p.ops) == 0 && len(p.batch.NewHolds) == 0 && len(p.batch.ExpiredHolds) == 0 && !p.stockChanged
}

func newProductActor(id int64, cfg Config, store Store, ids *Sequence, snap *atomic.Pointer[Snapshot], log zerolog.Logger) *productActor {
	return &productActor{
		id:     id,
		cfg:    cfg,
		store:  store,
		ids:    ids,
		snap:   snap,
		log:    log.With().Int64("product_id", id).Logger(),
		queued: &pending{},
	}
}

// Receive handles one message.
func (a *productActor) Receive(ctx actor.Context) {
	msg := ctx.Message()
	if e := a.log.Debug(); e.Enabled() {
		e.Str("kind", kindOf(msg)).Msg("message")
	}
	switch m := msg.(type) {
	case *actor.Started:
		a.self, a.system = ctx.Self(), ctx.ActorSystem()
		if a.loadNext != nil {
			a.install(*a.loadNext)
			a.loadNext = nil
		} else {
			// Restarted by its supervisor: what was in memory is gone.
			_ = a.reload()
		}
	case *actor.Stopping:
		a.stopTimer()
	case *placeHold:
		a.placeHold(m)
	case *setStock:
		a.setStock(m)
	case *query:
		a.expireDue(time.Now())
		m.reply <- productReply{product: a.visible}
	case *drain:
		a.draining = m.done
		a.stopTimer()
		a.finishDrain()
	case expireTick:
		a.timerAt = time.Time{}
		if !a.broken && a.draining == nil {
			a.expireDue(time.Now())
			a.flush()
			a.armTimer()
		}
	case reloadTick:
		if a.broken {
			_ = a.reload()
		}
	case batchDone:
		a.batchDone(m.p, m.err)
	}
}

// refuse answers whether a write must be refused before it is decided.
func (a *productActor) refuse() error {
	switch {
	case a.draining != nil:
		return fmt.Errorf("%w: shutting down", ErrUnavailable)
	case a.broken:
		return fmt.Errorf("%w: product %d could not be loaded from the database", ErrUnavailable, a.id)
	}
	return nil
}

func (a *productActor) placeHold(m *placeHold) {
	if m.ctx.Err() != nil {
		return // the caller has gone: drop it without a write
	}
	if err := a.refuse(); err != nil {
		m.reply <- holdReply{err: err}
		return
	}
	now := time.Now()
	a.expireDue(now)
	if m.key != "" {
		if e, ok := a.keys[m.key]; ok {
			a.repeatHold(m, e)
			return
		}
	}
	if m.qty > a.product.Available() {
		m.reply <- holdReply{err: ErrInsufficientStock}
		return
	}
	id, err := a.ids.Next(m.ctx)
	if err != nil {
		m.reply <- holdReply{err: fmt.Errorf("%w: hold id: %v", ErrUnavailable, err)}
		return
	}
	h := &activeHold{Hold: Hold{
		ID:             id,
		ProductID:      a.id,
		Qty:            m.qty,
		Status:         HoldActive,
		ExpiresAt:      expiryAfter(now, a.cfg.HoldTTL),
		CreatedAt:      now.UTC().Truncate(time.Millisecond),
		IdempotencyKey: m.key,
		RequestHash:    m.hash,
	}}
	a.holds[id] = h
	heap.Push(&a.expiries, h)
	a.product.Held += m.qty

	p := a.queued
	p.batch.NewHolds = append(p.batch.NewHolds, h.Hold)
	var e *keyEntry
	if m.key != "" {
		e = &keyEntry{key: m.key, hash: m.hash, hold: h.Hold, p: p}
		a.keys[m.key] = e
	}
	p.ops = append(p.ops, &op{
		msg: m,
		commit: func() {
			h.committed = true
			a.visible.Held += h.Qty
			if e != nil {
				e.p, e.committedAt = nil, time.Now()
				a.keyQueue = append(a.keyQueue, e)
			}
		},
		done: func(err error) { m.reply <- holdReply{hold: h.Hold, err: err} },
	})
	a.flush()
	a.armTimer()
}

// repeatHold answers a request whose idempotency key this actor knows.
func (a *productActor) repeatHold(m *placeHold, e *keyEntry) {
	switch {
	case e.hash != m.hash:
		m.reply <- holdReply{err: ErrIdempotencyConflict}
	case e.p == nil: // committed
		m.reply <- holdReply{hold: e.hold}
	default: // answered when the first request's batch commits
		e.p.ops = append(e.p.ops, &op{
			msg:  m,
			done: func(err error) { m.reply <- holdReply{hold: e.hold, err: err} },
		})
	}
}

func (a *productActor) setStock(m *setStock) {
	if m.ctx.Err() != nil {
		return
	}
	if err := a.refuse(); err != nil {
		m.reply <- productReply{err: err}
		return
	}
	a.expireDue(time.Now())
	if m.stock < a.product.Taken() {
		m.reply <- productReply{err: ErrStockBelowCommitted}
		return
	}
	a.product.Stock = m.stock
	p := a.queued
	p.stockChanged = true
	p.ops = append(p.ops, &op{
		msg:    m,
		commit: func() { a.visible.Stock = m.stock },
		done:   func(err error) { m.reply <- productReply{product: a.visible, err: err} },
	})
	a.flush()
}

// expireDue releases the committed holds whose time has come. A hold whose
// own batch is still in flight is released after that batch commits.
func (a *productActor) expireDue(now time.Time) {
	var later []*activeHold
	released := false
	for len(a.expiries) > 0 && !now.Before(a.expiries[0].ExpiresAt) {
		h := heap.Pop(&a.expiries).(*activeHold)
		if !h.committed {
			later = append(later, h)
			continue
		}
		delete(a.holds, h.ID)
		a.product.Held -= h.Qty
		// An expired hold never counts as active, whether or not its
		// release is written yet: readers see it released at once.
		a.visible.Held -= h.Qty
		a.queued.batch.ExpiredHolds = append(a.queued.batch.ExpiredHolds, h.ID)
		released = true
	}
	for _, h := range later {
		heap.Push(&a.expiries, h)
	}
	if released {
		a.publish()
		a.flush()
	}
}

// flush starts committing the queued batch when no transaction is in
// flight. The batch carries the decided counters, which at this point are
// the committed counters plus exactly this batch.
func (a *productActor) flush() {
	if a.inflight != nil || a.queued.empty() || a.self == nil {
		return
	}
	p := a.queued
	a.queued, a.inflight = &pending{}, p
	b := &p.batch
	b.ProductID, b.Version = a.id, a.version
	b.Stock, b.Held, b.AwaitingPayment, b.Paid = a.product.Stock, a.product.Held, a.product.AwaitingPayment, a.product.Paid
	b.At = time.Now()
	// The write must not hang on any one caller's context: it has its own.
	go func(system *actor.ActorSystem, self *actor.PID) {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CommitTimeout)
		err := a.store.CommitBatch(ctx, b)
		cancel()
		system.Root.Send(self, batchDone{p: p, err: err})
	}(a.system, a.self)
}

func (a *productActor) batchDone(p *pending, err error) {
	a.inflight = nil
	if err != nil {
		a.batchFailed(p, err)
		return
	}
	a.version++
	now := time.Now()
	for _, o := range p.ops {
		if o.commit != nil {
			o.commit()
		}
	}
	a.forgetKeys(now)
	a.publish()
	a.log.Debug().Int("ops", len(p.ops)).Int("new_holds", len(p.batch.NewHolds)).
		Int("expired_holds", len(p.batch.ExpiredHolds)).Dur("took", now.Sub(p.batch.At)).Msg("batch committed")
	for _, o := range p.ops {
		o.done(nil)
	}
	a.expireDue(now)
	a.flush()
	a.armTimer()
	a.finishDrain()
}

// batchFailed reloads the product and decides again what may safely be
// decided again: the queued messages (never sent to the database) always,
// and the in-flight ones only after a version conflict, which rolled them
// back for certain. Any other failure may have committed: those callers
// hear ErrUnavailable and may retry with their idempotency key.
func (a *productActor) batchFailed(p *pending, err error) {
	conflict := errors.Is(err, ErrVersionConflict)
	a.log.Warn().Err(err).Bool("version_conflict", conflict).Int("ops", len(p.ops)).Msg("batch failed; reloading")
	queued := a.queued
	a.queued = &pending{}
	loadErr := a.reload()
	unavailable := fmt.Errorf("%w: commit failed", ErrUnavailable)
	retry := func(o *op, replay bool) {
		if replay && loadErr == nil && a.draining == nil && o.msg != nil && a.again(o.msg) {
			return
		}
		o.done(unavailable)
	}
	for _, o := range p.ops {
		retry(o, conflict)
	}
	for _, o := range queued.ops {
		retry(o, true)
	}
	a.finishDrain()
}

// again decides a message once more, unless it has been tried enough.
func (a *productActor) again(msg any) bool {
	switch m := msg.(type) {
	case *placeHold:
		if m.attempts++; m.attempts >= maxAttempts {
			return false
		}
		a.placeHold(m)
	case *setStock:
		if m.attempts++; m.attempts >= maxAttempts {
			return false
		}
		a.setStock(m)
	default:
		return false
	}
	return true
}

// reload replaces the in-memory state with the database's. On failure the
// actor refuses writes and tries again after a pause.
func (a *productActor) reload() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CommitTimeout)
	defer cancel()
	st, err := a.store.LoadProduct(ctx, a.id)
	if err != nil {
		a.broken = true
		a.log.Warn().Err(err).Msg("loading the product failed; writes are refused until it loads")
		time.AfterFunc(a.cfg.ReloadBackoff, func() { a.system.Root.Send(a.self, reloadTick{}) })
		return err
	}
	a.install(st)
	return nil
}

// install takes a loaded state as the actor's own, then releases at once
// what expired while nobody was watching.
func (a *productActor) install(st ProductState) {
	a.broken = false
	a.product, a.visible, a.version = st.Product, st.Product, st.Version
	a.holds = make(map[int64]*activeHold, len(st.ActiveHolds))
	a.expiries = a.expiries[:0]
	// Committed keys stay true across a reload; uncommitted ones are gone
	// with their batch.
	keys := make(map[string]*keyEntry, len(a.keys))
	for k, e := range a.keys {
		if e.p == nil {
			keys[k] = e
		}
	}
	a.keys = keys
	for _, h := range st.ActiveHolds {
		ah := &activeHold{Hold: h, committed: true}
		a.holds[h.ID] = ah
		a.expiries = append(a.expiries, ah)
		if h.IdempotencyKey != "" {
			if _, ok := a.keys[h.IdempotencyKey]; !ok {
				e := &keyEntry{key: h.IdempotencyKey, hash: h.RequestHash, hold: h, committedAt: time.Now()}
				a.keys[h.IdempotencyKey] = e
				a.keyQueue = append(a.keyQueue, e)
			}
		}
	}
	heap.Init(&a.expiries)
	a.publish()
	if a.self != nil {
		a.expireDue(time.Now())
		a.armTimer()
	}
}

// forgetKeys drops committed keys older than KeyMemory. By then every
// request that looked the key up in the database before it was committed
// has reached the actor; later ones find it in the database.
func (a *productActor) forgetKeys(now time.Time) {
	i := 0
	for ; i < len(a.keyQueue) && now.Sub(a.keyQueue[i].committedAt) > a.cfg.KeyMemory; i++ {
		e := a.keyQueue[i]
		if a.keys[e.key] == e {
			delete(a.keys, e.key)
		}
	}
	a.keyQueue = a.keyQueue[i:]
}

func (a *productActor) publish() {
	s := &Snapshot{Product: a.visible}
	if len(a.expiries) > 0 {
		s.ValidUntil = a.expiries[0].ExpiresAt
	}
	a.snap.Store(s)
}

// armTimer points the one expiry timer at the earliest active hold. A due
// hold still in flight is handled when its batch commits.
func (a *productActor) armTimer() {
	if len(a.expiries) == 0 || a.self == nil || a.draining != nil {
		a.stopTimer()
		return
	}
	at := a.expiries[0].ExpiresAt
	if !time.Now().Before(at) || at.Equal(a.timerAt) {
		return
	}
	a.stopTimer()
	a.timerAt = at
	system, self := a.system, a.self
	a.timer = time.AfterFunc(time.Until(at), func() { system.Root.Send(self, expireTick{}) })
}

func (a *productActor) stopTimer() {
	if a.timer != nil {
		a.timer.Stop()
		a.timer, a.timerAt = nil, time.Time{}
	}
}

// finishDrain stops the actor once a drain was asked for and nothing is
// left to commit.
func (a *productActor) finishDrain() {
	if a.draining == nil || a.inflight != nil || !a.queued.empty() {
		return
	}
	select {
	case <-a.draining:
	default:
		close(a.draining)
		a.system.Root.Stop(a.self)
	}
}

// expiryAfter is when a hold taken at now with the given time to live
// expires: rounded up to the whole second, so that the expires_at clients
// see (RFC 3339, seconds) is exactly when it expires.
func expiryAfter(now time.Time, ttl time.Duration) time.Time {
	t := now.Add(ttl).UTC()
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// expiryHeap orders active holds by expiry.
type expiryHeap []*activeHold

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	if h[i].ExpiresAt.Equal(h[j].ExpiresAt) {
		return h[i].ID < h[j].ID
	}
	return h[i].ExpiresAt.Before(h[j].ExpiresAt)
}
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *expiryHeap) Push(x any) {
	ah := x.(*activeHold)
	ah.index = len(*h)
	*h = append(*h, ah)
}
func (h *expiryHeap) Pop() any {
	old := *h
	n := len(old)
	ah := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return ah
}
