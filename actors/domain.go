package actors

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors of the domain. The store translates driver errors into
// these, and the HTTP layer maps each to one status in a single table.
var (
	ErrProductNotFound     = errors.New("product not found")
	ErrHoldNotFound        = errors.New("hold not found")
	ErrInsufficientStock   = errors.New("insufficient stock")
	ErrIdempotencyConflict = errors.New("idempotency key reused with a different payload")
	ErrStockBelowCommitted = errors.New("stock below the units already held or ordered")
	// ErrUnavailable means the request was not carried out and may be
	// retried: the database is unreachable, a commit failed or its outcome
	// is unknown, the request timed out, or the server is shutting down.
	ErrUnavailable = errors.New("service unavailable")
	// ErrVersionConflict is the FOR UPDATE backstop firing: another writer
	// changed the product since this actor last read it.
	ErrVersionConflict = errors.New("product version conflict")
)

// Money is an amount in cents. Money never passes through a float.
type Money int64

// maxMoney bounds prices so that qty × price cannot overflow int64.
const maxMoney = Money(1_000_000_000_00)

// ParseMoney reads a non-negative decimal amount with at most two places,
// such as "19.99", "5" or "0.5".
func ParseMoney(s string) (Money, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && (frac == "" || len(frac) > 2)) || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q is not an amount with at most two decimal places", s)
	}
	if len(whole) > 10 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	m := Money(w*100 + f)
	if m > maxMoney {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return m, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// String formats the amount with two decimal places: 4999 is "49.99".
func (m Money) String() string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	return fmt.Sprintf("%s%d.%02d", sign, m/100, m%100)
}

// Product is a product and its counters. Stock is the total; every unit is
// in exactly one of available, held, awaiting payment or paid.
type Product struct {
	ID              int64
	Name            string
	Price           Money
	Stock           int64
	Held            int64 // units in active holds
	AwaitingPayment int64 // units in orders awaiting payment
	Paid            int64 // units in paid orders
}

// Available is the stock not taken by holds or orders.
func (p Product) Available() int64 {
	return p.Stock - p.Held - p.AwaitingPayment - p.Paid
}

// Taken is the stock held or ordered.
func (p Product) Taken() int64 { return p.Held + p.AwaitingPayment + p.Paid }

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

// HoldRequestHash identifies the payload of a hold request, so that a
// retried Idempotency-Key can be told apart from a reused one.
func HoldRequestHash(productID, qty int64) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("hold:product_id=%d;qty=%d", productID, qty)))
	return hex.EncodeToString(sum[:])
}

// ProductState is what an actor loads before it handles any message.
type ProductState struct {
	Product     Product
	Version     int64
	ActiveHolds []Hold
}

// Batch is one group commit of a product's actor: everything it decided
// while the previous transaction was in flight.
type Batch struct {
	ProductID int64
	// Version is the version the actor last read or wrote; the commit
	// fails with ErrVersionConflict when the row has another, and bumps it.
	Version int64
	// Counters after the batch, written as they are.
	Stock, Held, AwaitingPayment, Paid int64
	NewHolds                           []Hold
	ExpiredHolds                       []int64
	At                                 time.Time
}

// Empty reports whether the batch changes nothing.
func (b *Batch) Empty() bool {
	return len(b.NewHolds) == 0 && len(b.ExpiredHolds) == 0
}

// UnixMilli converts stored milliseconds to a UTC time.
func UnixMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
