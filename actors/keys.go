package actors

import (
	"cmp"
	"flashsale"
	"time"
)

// keyScope separates the idempotency keys of holds, orders and webhooks:
// the same string may be used by each.
type keyScope uint8

const (
	scopeHold keyScope = iota
	scopeOrder
	scopePayment
)

type keyID struct {
	scope keyScope
	key   string
}

// keyEntry remembers an idempotency key so that a repeat already in the
// mailbox when the first request commits gets the first answer. Holds and
// orders that find their key committed in the database never reach the
// actor; webhooks do, and their batch's commit finds the key (see
// learnRecorded).
type keyEntry struct {
	id          keyID
	hash        string
	answer      any    // flashsale.Hold, flashsale.Order or PaymentResult: what the first request got
	p           *batch // the batch that writes it, until committed
	committedAt time.Time
}

// remember records the key of a decision written by batch p.
func (a *productActor) remember(id keyID, hash string, answer any, p *batch) {
	if id.key == "" {
		return
	}
	e := &keyEntry{id: id, hash: hash, answer: answer, p: p}
	put(&a.keys, id, e)
	p.ops = append(p.ops, op{commit: func() {
		if first, ok := p.write.RecordedBefore(id.key); ok && id.scope == scopePayment {
			// The commit found a webhook recorded under the key before:
			// the key's answer is that first delivery's.
			e.hash, e.answer = first.Hash, first.Answer()
		}
		e.p, e.committedAt = nil, a.now()
		a.keyQueue = append(a.keyQueue, e)
	}, done: func(error) {}})
}

// learnRecorded records the key of a webhook that a commit found recorded
// before, in place of what the refused batch would have written under it.
func (a *productActor) learnRecorded(pay flashsale.Payment) {
	id := keyID{scopePayment, pay.Key}
	delete(a.keys, id)
	a.rememberLoaded(id, pay.Hash, pay.Answer())
}

// rememberLoaded records the key of a committed row found on loading.
func (a *productActor) rememberLoaded(id keyID, hash string, answer any) {
	if id.key == "" {
		return
	}
	if _, ok := a.keys[id]; ok {
		return
	}
	e := &keyEntry{id: id, hash: hash, answer: answer, committedAt: a.now()}
	put(&a.keys, id, e)
	a.keyQueue = append(a.keyQueue, e)
}

// repeat answers a request whose key this actor knows, by firstAnswer's
// rule, once the first request's batch has committed. It reports false
// when the key is unknown.
func (a *productActor) repeat(id keyID, hash string, m request, reply func(first any, err error)) bool {
	if id.key == "" {
		return false
	}
	e, ok := a.keys[id]
	if !ok {
		return false
	}
	if e.p == nil {
		reply(firstAnswer(e.hash, hash, e.answer))
		return true
	}
	// Compared once the first is committed: what is committed under the
	// key may be another's (see remember).
	e.p.ops = append(e.p.ops, op{msg: m, done: func(err error) {
		first, ferr := firstAnswer(e.hash, hash, e.answer)
		reply(first, cmp.Or(err, ferr))
	}})
	return true
}

// forgetKeys drops committed keys older than KeyMemory. By then every
// request that looked the key up in the database before it was committed
// has reached the actor; later ones find it in the database.
func (a *productActor) forgetKeys(now time.Time) {
	a.keyQueue = forgetOlder(a.keyQueue, now, a.cfg.KeyMemory,
		func(e *keyEntry) time.Time { return e.committedAt },
		func(e *keyEntry) {
			if a.keys[e.id] == e {
				delete(a.keys, e.id)
			}
		})
}

// forgetOlder calls forget for the entries at the front of queue, oldest
// first, whose time is more than keep before now, and returns the rest.
func forgetOlder[T any](queue []T, now time.Time, keep time.Duration, at func(T) time.Time, forget func(T)) []T {
	i := 0
	for ; i < len(queue) && now.Sub(at(queue[i])) > keep; i++ {
		forget(queue[i])
	}
	clear(queue[:i]) // the array would keep them until it is outgrown
	return queue[i:]
}
