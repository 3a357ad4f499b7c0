package actors

import (
	"flashsale"
	"time"
)

// record appends an event for a change just decided, with the decided
// counters after it, to the batch that will write the change.
func (a *productActor) record(kind flashsale.EventKind, qty, holdID, orderID int64, key, reason string) {
	a.seq++
	p := &a.product
	b := &a.writing().write
	b.Events = append(b.Events, flashsale.Event{
		ProductID: a.id, Seq: a.seq, Kind: kind, At: a.now().UTC().Truncate(time.Millisecond),
		HoldID: holdID, OrderID: orderID, IdempotencyKey: key, Qty: qty, Reason: reason,
		Node:     a.cfg.Node,
		Counters: p.Counters,
	})
}

// settledKind is the journal's name for an order's move by a payment.
func settledKind(from, to flashsale.OrderStatus) flashsale.EventKind {
	switch {
	case from == flashsale.OrderPendingPayment && to == flashsale.OrderPaid:
		return flashsale.EventOrderPaid
	case to == flashsale.OrderCancelled:
		return flashsale.EventOrderCancelled
	case from == flashsale.OrderCancelled && to == flashsale.OrderPaid:
		return flashsale.EventOrderRevived
	default:
		return flashsale.EventRefundRequired
	}
}
