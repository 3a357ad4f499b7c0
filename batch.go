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
	// applied now. Those without are written unless the commit finds
	// one recorded under the key: see Recorded.
	Payments []Payment
	// Events journal the batch's changes, in the order they were decided.
	Events []Event
	At     time.Time

	// Recorded is set by a commit that accepts the batch: those of
	// Payments found recorded already under their keys (a delivery
	// repeated after the actor forgot its key, or a key reused), each
	// of them for an order the batch leaves as it is. They are not
	// written again, and each delivery is answered by the first. Read it
	// only once the commit has answered.
	Recorded []Payment
}

// RecordedBefore returns the payment a commit found recorded under key.
func (b *Batch) RecordedBefore(key string) (Payment, bool) {
	for _, p := range b.Recorded {
		if p.Key == key {
			return p, true
		}
	}
	return Payment{}, false
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

// RecordedPaymentsError refuses a batch that records webhooks under keys
// already recorded, for orders it changes: their changes rest on
// deliveries that are not new. It is a version conflict: the actor learns
// the payments, and answers each delivery again by the first one recorded
// under its key.
type RecordedPaymentsError struct{ Payments []Payment }

func (e *RecordedPaymentsError) Error() string {
	return fmt.Sprintf("%d payments were recorded before under their keys", len(e.Payments))
}
func (e *RecordedPaymentsError) Is(target error) bool { return target == ErrVersionConflict }

// Written is the version the batch's commit writes.
func (b *Batch) Written() int64 {
	if b.NewVersion != 0 {
		return b.NewVersion
	}
	return b.Version + 1
}
