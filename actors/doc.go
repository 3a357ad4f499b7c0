// Package actors sells a product's stock through one Proto.Actor actor per
// product.
//
// # Parts
//
// Service is what callers use (the HTTP layer, the operator commands): it
// answers idempotent repeats of committed requests from the database,
// records webhooks that come before their order, and sends every change to
// its product's actor through a host, an interface of its own. Host runs
// the actors of this process: it loads a product and spawns its actor on
// first use, bounds the requests waiting for it, passivates it when idle and
// drains them all at shutdown; a cluster's host will run each product on the
// node that owns it, behind the same interface. productActor decides. The
// requests it takes (messages.go) share one interface: each knows how it is
// decided, answered with an error, and retried after a version conflict.
//
// # Ownership
//
// A product's actor alone owns that product's counters (held, awaiting
// payment, paid), its active holds, its orders awaiting payment, their
// deadlines and the one timer for them, its journal's sequence, and the
// idempotency keys it has recently seen. Every change to a product (a hold,
// an order, a payment, an expiry, a stock change) is a message in that
// actor's mailbox, so no two operations ever touch the same stock at once
// and the hot path takes no lock. Each change is journalled as an Event in
// the batch that writes it. The database row is the durable source of truth; the actor's memory
// is a cache of it that the actor alone may write through.
//
// # Group commit
//
// The actor decides each message against its in-memory state at once.
// Rejections (insufficient stock, a reused idempotency key) are answered
// immediately. Accepted changes are queued; while one transaction is in
// flight the actor keeps deciding and queueing, and when it commits the
// actor answers the callers of that batch and writes everything queued
// meanwhile in one transaction. A caller hears yes only after its change is
// committed.
//
// # The FOR UPDATE backstop
//
// Each batch transaction first reads the product row with SELECT ... FOR
// UPDATE (on SQLite, inside BEGIN IMMEDIATE) and compares its version with
// the version the actor holds. If another writer (a second server process,
// an operator command) changed the product, the batch is rolled back, the
// actor reloads its state from the database, and the batch's messages are
// decided again on the fresh state. A commit that fails for any other reason
// (the outcome may be unknown) answers its callers with ErrUnavailable and
// reloads before anything else is decided.
//
// # Reads
//
// After each commit the actor publishes an immutable Snapshot of the
// committed counters, which readers use without entering the mailbox. A
// snapshot is exact until its earliest hold expiry; after that the reader
// asks the actor, which releases what is due first.
//
// # Waiting for replies
//
// Callers wait on a reply channel carried in the message, bounded by the
// request's context, rather than on a Proto.Actor future (whose
// implementation has a data race under -race at this version).
package actors
