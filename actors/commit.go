package actors

import (
	"errors"
	"flashsale"
	"fmt"
	"slices"
	"sync"
	"time"
)

// batch is one group commit of this actor, being gathered or committed:
// what it writes, and the callers that wait for it.
type batch struct {
	id      int64 // numbers the batches of this actor, for the log
	flushed time.Time
	write   flashsale.Batch
	ops     []op
	// Releases by expiry in this batch, already taken out of visible.
	expiredHeld, expiredAwaiting int64
	// finished is set when the writer reported the outcome, err.
	finished bool
	err      error
	// lists holds the batch's lists once it has committed, for a later
	// batch to reuse; reserve takes one.
	lists *batchLists
}

// batchLists are the lists a busy product's batch fills, one entry per
// hold: kept from a committed batch for the next, so that a hot product
// does not make them anew for every batch (a few hundred bytes a hold,
// for the collector to find again).
type batchLists struct {
	ops    []op
	holds  []flashsale.Hold
	events []flashsale.Event
}

// spareLists are batchLists of committed batches, empty and cleared.
var spareLists sync.Pool

// op is one caller waiting for a batch.
type op struct {
	msg request // to decide again after a version conflict; nil for a write of the actor's own
	// refusal marks a request refused on account of the batch's changes:
	// it wrote nothing, so it is decided again whenever the batch fails.
	refusal bool
	// A hold placed, the commonest op, is marked committed and answered
	// without closures of its own: placed is the request that made hold.
	placed *placeHold
	hold   *activeHold
	commit func()          // marks what the batch wrote as committed
	done   func(err error) // answers the caller
}

// committed marks what the batch wrote for the op as committed.
func (o *op) committed() {
	if o.hold != nil {
		o.hold.committed = true
	}
	if o.commit != nil {
		o.commit()
	}
}

// answer answers the op's caller.
func (o *op) answer(err error) {
	if o.placed != nil {
		o.placed.answer(o.hold.Hold, err)
		return
	}
	o.done(err)
}

func (a *productActor) newBatch() *batch {
	a.batches++
	return &batch{id: a.batches}
}

// reserve sizes the batch's lists of holds, events and callers for as
// many as last holds: a busy product's batches are much alike, and
// growing them by doubling copies every hold and event several times.
func (p *batch) reserve(last *batch) {
	const most = 1024 // a burst does not size every batch after it
	l, _ := spareLists.Get().(*batchLists)
	if l == nil {
		l = &batchLists{}
	}
	p.lists = l
	p.ops = reuse(l.ops, min(len(last.ops), most))
	p.write.NewHolds = reuse(l.holds, min(len(last.write.NewHolds), most))
	p.write.Events = reuse(l.events, min(len(last.write.Events), most))
	*l = batchLists{}
}

// reuse returns spare, emptied, when it holds n, or else a new list of n.
func reuse[T any](spare []T, n int) []T {
	if cap(spare) >= n {
		return spare[:0]
	}
	return make([]T, 0, n)
}

// recycle keeps the lists of a committed batch whose callers are all
// answered, cleared of what they point to, for a batch to come.
func (p *batch) recycle() {
	l := p.lists
	if l == nil {
		l = &batchLists{}
	}
	clear(p.ops)
	clear(p.write.NewHolds)
	clear(p.write.Events)
	*l = batchLists{ops: p.ops[:0], holds: p.write.NewHolds[:0], events: p.write.Events[:0]}
	p.ops, p.write.NewHolds, p.write.Events, p.lists = nil, nil, nil, nil
	spareLists.Put(l)
}

// writing is the batch that takes what the actor decides now, made on
// first use: an actor that never writes has none.
func (a *productActor) writing() *batch {
	if a.queued == nil {
		a.queued = a.newBatch()
	}
	return a.queued
}

// empty reports whether the batch has nothing to write or answer; a nil
// batch has not.
func (p *batch) empty() bool {
	if p == nil {
		return true
	}
	b := &p.write
	return len(p.ops) == 0 && len(b.NewHolds) == 0 && len(b.ExpiredHolds) == 0 && len(b.OrderChanges) == 0 &&
		len(b.NewOrders) == 0 && len(b.Payments) == 0 && len(b.Events) == 0
}

