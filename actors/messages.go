package actors

import (
	"context"
	"flashsale"
	"time"
)

// The messages of a product's actor. Each carries the reply channel its
// caller waits on (buffered, so the actor never blocks on a caller that
// has gone) and, for writes, the caller's context: a write whose caller has
// gone by the time it is dequeued is dropped without being made.

// envelope carries what every request has: when it was sent.
type envelope struct {
	sent time.Time
}

func (e envelope) sentAt() time.Time { return e.sent }

type placeHold struct {
	envelope
	ctx      context.Context
	qty      int64
	key      string // Idempotency-Key, or empty
	hash     string // flashsale.HoldRequestHash of the request
	attempts int    // how often a version conflict sent it round again
	reply    chan holdReply
}

type holdReply struct {
	hold flashsale.Hold
	err  error
}

type createOrder struct {
	envelope
	ctx      context.Context
	holdID   int64
	key      string
	hash     string
	orderID  int64 // set when first decided, kept when decided again
	attempts int
	reply    chan orderReply
}

type orderReply struct {
	order flashsale.Order
	err   error
}

type applyPayment struct {
	envelope
	ctx      context.Context
	pay      flashsale.Payment
	attempts int
	reply    chan paymentReply
}

type paymentReply struct {
	result flashsale.PaymentResult
	repeat bool // answered from an earlier delivery of the same key
	err    error
}

type setStock struct {
	envelope
	ctx      context.Context
	stock    int64
	attempts int
	reply    chan productReply
}

type productReply struct {
	product flashsale.Product
	err     error
}

// query asks for the product's counters as of now; readers send it only
// when their snapshot has reached its earliest hold expiry.
type query struct {
	envelope
	reply chan productReply
}

// drain asks the actor to commit what it has, refuse new writes and stop.
type drain struct {
	done chan struct{}
}

// Messages the actor sends itself.
type (
	expireTick struct{}
	reloadTick struct{}
	batchDone  struct {
		p   *pending
		err error
	}
)

// Snapshot is a product's committed state, published by its actor after
// every commit and expiry. It is immutable.
type Snapshot struct {
	Product flashsale.Product
	// ValidUntil is the earliest expiry of a hold the snapshot counts as
	// active; zero when there is none. From then on the snapshot may count
	// an expired hold, and readers ask the actor instead.
	ValidUntil time.Time
}

// validAt reports whether the snapshot is exact at now.
func (s *Snapshot) validAt(now time.Time) bool {
	return s.ValidUntil.IsZero() || now.Before(s.ValidUntil)
}

func kindOf(msg any) string {
	switch msg.(type) {
	case *placeHold:
		return "place_hold"
	case *createOrder:
		return "create_order"
	case *applyPayment:
		return "apply_payment"
	case *setStock:
		return "set_stock"
	case *query:
		return "query"
	case *drain:
		return "drain"
	case expireTick:
		return "expire_tick"
	case reloadTick:
		return "reload_tick"
	case batchDone:
		return "batch_done"
	default:
		return "system"
	}
}
