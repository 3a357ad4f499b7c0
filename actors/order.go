package actors

import (
	"flashsale"
	"fmt"
	"sort"
	"time"
)

// createOrder turns an active hold into an order awaiting payment. Its
// units move from held to awaiting payment: they stay taken.
func (a *productActor) createOrder(m *createOrder) {
	if !a.admit(m.ctx, m) {
		return
	}
	id := keyID{scopeOrder, m.key}
	if a.repeat(id, m.hash, m, func(first any, err error) {
		o, _ := first.(flashsale.Order)
		m.answer(o, err)
	}) {
		return
	}
	now := a.now()
	h := a.holds[m.holdID]
	if h == nil {
		a.holdGone(m)
		return
	}
	if !now.Before(h.ExpiresAt) {
		// Past its expiry though its own batch is still in flight, so not
		// released yet: expired all the same.
		m.fail(flashsale.ErrHoldExpired)
		return
	}
	if m.orderID == 0 {
		// Kept in the message: decided again after a conflict, the order
		// keeps its id, and webhooks already sent for that id find it.
		orderID, err := a.host.orderIDs.Next(m.ctx)
		if err != nil {
			m.fail(fmt.Errorf("%w: order id: %v", flashsale.ErrUnavailable, err))
			return
		}
		m.orderID = orderID
	}
	delete(a.holds, h.ID)
	a.holdDue.remove(h.index)
	a.product.Held -= h.Qty
	a.product.AwaitingPayment += h.Qty
	o := &activeOrder{index: -1, Order: flashsale.Order{
		ID:             m.orderID,
		HoldID:         h.ID,
		ProductID:      a.id,
		Qty:            h.Qty,
		Amount:         a.product.Price * flashsale.Money(h.Qty),
		Status:         flashsale.OrderPendingPayment,
		ExpiresAt:      expiryAfter(now, a.cfg.PaymentTTL),
		CreatedAt:      now.UTC().Truncate(time.Millisecond),
		IdempotencyKey: m.key,
		RequestHash:    m.hash,
	}}
	a.record(flashsale.EventOrderCreated, o.Qty, h.ID, o.ID, m.key, "")
	p := a.writing()
	// Webhooks that came before the order are applied in the transaction
	// that creates it, so the order is never seen without them.
	for _, pay := range a.takeEarly(o.ID) {
		a.settle(o, pay)
		pay.Result = o.Status
		p.write.Payments = append(p.write.Payments, pay)
		a.remember(keyID{scopePayment, pay.Key}, pay.Hash, flashsale.PaymentResult{OrderID: o.ID, Status: o.Status}, p)
	}
	o.InitialStatus = o.Status
	put(&a.orders, o.ID, o)
	put(&a.converted, h.ID, o)
	if o.Status == flashsale.OrderPendingPayment {
		a.orderDue.push(o)
	}
	p.write.ConvertedHolds = append(p.write.ConvertedHolds, h.ID)
	p.write.NewOrders = append(p.write.NewOrders, o.Order)
	first := o.Order
	a.remember(id, m.hash, first, p)
	p.ops = append(p.ops, op{
		msg:    m,
		commit: func() { o.committed = true },
		done:   func(err error) { m.answer(first, err) },
	})
	a.flush()
	a.armTimer()
}

// holdGone answers an order for a hold that is no longer active here: it
// became an order, or it expired.
func (a *productActor) holdGone(m *createOrder) {
	o := a.converted[m.holdID]
	if o == nil {
		m.fail(flashsale.ErrHoldExpired)
		return
	}
	used := &flashsale.HoldUsedError{OrderID: o.ID}
	if o.committed {
		m.fail(used)
		return
	}
	// The order is not committed yet: say so only once it is.
	p := a.inFlightWith(o.ID)
	if p == nil {
		p = a.writing()
	}
	p.ops = append(p.ops, op{msg: m, done: func(err error) {
		if err == nil {
			err = used
		}
		m.fail(err)
	}})
}

func containsOrder(p *batch, id int64) bool {
	for _, o := range p.write.NewOrders {
		if o.ID == id {
			return true
		}
	}
	return false
}