// flush sends the queued batch to be committed when fewer than
// cfg.Pipeline batches are in flight. The batch carries the decided
// counters, which at this point are the counters of every batch before it
// plus exactly this batch, and expects the version the batch before it
// writes: if that one fails, this one fails its check and is decided
// again, so no batch commits on top of one that did not.
//
// Nothing is written while the actor is broken or a failed batch is being
// recovered from: what it decided since rests on state the database
// refused, and the next load replaces it.
func (a *productActor) flush() {
	if len(a.inflight) >= a.cfg.Pipeline || a.queued.empty() || a.self == nil || a.broken || a.failed != nil {
		return
	}
	p := a.queued
	a.queued = nil
	if len(p.ops) > 1 {
		a.writing().reserve(p)
	}
	a.inflight = append(a.inflight, p)
	b := &p.write
	b.ProductID, b.Version = a.id, a.sentVersion
	b.NewVersion = a.host.versions.new()
	a.sentVersion = b.NewVersion
	b.Counters = a.product.Counters
	b.At = a.now()
	p.flushed = time.Now()
	system, self := a.host.system, a.self
	a.host.writer.submit(b, func(err error) { system.Root.Send(self, batchDone{b: p, err: err}) })
}

// batchDone takes the outcome of a batch. Outcomes may arrive out of
// order from the writer's goroutines; they are taken in the order the
// batches were sent, as the database applied them.
func (a *productActor) batchDone(p *batch, err error) {
	p.finished, p.err = true, err
	for len(a.inflight) > 0 && a.inflight[0].finished {
		head := a.inflight[0]
		// Deleted, not resliced: the list's array would keep the batch,
		// and through its ops its callers' requests, for as long as the
		// product sees no other batch.
		a.inflight = slices.Delete(a.inflight, 0, 1)
		switch {
		case a.failed != nil:
			a.afterFailure(head)
		case head.err != nil:
			a.batchFailed(head)
		default:
			a.batchCommitted(head)
		}
	}
}

// batchCommitted answers the callers of a committed batch and publishes
// what it committed.
func (a *productActor) batchCommitted(p *batch) {
	b := &p.write
	a.version = b.NewVersion
	now := a.now()
	took := time.Since(p.flushed)
	a.metrics.CommitDuration.Observe(took.Seconds())
	a.metrics.committed(b)
	for i := range p.ops {
		p.ops[i].committed()
	}
	a.forgetKeys(now)
	a.noteSettled(b, now)
	a.forgetSettled(now)
	a.show(b)
	if a.debugging() {
		a.logger().Debug().Int64("batch", p.id).Int("size", len(b.Events)).Int("new_holds", len(b.NewHolds)).
			Int("new_orders", len(b.NewOrders)).Int("payments", len(b.Payments)).Int("expired_holds", len(b.ExpiredHolds)).
			Int("in_flight", len(a.inflight)).Dur("took", took).Msg("batch committed")
	}
	for i := range p.ops {
		p.ops[i].answer(nil)
	}
	if len(p.ops) > 1 {
		// A busy product's: a lone request's batch is not worth keeping.
		p.recycle()
	}
	a.expireDue(now)
	a.redeliverDeferred()
	a.flush()
	a.armTimer()
	a.finishDrain()
}

// show makes what a committed batch wrote what readers see: its counters,
// less what later batches release by expiry (an expired hold never
// counts). It comes before the batch's callers hear yes.
func (a *productActor) show(b *flashsale.Batch) {
	a.visible.Counters = b.Counters
	for _, later := range a.inflight {
		a.visible.Held -= later.expiredHeld
		a.visible.AwaitingPayment -= later.expiredAwaiting
	}
	if q := a.queued; q != nil {
		a.visible.Held -= q.expiredHeld
		a.visible.AwaitingPayment -= q.expiredAwaiting
	}
	a.publish()
}

// failure is a failed batch being recovered from: the callers to decide
// again or to answer once every batch sent after it has finished too.
type failure struct {
	retry       []op // decided again on the reloaded state
	unavailable []op // answered ErrUnavailable: their outcome is unknown
}

