package flashsale

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
	// Node is the cluster node whose actor decided the event, so that a
	// product's journal shows where it lived and when it moved; empty
	// outside a cluster and for events the store writes itself.
	Node     string
	Counters // the product's, right after the event
}

// Apply replays one event on the counters before it. It changes them by
// the event's kind and quantity alone, never by the counters the event
// recorded, so that comparing the two checks the journal.
func (c Counters) Apply(e Event) (Counters, error) {
	switch e.Kind {
	case EventProductCreated:
		// The journal's start: products older than the journal begin
		// with the counters they had then.
		return e.Counters, nil
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
		recorded := e.Counters
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
