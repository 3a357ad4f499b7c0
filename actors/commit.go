package actors

import (
	"errors"
	"flashsale"
	"fmt"
	"time"
)

// batch is one group commit of this actor, being gathered or committed:
// what it writes, and the callers that wait for it.
type batch struct {
	id      int64 // numbers the batches of this actor, for the log
	flushed time.Time
	write   flashsale.Batch
	ops     []*op
	// Releases by expiry in this batch, already taken out of visible.
	expiredHeld, expiredAwaiting int64
}

// op is one caller waiting for a batch.
type op struct {
	msg request // to decide again after a version conflict; nil for a write of the actor's own
	// refusal marks a request refused on account of the batch's changes:
	// it wrote nothing, so it is decided again whenever the batch fails.
	refusal bool
	commit  func()          // marks what the batch wrote as committed
	done    func(err error) // answers the caller
}

func (a *productActor) newBatch() *batch {
	a.batches++
	return &batch{id: a.batches}
}

func (p *batch) empty() bool {
	b := &p.write
	return len(p.ops) == 0 && len(b.NewHolds) == 0 && len(b.ExpiredHolds) == 0 && len(b.OrderChanges) == 0 &&
		len(b.NewOrders) == 0 && len(b.Payments) == 0 && len(b.Events) == 0
}

// flush starts committing the queued batch when no transaction is in
// flight. The batch carries the decided counters, which at this point are
// the committed counters plus exactly this batch.
//
// Nothing is written while the actor is broken: what it decided since the
// failed batch rests on state the database refused, and the next load
// replaces it.
func (a *productActor) flush() {
	if a.inflight != nil || a.queued.empty() || a.self == nil || a.broken {
		return
	}
	p := a.queued
	a.queued, a.inflight = a.newBatch(), p
	b := &p.write
	b.ProductID, b.Version = a.id, a.version
	b.Counters = a.product.Counters
	b.At = a.now()
	p.flushed = time.Now()
	system, self := a.system, a.self
	a.host.writer.submit(b, func(err error) { system.Root.Send(self, batchDone{b: p, err: err}) })
}

func (a *productActor) batchDone(p *batch, err error) {
	a.inflight = nil
	if err != nil {
		a.batchFailed(p, err)
		return
	}
	a.version++
	now := a.now()
	took := time.Since(p.flushed)
	a.metrics.CommitDuration.Observe(took.Seconds())
	a.metrics.committed(&p.write)
	for _, o := range p.ops {
		if o.commit != nil {
			o.commit()
		}
	}
	b := &p.write
	a.visible.Stock, a.visible.Held, a.visible.AwaitingPayment, a.visible.Paid =
		b.Stock, b.Held-a.queued.expiredHeld, b.AwaitingPayment-a.queued.expiredAwaiting, b.Paid
	a.forgetKeys(now)
	a.publish()
	a.log.Debug().Int64("batch", p.id).Int("size", len(b.Events)).Int("new_holds", len(b.NewHolds)).
		Int("new_orders", len(b.NewOrders)).Int("payments", len(b.Payments)).Int("expired_holds", len(b.ExpiredHolds)).
		Dur("took", took).Msg("batch committed")
	for _, o := range p.ops {
		o.done(nil)
	}
	a.expireDue(now)
	a.redeliverDeferred()
	a.flush()
	a.armTimer()
	a.finishDrain()
}

// batchFailed reloads the product and decides again what may safely be
// decided again: the queued messages (never sent to the database) always,
// and the in-flight ones only after a version conflict, which rolled them
// back for certain. Any other failure may have committed: those callers
// hear ErrUnavailable and may retry with their idempotency key.
func (a *productActor) batchFailed(p *batch, err error) {
	conflict := errors.Is(err, flashsale.ErrVersionConflict)
	a.metrics.CommitFailures.Inc()
	if conflict {
		a.metrics.VersionConflicts.Inc()
	}
	// Webhooks that came before an order this batch creates are the
	// expected way to learn of them, not a fault: logged for debugging only.
	logAt := a.log.Warn()
	var early *flashsale.EarlyPaymentsError
	if errors.As(err, &early) {
		logAt = a.log.Debug()
		for _, pay := range early.Payments {
			a.learnEarly(pay)
		}
	}
	logAt.Err(err).Int64("batch", p.id).Bool("version_conflict", conflict).Int("size", len(p.write.Events)).
		Msg("batch failed; reloading")
	queued := a.queued
	a.queued = a.newBatch()
	loadErr := a.reload()
	unavailable := fmt.Errorf("%w: commit failed", flashsale.ErrUnavailable)
	retry := func(o *op, replay bool) {
		if replay && loadErr == nil && a.draining == nil && o.msg != nil && o.msg.retry() {
			o.msg.decide(a)
			return
		}
		o.done(unavailable)
	}
	for _, o := range p.ops {
		retry(o, conflict || o.refusal)
	}
	for _, o := range queued.ops {
		retry(o, true)
	}
	a.redeliverDeferred()
	a.finishDrain()
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
