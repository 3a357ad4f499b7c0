// Package flashsale is the domain of a flash sale: products and their
// stock counters, holds, orders, payments, money, the journal's events, the
// sentinel errors, and the contract between a product's actor and the store
// (ProductState, Batch). It imports nothing of the project; every other
// package imports it.
//
//	cmd/flashsale → httpapi → actors → flashsale
//	             ↘  store  ──────────↗
package flashsale

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// Sentinel errors of the domain. The store translates driver errors into
// these, and the HTTP layer maps each to one status in a single table.
var (
	ErrProductNotFound     = errors.New("product not found")
	ErrHoldNotFound        = errors.New("hold not found")
	ErrOrderNotFound       = errors.New("order not found")
	ErrPaymentNotFound     = errors.New("payment not found")
	ErrInsufficientStock   = errors.New("insufficient stock")
	ErrHoldExpired         = errors.New("hold expired")
	ErrHoldUsed            = errors.New("hold already used")
	ErrIdempotencyConflict = errors.New("idempotency key reused with a different payload")
	ErrStockBelowCommitted = errors.New("stock below the units already held or ordered")
	// ErrUnavailable means the request was not carried out and may be
	// retried: the database is unreachable, a commit failed or its outcome
	// is unknown, the request timed out, or the server is shutting down.
	ErrUnavailable = errors.New("service unavailable")
	// ErrOverloaded refuses a request at once when too many wait for the
	// same product: better a quick 503 than an unbounded queue.
	ErrOverloaded = fmt.Errorf("%w: too many requests are waiting for this product", ErrUnavailable)
	// ErrVersionConflict is the FOR UPDATE backstop firing: another writer
	// changed the product since this actor last read it.
	ErrVersionConflict = errors.New("product version conflict")
)

// Counters are where a product's stock is: every unit of Stock is in
// exactly one of available, held, awaiting payment or paid.
type Counters struct {
	Stock           int64 // the total
	Held            int64 // units in active holds
	AwaitingPayment int64 // units in orders awaiting payment
	Paid            int64 // units in paid orders
}

// Available is the stock not taken by holds or orders.
func (c Counters) Available() int64 { return c.Stock - c.Taken() }

// Taken is the stock held or ordered.
func (c Counters) Taken() int64 { return c.Held + c.AwaitingPayment + c.Paid }

// Product is a product and its counters.
type Product struct {
	ID    int64
	Name  string
	Price Money
	Counters
}

// NewProduct is what an operator gives to create a product.
type NewProduct struct {
	Name  string
	Price Money
	Stock int64
}

// HoldStatus is the life cycle of a hold.
type HoldStatus string

// Hold statuses.
const (
	HoldActive    HoldStatus = "active"
	HoldExpired   HoldStatus = "expired"
	HoldConverted HoldStatus = "converted"
)

// Hold is a short reservation of units of one product.
type Hold struct {
	ID             int64
	ProductID      int64
	Qty            int64
	Status         HoldStatus
	ExpiresAt      time.Time
	CreatedAt      time.Time
	IdempotencyKey string // empty when the client sent none
	RequestHash    string // hash of the request the key was first used with
}

// StatusAt is the hold's status as seen at now: a hold past its expiry is
// expired even before its release is written.
func (h Hold) StatusAt(now time.Time) HoldStatus {
	if h.Status == HoldActive && !now.Before(h.ExpiresAt) {
		return HoldExpired
	}
	return h.Status
}

// AsCreated is the hold as the request that created it was answered, which
// a repeat of that request is answered again.
func (h Hold) AsCreated() Hold {
	h.Status = HoldActive
	return h
}

// HoldRequestHash identifies the payload of a hold request, so that a
// retried Idempotency-Key can be told apart from a reused one.
//
// Every hold computes one and keeps it in its row, and a sale sends the
// same few payloads over and over: the hashes of recent payloads are
// kept, so that a hot product's holds share one string instead of each
// paying for a SHA-256, its text and a string of its own.
func HoldRequestHash(productID, qty int64) string {
	slot := &holdHashes[uint64(productID*31+qty)%uint64(len(holdHashes))]
	if h := slot.Load(); h != nil && h.productID == productID && h.qty == qty {
		return h.hash
	}
	var buf [64]byte
	canonical := strconv.AppendInt(append(buf[:0], "hold:product_id="...), productID, 10)
	canonical = strconv.AppendInt(append(canonical, ";qty="...), qty, 10)
	h := &holdHash{productID: productID, qty: qty, hash: hashBytes(canonical)}
	slot.Store(h)
	return h.hash
}

