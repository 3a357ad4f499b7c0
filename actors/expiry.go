package actors

import (
	"flashsale"
	"time"
)

// expireDue releases the committed holds and orders whose time has come.
// One whose own batch is still in flight is released after that batch
// commits. An expired hold or order never counts as taking stock, written
// or not: readers see it released at once.
func (a *productActor) expireDue(now time.Time) {
	released := false
	for _, h := range popDue(&a.holdDue, now) {
		p := a.writing()
		delete(a.holds, h.ID)
		a.product.Held -= h.Qty
		a.visible.Held -= h.Qty
		p.expiredHeld += h.Qty
		p.write.ExpiredHolds = append(p.write.ExpiredHolds, h.ID)
		a.record(flashsale.EventHoldExpired, h.Qty, h.ID, 0, h.IdempotencyKey, "")
		released = true
	}
	for _, o := range popDue(&a.orderDue, now) {
		p := a.writing()
		a.product.AwaitingPayment -= o.Qty
		a.visible.AwaitingPayment -= o.Qty
		p.expiredAwaiting += o.Qty
		o.Status, o.CancelReason = flashsale.OrderCancelled, flashsale.CancelledByPaymentWindow
		p.write.OrderChanges = append(p.write.OrderChanges,
			flashsale.OrderChange{OrderID: o.ID, From: flashsale.OrderPendingPayment, To: flashsale.OrderCancelled, Reason: flashsale.CancelledByPaymentWindow})
		a.record(flashsale.EventOrderCancelled, o.Qty, o.HoldID, o.ID, "", string(flashsale.CancelledByPaymentWindow))
		released = true
	}
	if released {
		a.publish()
		a.flush()
	}
}

// armTimer points the one expiry timer at the earliest hold or order
// deadline still ahead. A deadline already passed belongs to a hold or
// order whose batch is in flight; that batch's commit handles it.
func (a *productActor) armTimer() {
	if a.self == nil || a.draining != nil {
		a.stopTimer()
		return
	}
	now := a.now()
	var at time.Time
	for _, t := range []time.Time{a.holdDue.next(), a.orderDue.next()} {
		if t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if at.IsZero() {
		a.stopTimer()
		return
	}
	if at.Equal(a.timerAt) {
		return
	}
	a.stopTimer()
	a.timerAt = at
	system, self := a.host.system, a.self
	a.timer = time.AfterFunc(at.Sub(now), func() { system.Root.Send(self, expireTick{}) })
}

func (a *productActor) stopTimer() {
	if a.timer != nil {
		a.timer.Stop()
		a.timer, a.timerAt = nil, time.Time{}
	}
}

// expiryAfter is when something taken at now with the given time to live
// expires: rounded up to the whole second, so that the RFC 3339 time
// clients see is exactly when it expires.
func expiryAfter(now time.Time, ttl time.Duration) time.Time {
	t := now.Add(ttl).UTC()
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// earliest is the earlier of two times, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
