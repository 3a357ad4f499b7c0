package actors

import (
	"context"
	"errors"
	"flashsale"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Service is what the HTTP layer and the operator commands call: reads,
// holds, orders, payments and stock changes of products. It answers
// repeated idempotency keys that are already committed from the database,
// records webhooks that arrive before their order, and takes every change
// to a product to that product's actor through a host.
type Service struct {
	cfg   Config
	store Store
	host  host
	local *Host // the host of this process's actors, drained at shutdown
	// cluster is this node's membership of a cluster, or nil.
	cluster *clusterHost
	// routes knows the product of recent holds and orders.
	routes *routes
}

// host reaches product actors. Host runs them in this process; a cluster
// runs each product's actor on the node that owns it, behind the same
// methods.
type host interface {
	// snapshot returns the product's last committed state, starting its
	// actor if it does not run.
	snapshot(ctx context.Context, productID int64) (*Snapshot, error)
	// send delivers a request to the product's actor, or refuses it
	// (ErrOverloaded, ErrUnavailable); the actor answers the request.
	send(ctx context.Context, productID int64, msg request) error
	// running returns the last committed state of a product whose actor
	// runs, without starting one.
	running(productID int64) (*Snapshot, bool)
}

// NewService starts the product actors' host in this process. Fields of cfg
// left zero take DefaultConfig's values.
func NewService(cfg Config, store Store, log zerolog.Logger) *Service {
	cfg = cfg.complete()
	h := newHost(cfg, store, log)
	h.start()
	return &Service{cfg: cfg, store: store, host: h, local: h, routes: new(routes)}
}

// Drain stops taking new work, lets every product actor commit what it
// has, and stops them. It returns when all have finished or ctx ends.
func (s *Service) Drain(ctx context.Context) error {
	err := s.local.Drain(ctx)
	if s.cluster != nil {
		s.cluster.shutdown()
	}
	return err
}

// ask sends a request to its product's actor through h and waits for its
// answer.
//
// In a cluster, an actor that finds its product moved to another node
// answers errNotOwner having decided nothing; the request goes again, to
// the owner by this node's latest view, a few times at most.
func ask[T any](ctx context.Context, h host, productID int64, msg request, r replyTo[T]) (T, error) {
	_, placed := h.(*clusterHost)
	for reroutes := 0; ; reroutes++ {
		if err := h.send(ctx, productID, msg); err != nil {
			var zero T
			return zero, err
		}
		a, err := await(ctx, r.reply)
		if err != nil {
			return a.value, err
		}
		if placed && errors.Is(a.err, errNotOwner) {
			if reroutes < maxReroutes {
				continue
			}
			a.err = noSettledOwner(productID)
		}
		return a.value, a.err
	}
}

// firstAnswer is the rule of idempotency keys, wherever a used key is
// found (committed in the database, or in an actor's memory): the request
// that used it first, repeated, gets the first answer; another request
// under the same key gets ErrIdempotencyConflict.
func firstAnswer[T any](firstHash, hash string, first T) (T, error) {
	if firstHash != hash {
		var zero T
		return zero, flashsale.ErrIdempotencyConflict
	}
	return first, nil
}

// committed finds a request's idempotency key among committed requests
// with lookup, and answers by firstAnswer's rule; first gives the hash
// and the answer of the request that used the key first. Committed keys
// are found here; a repeat racing the first request is caught by the
// actor, which remembers recent keys.
func committed[R, T any](ctx context.Context, key, hash string, lookup func(context.Context, string) (R, error), notFound error,
	first func(R) (string, T)) (answer T, found bool, err error) {
	if key == "" {
		return answer, false, nil
	}
	r, err := lookup(ctx, key)
	switch {
	case errors.Is(err, notFound):
		return answer, false, nil
	case err != nil:
		return answer, false, err
	}
	firstHash, firstAns := first(r)
	answer, err = firstAnswer(firstHash, hash, firstAns)
	return answer, true, err
}

// Product returns a product with its committed counters.
func (s *Service) Product(ctx context.Context, id int64) (flashsale.Product, error) {
	snap, err := s.host.snapshot(ctx, id)
	if err != nil {
		return flashsale.Product{}, err
	}
	if snap.validAt(s.cfg.Clock()) {
		return snap.Product, nil
	}
	m := &query{envelope: newEnvelope(), replyTo: newReply[flashsale.Product]()}
	return ask(ctx, s.host, id, m, m.replyTo)
}

// PlaceHold reserves qty units of a product. With an idempotency key, a
// repeat of the same request returns the hold the first one made, and a
// different request under the same key fails with ErrIdempotencyConflict.
func (s *Service) PlaceHold(ctx context.Context, productID, qty int64, key string) (hold flashsale.Hold, err error) {
	defer func() {
		if err != nil {
			s.cfg.Metrics.holdRejected(err)
		}
	}()
	hash := flashsale.HoldRequestHash(productID, qty)
	if h, found, err := committed(ctx, key, hash, s.store.HoldByKey, flashsale.ErrHoldNotFound,
		func(h flashsale.Hold) (string, flashsale.Hold) { return h.RequestHash, h.AsCreated() }); found || err != nil {
		return h, err
	}
	if soldOut(s.host, s.cfg.Clock(), productID, qty, key) {
		return flashsale.Hold{}, flashsale.ErrInsufficientStock
	}
	m := &placeHold{envelope: newEnvelope(), replyTo: newReply[flashsale.Hold](), ctx: ctx, qty: qty, key: key, hash: hash}
	hold, err = ask(ctx, s.host, productID, m, m.replyTo)
	if err == nil {
		s.routes.holds.put(hold.ID, productID)
	}
	return hold, err
}

// soldOut reports whether a hold of qty is refused by the committed
// snapshot of a product whose actor runs on h, so that it is answered
// without a wait in the mailbox. Changes still in flight are not
// acknowledged yet, so this answer is ordered before them. A product whose
// actor does not run here goes to it (in a cluster, asking the owner for a
// snapshot first would cost a hop), and so does a request with a key,
// which may repeat a hold that was made.
func soldOut(h host, now time.Time, productID, qty int64, key string) bool {
	snap, ok := h.running(productID)
	return ok && key == "" && snap.validAt(now) && qty > snap.Product.Available()
}

// CreateOrder turns an active hold into an order awaiting payment. A hold
// already used fails with a *HoldUsedError naming its order; one past its
// expiry with ErrHoldExpired. Webhooks that came for the new order's id
// before it existed are applied as it is created.
func (s *Service) CreateOrder(ctx context.Context, holdID int64, key string) (flashsale.Order, error) {
	hash := flashsale.OrderRequestHash(holdID)
	if o, found, err := committed(ctx, key, hash, s.store.OrderByKey, flashsale.ErrOrderNotFound,
		func(o flashsale.Order) (string, flashsale.Order) { return o.RequestHash, o.AsCreated() }); found || err != nil {
		return o, err
	}
	if productID, ok := s.routes.holds.product(holdID); ok {
		// The actor has every active hold of its product. A hold it does
		// not have may have become an order long ago, which only the
		// database still tells apart from an expired one.
		o, err := s.createOrder(ctx, productID, holdID, key, hash)
		if !errors.Is(err, flashsale.ErrHoldExpired) {
			return o, err
		}
	}
	h, err := s.store.Hold(ctx, holdID)
	if err != nil {
		return flashsale.Order{}, err
	}
	switch h.Status {
	case flashsale.HoldConverted:
		o, err := s.store.OrderByHold(ctx, holdID)
		if err != nil {
			return flashsale.Order{}, err
		}
		if key != "" && o.IdempotencyKey == key && o.RequestHash == hash {
			// A retry of the request that made the order, which committed
			// between the key lookup above and the hold read.
			return o.AsCreated(), nil
		}
		return flashsale.Order{}, &flashsale.HoldUsedError{OrderID: o.ID}
	case flashsale.HoldExpired:
		return flashsale.Order{}, flashsale.ErrHoldExpired
	}
	return s.createOrder(ctx, h.ProductID, holdID, key, hash)
}

// createOrder asks the hold's product's actor for the order.
func (s *Service) createOrder(ctx context.Context, productID, holdID int64, key, hash string) (flashsale.Order, error) {
	m := &createOrder{envelope: newEnvelope(), replyTo: newReply[flashsale.Order](), ctx: ctx, holdID: holdID, key: key, hash: hash}
	o, err := ask(ctx, s.host, productID, m, m.replyTo)
	if err == nil {
		s.routes.orders.put(o.ID, productID)
	}
	return o, err
}

// ApplyPayment takes a payment provider's webhook. A key already recorded
// gets the answer it got the first time, or ErrIdempotencyConflict when
// the payload differs. A webhook for an order that does not exist yet is
// recorded and answered as pending.
func (s *Service) ApplyPayment(ctx context.Context, key string, orderID int64, status flashsale.PaymentStatus) (flashsale.PaymentResult, error) {
	pay := flashsale.Payment{Key: key, OrderID: orderID, Status: status, Hash: flashsale.PaymentHash(key, orderID, status),
		CreatedAt: s.cfg.Clock().UTC().Truncate(time.Millisecond)}
	// Not looked up by key first, as holds and orders are: the actor
	// remembers recent keys, and the commit finds the others with the
	// rows it reads anyway, a round trip less for every webhook.
	productID, err := s.orderProduct(ctx, orderID)
	if err != nil {
		return flashsale.PaymentResult{}, err
	}
	if productID == 0 {
		var recorded flashsale.Payment
		productID, recorded, err = s.store.RecordEarlyPayment(ctx, pay)
		if err != nil {
			return flashsale.PaymentResult{}, err
		}
		if productID == 0 {
			if recorded.Early && recorded.Hash == pay.Hash {
				s.cfg.Metrics.WebhooksPending.Inc()
			}
			return firstAnswer(recorded.Hash, pay.Hash, recorded.Answer())
		}
	}
	m := &applyPayment{envelope: newEnvelope(), replyTo: newReply[paymentAnswer](), ctx: ctx, pay: pay}
	res, err := ask(ctx, s.host, productID, m, m.replyTo)
	if res.repeat {
		s.cfg.Metrics.WebhooksDeduplicated.Inc()
	}
	return res.result, err
}

// orderProduct returns the product of a committed order, or 0 when the
// order does not exist (yet). An order's product never changes, so a plain
// read is enough; only a webhook that finds no order needs
// RecordEarlyPayment's transaction, which orders it against the order's
// creation.
func (s *Service) orderProduct(ctx context.Context, orderID int64) (int64, error) {
	if productID, ok := s.routes.orders.product(orderID); ok {
		return productID, nil
	}
	o, err := s.store.Order(ctx, orderID)
	switch {
	case errors.Is(err, flashsale.ErrOrderNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	}
	s.routes.orders.put(orderID, o.ProductID)
	return o.ProductID, nil
}

// SetStock changes a product's total stock. It fails with
// ErrStockBelowCommitted when holds and orders take more than stock.
func (s *Service) SetStock(ctx context.Context, productID, stock int64) (flashsale.Product, error) {
	m := &setStock{envelope: newEnvelope(), replyTo: newReply[flashsale.Product](), ctx: ctx, stock: stock}
	return ask(ctx, s.host, productID, m, m.replyTo)
}

// complete fills in what a Config left zero.
func (c Config) complete() Config {
	d := DefaultConfig()
	if c.Metrics == nil {
		c.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.MaxBacklog <= 0 {
		c.MaxBacklog = d.MaxBacklog
	}
	if c.Pipeline <= 0 {
		c.Pipeline = d.Pipeline
	}
	if c.Writers <= 0 {
		c.Writers = c.Pipeline
	}
	c.PassivateAfter = max(c.PassivateAfter, c.KeyMemory)
	return c
}
