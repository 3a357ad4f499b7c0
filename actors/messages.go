package actors

import (
	"context"
	"flashsale"
	"fmt"
	"time"
)

// The messages of a product's actor.
//
// A request comes from a caller and carries the reply channel the caller
// waits on (buffered, so the actor never blocks on a caller that has gone)
// and, for writes, the caller's context: a write whose caller has gone by
// the time it is dequeued is dropped without being made. Adding a request
// is adding one type with these methods; the actor's Receive needs no edit.
type request interface {
	message
	// sentAt is when the request entered the mailbox.
	sentAt() time.Time
	// decide is the actor deciding the request against its state, the
	// first time or again after a version conflict.
	decide(a *productActor)
	// fail answers the caller with an error.
	fail(err error)
	// retry counts one more decision after a version conflict and
	// reports whether the request may have it.
	retry() bool
}

// message is anything a product's actor receives from this package.
type message interface {
	// kind names the message in the debug log.
	kind() string
}

// maxAttempts bounds how often one request is decided again after version
// conflicts before its caller hears ErrUnavailable.
const maxAttempts = 3

// envelope carries what every request has.
type envelope struct {
	sent     time.Time
	attempts int // how often a version conflict sent it round again
}

func newEnvelope() envelope { return envelope{sent: time.Now()} }

func (e *envelope) sentAt() time.Time { return e.sent }

func (e *envelope) retry() bool {
	e.attempts++
	return e.attempts < maxAttempts
}

// answer is what a caller waits for: a value or an error.
type answer[T any] struct {
	value T
	err   error
}

// replyTo carries a request's reply channel.
type replyTo[T any] struct{ reply chan answer[T] }

func newReply[T any]() replyTo[T] { return replyTo[T]{reply: make(chan answer[T], 1)} }

func (r replyTo[T]) answer(v T, err error) { r.reply <- answer[T]{value: v, err: err} }
func (r replyTo[T]) fail(err error)        { r.reply <- answer[T]{err: err} }

// await waits for a reply or for the caller's context to end.
func await[T any](ctx context.Context, ch <-chan T) (T, error) {
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("%w: %v", flashsale.ErrUnavailable, ctx.Err())
	}
}

type placeHold struct {
	envelope
	replyTo[flashsale.Hold]
	ctx  context.Context
	qty  int64
	key  string // Idempotency-Key, or empty
	hash string // flashsale.HoldRequestHash of the request
}

func (*placeHold) kind() string             { return "place_hold" }
func (m *placeHold) decide(a *productActor) { a.placeHold(m) }

type createOrder struct {
	envelope
	replyTo[flashsale.Order]
	ctx     context.Context
	holdID  int64
	key     string
	hash    string
	orderID int64 // set when first decided, kept when decided again
}

func (*createOrder) kind() string             { return "create_order" }
func (m *createOrder) decide(a *productActor) { a.createOrder(m) }

type applyPayment struct {
	envelope
	replyTo[paymentAnswer]
	ctx context.Context
	pay flashsale.Payment
}

// paymentAnswer is the answer to a webhook, and whether it repeats the
// answer of an earlier delivery of the same key.
type paymentAnswer struct {
	result flashsale.PaymentResult
	repeat bool
}

func (*applyPayment) kind() string             { return "apply_payment" }
func (m *applyPayment) decide(a *productActor) { a.applyPayment(m) }

type setStock struct {
	envelope
	replyTo[flashsale.Product]
	ctx   context.Context
	stock int64
}

func (*setStock) kind() string             { return "set_stock" }
func (m *setStock) decide(a *productActor) { a.setStock(m) }

// query asks for the product's counters as of now; readers send it only
// when their snapshot has reached its earliest hold expiry. It changes
// nothing, so a version conflict never sends it round again.
type query struct {
	envelope
	replyTo[flashsale.Product]
}

func (*query) kind() string { return "query" }
func (m *query) decide(a *productActor) {
	if a.moved || !a.owns() {
		// Its snapshot may be stale: the owner answers.
		m.fail(errNotOwner)
		a.leave()
		return
	}
	a.expireDue(a.now())
	m.answer(a.visible, nil)
}
func (*query) retry() bool { return false }

// drain asks the actor to commit what it has, refuse new writes and stop:
// at shutdown, or because its product moved to another node (moved), when
// it answers what still reaches it with errNotOwner.
type drain struct {
	done  chan struct{}
	moved bool
}

func (*drain) kind() string { return "drain" }

// idleTick asks an actor whether it may passivate; the host's sweep
// sends it (passivateIdle).
type idleTick struct{}

// Messages the actor sends itself.
type (
	expireTick struct{}
	reloadTick struct{}
	batchDone  struct {
		b   *batch
		err error
	}
)

func (expireTick) kind() string { return "expire_tick" }
func (idleTick) kind() string   { return "idle_tick" }
func (reloadTick) kind() string { return "reload_tick" }
func (batchDone) kind() string  { return "batch_done" }

// kindOf names any message the actor receives, Proto.Actor's own too.
func kindOf(msg any) string {
	if m, ok := msg.(message); ok {
		return m.kind()
	}
	return "system"
}

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