// batchFailed starts the recovery from a failed batch. Its callers are
// decided again when it was rolled back for certain (a version conflict)
// or wrote nothing for them (a refusal); any other failure may have
// committed, and those callers hear ErrUnavailable and may retry with
// their idempotency key. The batches sent after it expected the version it
// would have written, so they fail too unless it did commit; the actor
// waits for them, then reloads once.
func (a *productActor) batchFailed(p *batch) {
	err := p.err
	conflict := errors.Is(err, flashsale.ErrVersionConflict)
	a.metrics.CommitFailures.Inc()
	if conflict {
		a.metrics.VersionConflicts.Inc()
	}
	// Webhooks that came before an order this batch creates are the
	// expected way to learn of them, not a fault: logged for debugging only.
	logAt := a.logger().Warn()
	var (
		early    *flashsale.EarlyPaymentsError
		recorded *flashsale.RecordedPaymentsError
	)
	switch {
	case errors.As(err, &early):
		logAt = a.logger().Debug()
		for _, pay := range early.Payments {
			a.learnEarly(pay)
		}
	case errors.As(err, &recorded):
		// So are deliveries whose keys it had forgotten: each is
		// answered again by the first.
		logAt = a.logger().Debug()
		for _, pay := range recorded.Payments {
			a.learnRecorded(pay)
		}
	}
	logAt.Err(err).Int64("batch", p.id).Bool("version_conflict", conflict).Int("size", len(p.write.Events)).
		Int("in_flight", len(a.inflight)).Msg("batch failed; reloading")
	a.failed = &failure{}
	a.afterFailure(p)
}

// afterFailure takes the outcome of a batch that was in flight when an
// earlier one failed, and recovers once none is left.
func (a *productActor) afterFailure(p *batch) {
	f := a.failed
	switch {
	case p.err == nil:
		// It committed, so the failed batch before it did too: readers
		// see what it wrote before its callers hear yes (the reload below,
		// which takes it in too, may fail and leave the old snapshot).
		a.metrics.committed(&p.write)
		a.show(&p.write)
		for i := range p.ops {
			p.ops[i].answer(nil)
		}
	case errors.Is(p.err, flashsale.ErrVersionConflict):
		f.retry = append(f.retry, p.ops...)
	default:
		for _, o := range p.ops {
			if o.refusal {
				f.retry = append(f.retry, o)
			} else {
				f.unavailable = append(f.unavailable, o)
			}
		}
	}
	if len(a.inflight) > 0 {
		return
	}
	a.failed = nil
	var queued []op
	if a.queued != nil {
		queued = a.queued.ops
	}
	a.queued = nil
	unavailable := fmt.Errorf("%w: commit failed", flashsale.ErrUnavailable)
	if a.moved || !a.owns() {
		// Another node owns the product now and most likely wrote it:
		// rather than reload and fight it, this copy stops. Nothing of
		// the retried and queued was committed; their callers go to the
		// owner. This copy publishes nothing more, so nobody reads here
		// what the in-doubt batches did.
		for i := range f.unavailable {
			f.unavailable[i].answer(unavailable)
		}
		for _, o := range append(f.retry, queued...) {
			o.answer(errNotOwner)
		}
		for _, m := range a.deferred {
			m.fail(errNotOwner)
		}
		a.deferred = nil
		a.leave()
		a.finishDrain()
		return
	}
	// Reloaded before anyone hears: readers see at once whether the
	// batches whose outcome is unknown committed.
	loadErr := a.reload()
	for i := range f.unavailable {
		f.unavailable[i].answer(unavailable)
	}
	for _, o := range append(f.retry, queued...) {
		if loadErr == nil && a.draining == nil && o.msg != nil && o.msg.retry() {
			o.msg.decide(a)
			continue
		}
		o.answer(unavailable)
	}
	a.redeliverDeferred()
	a.flush()
	a.finishDrain()
}

// lastWriting is the latest batch with changes in it, queued or in flight,
// or nil when everything decided is committed.
func (a *productActor) lastWriting() *batch {
	if a.queued != nil && len(a.queued.write.Events) > 0 {
		return a.queued
	}
	if n := len(a.inflight); n > 0 {
		return a.inflight[n-1]
	}
	return nil
}

// inFlightWith is the batch in flight that creates an order, or nil.
func (a *productActor) inFlightWith(orderID int64) *batch {
	for _, p := range a.inflight {
		if containsOrder(p, orderID) {
			return p
		}
	}
	return nil
}

// redeliverDeferred decides again the messages that waited for an order's
// batch to commit.
func (a *productActor) redeliverDeferred() {
	deferred := a.deferred
	a.deferred = nil
	for _, m := range deferred {
		a.applyPayment(m)
	}
}