// settle applies a payment provider's word to an order, by the rules:
//
//	pending_payment + success          → paid
//	pending_payment + failed/cancelled → cancelled, units released
//	cancelled + success                → paid if the units are still
//	                                     available, else refund_required
//	anything else                      → no change
//
// It moves the counters with the order, journals the change, and reports
// the status before.
func (a *productActor) settle(o *activeOrder, pay flashsale.Payment) flashsale.OrderStatus {
	from, s := o.Status, pay.Status
	switch {
	case from == flashsale.OrderPendingPayment && s == flashsale.PaymentSuccess:
		o.Status = flashsale.OrderPaid
		a.product.AwaitingPayment -= o.Qty
		a.product.Paid += o.Qty
	case from == flashsale.OrderPendingPayment:
		o.Status, o.CancelReason = flashsale.OrderCancelled, flashsale.CancelledByWebhook
		a.product.AwaitingPayment -= o.Qty
	case from == flashsale.OrderCancelled && s == flashsale.PaymentSuccess && a.product.Available() >= o.Qty:
		o.Status, o.CancelReason = flashsale.OrderPaid, ""
		a.product.Paid += o.Qty
	case from == flashsale.OrderCancelled && s == flashsale.PaymentSuccess:
		o.Status, o.CancelReason = flashsale.OrderRefundRequired, ""
		a.logger().Warn().Int64("order_id", o.ID).Int64("qty", o.Qty).
			Msg("payment succeeded for a cancelled order whose units are gone: refund required")
	}
	if o.Status == from {
		return from
	}
	if from == flashsale.OrderPendingPayment {
		a.orderDue.remove(o.index)
	}
	a.record(settledKind(from, o.Status), o.Qty, o.HoldID, o.ID, pay.Key, string(o.CancelReason))
	return from
}

// learnEarly stashes a webhook that was recorded before its order existed.
func (a *productActor) learnEarly(pay flashsale.Payment) {
	for _, known := range a.early[pay.OrderID] {
		if known.Key == pay.Key {
			return
		}
	}
	put(&a.early, pay.OrderID, append(a.early[pay.OrderID], pay))
}

// takeEarly returns the early webhooks of an order in the order they came.
func (a *productActor) takeEarly(orderID int64) []flashsale.Payment {
	early := a.early[orderID]
	delete(a.early, orderID)
	sort.SliceStable(early, func(i, j int) bool {
		if !early[i].CreatedAt.Equal(early[j].CreatedAt) {
			return early[i].CreatedAt.Before(early[j].CreatedAt)
		}
		return early[i].Key < early[j].Key
	})
	return early
}

// settledOrder is an order that settled here, or was read settled from
// the database, and when.
type settledOrder struct {
	id int64
	at time.Time
}

// noteSettled notes the orders a committed batch settled: every order
// change settles one, and an order is created settled when webhooks came
// before it.
func (a *productActor) noteSettled(b *flashsale.Batch, now time.Time) {
	for _, c := range b.OrderChanges {
		a.settled = append(a.settled, settledOrder{id: c.OrderID, at: now})
	}
	for _, o := range b.NewOrders {
		if o.Status != flashsale.OrderPendingPayment {
			a.settled = append(a.settled, settledOrder{id: o.ID, at: now})
		}
	}
}

// forgetSettled drops the orders settled more than KeyMemory ago, and the
// holds they were, from memory: a product that keeps selling would
// otherwise keep every order it ever sold while it stays loaded. A later
// webhook for a forgotten order reads it from the database (order), and a
// later order for its hold finds it there (Service.CreateOrder), as after
// a reload. An order that a batch still queued or in flight changes again
// stays: it is noted again when that batch commits.
func (a *productActor) forgetSettled(now time.Time) {
	var changing map[int64]bool
	a.settled = forgetOlder(a.settled, now, a.cfg.KeyMemory,
		func(s settledOrder) time.Time { return s.at },
		func(s settledOrder) {
			o := a.orders[s.id]
			if o == nil || o.Status == flashsale.OrderPendingPayment {
				return
			}
			if changing == nil {
				changing = a.changingOrders()
			}
			if changing[s.id] {
				return
			}
			delete(a.orders, s.id)
			if a.converted[o.HoldID] == o {
				delete(a.converted, o.HoldID)
			}
		})
}

// changingOrders returns the orders that batches queued or in flight
// change.
func (a *productActor) changingOrders() map[int64]bool {
	ids := map[int64]bool{}
	for _, p := range append([]*batch{a.queued}, a.inflight...) {
		if p == nil {
			continue
		}
		for _, c := range p.write.OrderChanges {
			ids[c.OrderID] = true
		}
	}
	return ids
}