// holdHash is a hold payload's hash, remembered by HoldRequestHash.
type holdHash struct {
	productID, qty int64
	hash           string
}

// holdHashes remembers the hashes of recent hold payloads, one per slot:
// a payload whose slot another took is hashed again.
var holdHashes [1024]atomic.Pointer[holdHash]

func hashOf(canonical string) string {
	return hashBytes([]byte(canonical))
}

// hashBytes is the SHA-256 of canonical in hex: one allocation, the
// string.
func hashBytes(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	var text [2 * sha256.Size]byte
	hex.Encode(text[:], sum[:])
	return string(text[:])
}

// OrderStatus is the life cycle of an order.
type OrderStatus string

// Order statuses. Only pending_payment and paid orders take stock.
const (
	OrderPendingPayment OrderStatus = "pending_payment"
	OrderPaid           OrderStatus = "paid"
	OrderCancelled      OrderStatus = "cancelled"
	// OrderRefundRequired is a payment that succeeded for an order whose
	// units were gone: the money must go back; no stock is taken.
	OrderRefundRequired OrderStatus = "refund_required"
)

// CancelReason says why an order was cancelled.
type CancelReason string

// Cancel reasons.
const (
	CancelledByWebhook       CancelReason = "webhook"
	CancelledByPaymentWindow CancelReason = "payment_window"
)

// Order is a hold turned into a purchase awaiting or past payment.
type Order struct {
	ID        int64
	HoldID    int64
	ProductID int64
	Qty       int64
	Amount    Money
	Status    OrderStatus
	// InitialStatus is the status the order was created with.
	InitialStatus  OrderStatus
	CancelReason   CancelReason
	ExpiresAt      time.Time // end of the payment window
	CreatedAt      time.Time
	IdempotencyKey string
	RequestHash    string
}

// StatusAt is the order's status as seen at now: an order still awaiting
// payment after its payment window is cancelled, written or not.
func (o Order) StatusAt(now time.Time) OrderStatus {
	if o.Status == OrderPendingPayment && !now.Before(o.ExpiresAt) {
		return OrderCancelled
	}
	return o.Status
}

// AsCreated is the order as the request that created it was answered.
func (o Order) AsCreated() Order {
	o.Status = o.InitialStatus
	return o
}

// HoldUsedError is ErrHoldUsed with the order the hold became.
type HoldUsedError struct{ OrderID int64 }

func (e *HoldUsedError) Error() string {
	return fmt.Sprintf("hold already used by order %d", e.OrderID)
}
func (e *HoldUsedError) Is(target error) bool { return target == ErrHoldUsed }

// OrderRequestHash identifies the payload of an order request.
func OrderRequestHash(holdID int64) string {
	return hashOf(fmt.Sprintf("order:hold_id=%d", holdID))
}

// PaymentStatus is what the payment provider reports.
type PaymentStatus string

// Payment statuses.
const (
	PaymentSuccess   PaymentStatus = "success"
	PaymentFailed    PaymentStatus = "failed"
	PaymentCancelled PaymentStatus = "cancelled"
)

// Payment is one webhook delivery, identified by its idempotency key.
type Payment struct {
	Key     string
	OrderID int64
	Status  PaymentStatus
	Hash    string // PaymentHash of the payload
	// Early is true while the order does not exist yet: the webhook came
	// before it and is applied when the order is created (the store keeps
	// it in state "pending").
	Early bool
	// Result is the order's status right after this payment was applied.
	Result    OrderStatus
	CreatedAt time.Time
}

// Answer is what the webhook recorded as p was answered.
func (p Payment) Answer() PaymentResult {
	return PaymentResult{OrderID: p.OrderID, Status: p.Result, Pending: p.Early}
}

// PaymentHash identifies a webhook's payload, so that a redelivery can be
// told apart from a key reused for another payload.
func PaymentHash(key string, orderID int64, status PaymentStatus) string {
	return hashOf(fmt.Sprintf("payment:key=%q;order_id=%d;status=%s", key, orderID, status))
}

// PaymentResult is the answer to a webhook.
type PaymentResult struct {
	OrderID int64
	Status  OrderStatus // the order's status after the webhook
	// Pending means the order does not exist yet: the payment is recorded
	// and will be applied when the order is created.
	Pending bool
}
