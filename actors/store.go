package actors

import (
	"context"
	"flashsale"
	"sync"
	"time"
)

// Store is what the actors need of the database.
type Store interface {
	// LoadProduct reads a product's committed state, or ErrProductNotFound.
	LoadProduct(ctx context.Context, id int64) (flashsale.ProductState, error)
	LoadProducts(ctx context.Context, ids []int64) (map[int64]flashsale.ProductState, error) // many at once; unknown ids left out
	// Catalogue lists products after an id, as committed and as of now.
	Catalogue(ctx context.Context, after int64, limit int, now time.Time) ([]flashsale.Product, error)
	// CommitBatches writes batches of different products in one
	// transaction and reports each one's outcome: ErrVersionConflict when
	// its product's version is not its Version, and a failure of the
	// transaction for all of them.
	CommitBatches(ctx context.Context, batches []*flashsale.Batch) []error
	// DueProducts lists the products with holds or unpaid orders past
	// their time at now.
	DueProducts(ctx context.Context, now time.Time) ([]int64, error)
	// NextIDs reserves n consecutive ids of a sequence.
	NextIDs(ctx context.Context, sequence string, n int64) (first int64, err error)
	// Hold reads a committed hold, or ErrHoldNotFound.
	Hold(ctx context.Context, id int64) (flashsale.Hold, error)
	// HoldByKey finds the hold created with an idempotency key.
	HoldByKey(ctx context.Context, key string) (flashsale.Hold, error)
	// Order reads a committed order, or ErrOrderNotFound.
	Order(ctx context.Context, id int64) (flashsale.Order, error)
	// OrderByKey finds the order created with an idempotency key.
	OrderByKey(ctx context.Context, key string) (flashsale.Order, error)
	// OrderByHold finds the order a hold became.
	OrderByHold(ctx context.Context, holdID int64) (flashsale.Order, error)
	// PaymentByKey reads the webhook recorded under a key, or
	// ErrPaymentNotFound.
	PaymentByKey(ctx context.Context, key string) (flashsale.Payment, error)
	// RecordEarlyPayment returns the product of the payment's order, or,
	// when the order does not exist yet, records the payment as pending
	// (or returns the payment already recorded under its key).
	RecordEarlyPayment(ctx context.Context, p flashsale.Payment) (productID int64, recorded flashsale.Payment, err error)
}

// Sequence hands out increasing ids from blocks reserved in the database,
// so that each new id is the previous one plus one while the process runs
// (a restart leaves a gap) and the database is asked once per block.
type Sequence struct {
	name  string
	block int64
	store Store

	mu   sync.Mutex // guards next and end
	next int64
	end  int64 // exclusive
}

// NewSequence returns ids of the named database sequence, reserving block
// ids at a time.
func NewSequence(store Store, name string, block int64) *Sequence {
	return &Sequence{name: name, block: block, store: store}
}

// Next returns the next id.
func (s *Sequence) Next(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == s.end {
		first, err := s.store.NextIDs(ctx, s.name, s.block)
		if err != nil {
			return 0, err
		}
		s.next, s.end = first, first+s.block
	}
	id := s.next
	s.next++
	return id, nil
}
