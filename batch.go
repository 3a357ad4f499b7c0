package flashsale

// The contract between a product's actor and the store: what an actor
// loads, and what one group commit writes.

import (
	"fmt"
	"time"
)

// ProductState is what an actor loads before it handles any message.
type ProductState struct {
	Product      Product
	Version      int64
	ActiveHolds  []Hold
	UnpaidOrders []Order // orders awaiting payment
	LastSeq      int64   // seq of the product's last journal event
}

// Batch is one group commit of a product's actor: everything it decided
// while the previous transaction was in flight.
type Batch struct {
	ProductID int64
	// Version is the version the row must have: the one the actor last
	// read, or the one the batch before this one writes. The commit fails
	// with ErrVersionConflict when the row has another.
	Version int64
	// NewVersion is the version the commit writes; zero writes Version+1.
	NewVersion int64
	// Counters after the batch, written as they are.
	Counters
	NewHolds       []Hold
	ExpiredHolds   []int64
	ConvertedHolds []int64 // active → converted, each by one of NewOrders
	NewOrders      []Order
	OrderChanges   []OrderChange
	// Payments are webhooks recorded as applied. Those with Early set
	// were recorded early, before their order existed, and are marked
	// applied now.
	Payments []Payment
	// Events journal the batch's changes, in the order they were decided.
	Events []Event
	At     time.Time
}

// OrderChange moves an order from one status to another. The store refuses
// the batch if the order is not in From: someone else changed it.
type OrderChange struct {
	OrderID  int64
	From, To OrderStatus
	Reason   CancelReason // why it was cancelled, when To is cancelled
}

// EarlyPaymentsError refuses a batch that creates orders for which
// webhooks were recorded before the actor knew of them. It is a version
// conflict: the actor learns the payments and decides again.
type EarlyPaymentsError struct{ Payments []Payment }

func (e *EarlyPaymentsError) Error() string {
	return fmt.Sprintf("%d payments arrived before their order", len(e.Payments))
}
func (e *EarlyPaymentsError) Is(target error) bool { return target == ErrVersionConflict }

// Written is the version the batch's commit writes.
func (b *Batch) Written() int64 {
	if b.NewVersion != 0 {
		return b.NewVersion
	}
	return b.Version + 1
}
