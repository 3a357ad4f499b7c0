package actors

import (
	"context"
	"flashsale"
	"fmt"
	"time"
)

// applyPayment applies a webhook to a committed order of this product and
// records it under its key. Every webhook is recorded, even one that
// changes nothing, so that the provider stops retrying and a repeat gets
// the same answer.
func (a *productActor) applyPayment(m *applyPayment) {
	if !a.admit(m.ctx, m) {
		return
	}
	id := keyID{scopePayment, m.pay.Key}
	if a.repeat(id, m.pay.Hash, m, func(first any, err error) {
		res, _ := first.(flashsale.PaymentResult)
		m.answer(paymentAnswer{result: res, repeat: true}, err)
	}) {
		return
	}
	o, err := a.order(m.pay.OrderID)
	if err != nil {
		m.fail(err)
		return
	}
	if !o.committed {
		// Created by the batch in flight: wait for it, so that the
		// payment is decided on what was committed.
		a.deferred = append(a.deferred, m)
		return
	}
	now := a.now()
	from := a.settle(o, m.pay)
	p := a.writing()
	if o.Status != from {
		p.write.OrderChanges = append(p.write.OrderChanges,
			flashsale.OrderChange{OrderID: o.ID, From: from, To: o.Status, Reason: o.CancelReason})
	}
	pay := m.pay
	pay.Early, pay.Result, pay.CreatedAt = false, o.Status, now.UTC().Truncate(time.Millisecond)
	p.write.Payments = append(p.write.Payments, pay)
	res := flashsale.PaymentResult{OrderID: o.ID, Status: o.Status}
	a.remember(id, pay.Hash, res, p)
	p.ops = append(p.ops, op{msg: m, done: func(err error) {
		if first, ok := p.write.RecordedBefore(pay.Key); ok && err == nil {
			// Delivered before, when this actor did not remember the key.
			res, err := firstAnswer(first.Hash, pay.Hash, first.Answer())
			m.answer(paymentAnswer{result: res, repeat: true}, err)
			return
		}
		m.answer(paymentAnswer{result: res}, err)
	}})
	a.flush()
	a.armTimer()
}

// order returns an order of this product: from memory when this actor has
// it, else from the database. Only settled orders can be missing from
// memory, and only this actor changes them, so the row read is current.
func (a *productActor) order(id int64) (*activeOrder, error) {
	if o, ok := a.orders[id]; ok {
		return o, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.CommitTimeout)
	defer cancel()
	row, err := a.host.store.Order(ctx, id)
	if err != nil {
		return nil, err
	}
	if row.ProductID != a.id {
		return nil, fmt.Errorf("order %d belongs to product %d, not %d", id, row.ProductID, a.id)
	}
	if row.Status == flashsale.OrderPendingPayment {
		// Another process created it after this actor loaded: what this
		// actor knows is stale. Reload when nothing is in flight; else the
		// version check refuses the next batch, which reloads.
		if len(a.inflight) == 0 && a.queued.empty() {
			if err := a.reload(); err == nil {
				if o, ok := a.orders[id]; ok {
					return o, nil
				}
			}
		}
		return nil, fmt.Errorf("%w: order %d is newer than product %d's state here", flashsale.ErrUnavailable, id, a.id)
	}
	o := &activeOrder{Order: row, committed: true, index: -1}
	put(&a.orders, id, o)
	a.settled = append(a.settled, settledOrder{id: id, at: a.now()})
	return o, nil
}
