package actors

import (
	"fmt"
	"time"
)

// EventKind names a state change of a product.
type EventKind string

// Event kinds. Rejected requests change nothing and are not journalled.
const (
	EventProductCreated EventKind = "product_created"
	EventStockChanged   EventKind = "stock_changed" // Qty is the new total stock
	EventHoldCreated    EventKind = "hold_created"
	EventHoldExpired    EventKind = "hold_expired"
	EventOrderCreated   EventKind = "order_created"
	EventOrderPaid      EventKind = "order_paid"
	EventOrderCancelled EventKind = "order_cancelled" // Reason says by what
	EventOrderRevived   EventKind = "order_revived"   // a late success took the units again
	EventRefundRequired EventKind = "refund_required" // a late success found the units gone
)

// Event is one entry of a product's journal: what changed, and the
// product's counters right after it. Seq runs 1, 2, 3 ... per product with
// no gaps; an event is written in the transaction of the change itself.
type Event struct {
	ProductID      int64
	Seq            int64
	Kind           EventKind
	At             time.Time
	HoldID         int64
	OrderID        int64
	IdempotencyKey string
	Qty            int64
	Reason         string
	// Counters after the event.
	Stock, Held, AwaitingPayment, Paid int64
}

// Available is the product's available stock after the event.
func (e Event) Available() int64 { return e.Stock - e.Held - e.AwaitingPayment - e.Paid }

// Counters is the part of a product the journal replays.
type Counters struct {
	Stock, Held, AwaitingPayment, Paid int64
}

// Available is the stock not held or ordered.
func (c Counters) Available() int64 { return c.Stock - c.Held - c.AwaitingPayment - c.Paid }

// CountersOf takes a product's counters.
func CountersOf(p Product) Counters {
	return Counters{Stock: p.Stock, Held: p.Held, AwaitingPayment: p.AwaitingPayment, Paid: p.Paid}
}

// Apply replays one event on the counters before it. It changes them by
// the event's kind and quantity alone, never by the counters the event
// recorded, so that comparing the two checks the journal.
func (c Counters) Apply(e Event) (Counters, error) {
	switch e.Kind {
	case EventProductCreated:
		// The journal's start: products older than the journal begin
		// with the counters they had then.
		return Counters{Stock: e.Stock, Held: e.Held, AwaitingPayment: e.AwaitingPayment, Paid: e.Paid}, nil
	case EventStockChanged:
		c.Stock = e.Qty
	case EventHoldCreated:
		c.Held += e.Qty
	case EventHoldExpired:
		c.Held -= e.Qty
	case EventOrderCreated:
		c.Held -= e.Qty
		c.AwaitingPayment += e.Qty
	case EventOrderPaid:
		c.AwaitingPayment -= e.Qty
		c.Paid += e.Qty
	case EventOrderCancelled:
		c.AwaitingPayment -= e.Qty
	case EventOrderRevived:
		c.Paid += e.Qty
	case EventRefundRequired:
	default:
		return c, fmt.Errorf("unknown event kind %q", e.Kind)
	}
	return c, nil
}

// Replay runs a product's journal from its first event and reports every
// event whose recorded counters differ from the replayed ones, or that
// leaves the product oversold, or that breaks the sequence.
func Replay(events []Event) (Counters, []string) {
	var (
		c        Counters
		problems []string
	)
	for i, e := range events {
		if want := int64(i + 1); e.Seq != want {
			problems = append(problems, fmt.Sprintf("seq %d where %d was due", e.Seq, want))
		}
		next, err := c.Apply(e)
		if err != nil {
			problems = append(problems, fmt.Sprintf("seq %d: %v", e.Seq, err))
			continue
		}
		c = next
		recorded := Counters{Stock: e.Stock, Held: e.Held, AwaitingPayment: e.AwaitingPayment, Paid: e.Paid}
		if c != recorded {
			problems = append(problems, fmt.Sprintf("seq %d %s: replayed %+v, recorded %+v", e.Seq, e.Kind, c, recorded))
			c = recorded // report each disagreement once, not every event after it
		}
		if c.Available() < 0 || c.Held < 0 || c.AwaitingPayment < 0 || c.Paid < 0 {
			problems = append(problems, fmt.Sprintf("seq %d %s: counters %+v break the invariant", e.Seq, e.Kind, c))
		}
	}
	return c, problems
}

// record appends an event for a change just decided, with the decided
// counters after it, to the batch that will write the change.
func (a *productActor) record(kind EventKind, qty, holdID, orderID int64, key, reason string) {
	a.seq++
	p := &a.product
	a.queued.batch.Events = append(a.queued.batch.Events, Event{
		ProductID: a.id, Seq: a.seq, Kind: kind, At: a.now().UTC().Truncate(time.Millisecond),
		HoldID: holdID, OrderID: orderID, IdempotencyKey: key, Qty: qty, Reason: reason,
		Stock: p.Stock, Held: p.Held, AwaitingPayment: p.AwaitingPayment, Paid: p.Paid,
	})
}

// settledKind is the journal's name for an order's move by a payment.
func settledKind(from, to OrderStatus) EventKind {
	switch {
	case from == OrderPendingPayment && to == OrderPaid:
		return EventOrderPaid
	case to == OrderCancelled:
		return EventOrderCancelled
	case from == OrderCancelled && to == OrderPaid:
		return EventOrderRevived
	default:
		return EventRefundRequired
	}
}
