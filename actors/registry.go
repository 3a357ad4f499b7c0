package actors

import (
	"context"
	"errors"
	"flashsale"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Config tunes the product actors.
type Config struct {
	HoldTTL time.Duration // how long a hold keeps its units
	// PaymentTTL is the payment window: how long an order may await
	// payment before it is cancelled and its units released.
	PaymentTTL time.Duration
	// CommitTimeout bounds one batch transaction and one load.
	CommitTimeout time.Duration
	// KeyMemory is how long an actor keeps a committed idempotency key in
	// memory; it must outlast the longest request.
	KeyMemory time.Duration
	// ReloadBackoff is the pause between attempts to load a product the
	// database did not give.
	ReloadBackoff time.Duration
	// MaxBacklog is how many requests may wait in one product's mailbox;
	// more are refused at once with ErrOverloaded.
	MaxBacklog int64
	// PassivateAfter is how long a product's actor may sit idle, with no
	// hold or order to watch, before it stops to free its memory. The next
	// request loads it again. It is never shorter than KeyMemory.
	PassivateAfter time.Duration
	// Clock tells the time of holds, orders and their deadlines; nil is
	// the wall clock. Tests set their own to step through time.
	Clock func() time.Time
	// Metrics receive the actors' measurements; nil makes a set that is
	// registered nowhere.
	Metrics *Metrics
	// Writers is how many transactions commit batches at once; each
	// carries the batches of up to 256 products. One suits SQLite.
	Writers int
	// IDBlock is how many hold or order ids are reserved from the
	// database at once; a restart skips what is left of a block.
	IDBlock int64
}

// DefaultConfig is the configuration the server starts with.
func DefaultConfig() Config {
	return Config{
		HoldTTL:        2 * time.Minute,
		PaymentTTL:     15 * time.Minute,
		CommitTimeout:  5 * time.Second,
		KeyMemory:      time.Minute,
		ReloadBackoff:  500 * time.Millisecond,
		IDBlock:        1000,
		MaxBacklog:     10_000,
		Writers:        4,
		PassivateAfter: 2 * time.Minute,
	}
}

// Registry finds or spawns the actor of a product. It is the only way in
// to the actors; the HTTP layer sees it through an interface of its own,
// so that the actors can later be spread over a cluster.
type Registry struct {
	cfg      Config
	store    Store
	log      zerolog.Logger
	system   *actor.ActorSystem
	holdIDs  *Sequence
	orderIDs *Sequence
	writer   *writer

	products sync.Map // int64 → *productHandle, for products whose actor runs

	mu       sync.Mutex // guards loading, draining, spawned and removals from products
	loading  map[int64]*loadCall
	draining bool
	spawned  map[int64]int // incarnations of each product's actor, to name them
}

// productHandle is how requests reach one product's actor.
type productHandle struct {
	pid  *actor.PID
	snap atomic.Pointer[Snapshot]
	// waiting counts requests sent and not yet taken by the actor. With
	// stopped it makes passivation safe: a sender counts itself in, then
	// looks at stopped; the actor sets stopped, then looks at waiting.
	// One of the two always sees the other.
	waiting atomic.Int64
	stopped atomic.Bool
}

// loadCall is one product being loaded; later callers wait for it.
type loadCall struct {
	done chan struct{}
	h    *productHandle
	err  error
}

// NewRegistry starts an actor system whose own log goes through log.
func NewRegistry(cfg Config, store Store, log zerolog.Logger) *Registry {
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.MaxBacklog <= 0 {
		cfg.MaxBacklog = DefaultConfig().MaxBacklog
	}
	cfg.PassivateAfter = max(cfg.PassivateAfter, cfg.KeyMemory)
	actorLog := log.With().Str("component", "protoactor").Logger()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(zerolog.NewSlogHandler(actorLog))
	}))
	return &Registry{
		cfg:      cfg,
		store:    store,
		log:      log,
		system:   system,
		writer:   newWriter(store, cfg.CommitTimeout, cfg.Writers),
		holdIDs:  NewSequence(store, "hold", cfg.IDBlock),
		orderIDs: NewSequence(store, "order", cfg.IDBlock),
		loading:  map[int64]*loadCall{},
		spawned:  map[int64]int{},
	}
}

// Product returns a product with its committed counters.
func (r *Registry) Product(ctx context.Context, id int64) (flashsale.Product, error) {
	h, err := r.handle(ctx, id)
	if err != nil {
		return flashsale.Product{}, err
	}
	if s := h.snap.Load(); s.validAt(r.cfg.Clock()) {
		return s.Product, nil
	}
	reply := make(chan productReply, 1)
	if err := r.send(ctx, id, &query{envelope: r.envelope(), reply: reply}); err != nil {
		return flashsale.Product{}, err
	}
	res, err := await(ctx, reply)
	if err != nil {
		return flashsale.Product{}, err
	}
	return res.product, res.err
}

// PlaceHold reserves qty units of a product. With an idempotency key, a
// repeat of the same request returns the hold the first one made, and a
// different request under the same key fails with ErrIdempotencyConflict.
func (r *Registry) PlaceHold(ctx context.Context, productID, qty int64, key string) (hold flashsale.Hold, err error) {
	defer func() {
		if err != nil {
			r.cfg.Metrics.holdRejected(err)
		}
	}()
	hash := flashsale.HoldRequestHash(productID, qty)
	if key != "" {
		// Committed keys are found here; a repeat racing the first
		// request is caught by the actor, which remembers recent keys.
		h, err := r.store.HoldByKey(ctx, key)
		switch {
		case err == nil:
			return firstAnswer(h, hash)
		case !errors.Is(err, flashsale.ErrHoldNotFound):
			return flashsale.Hold{}, err
		}
	}
	ph, err := r.handle(ctx, productID)
	if err != nil {
		return flashsale.Hold{}, err
	}
	if s := ph.snap.Load(); key == "" && s.validAt(r.cfg.Clock()) && qty > s.Product.Available() {
		// Sold out as committed: refused without a wait in the mailbox.
		// Changes still in flight are not acknowledged yet, so this
		// answer is ordered before them.
		return flashsale.Hold{}, flashsale.ErrInsufficientStock
	}
	reply := make(chan holdReply, 1)
	if err := r.send(ctx, productID, &placeHold{envelope: r.envelope(), ctx: ctx, qty: qty, key: key, hash: hash, reply: reply}); err != nil {
		return flashsale.Hold{}, err
	}
	res, err := await(ctx, reply)
	if err != nil {
		return flashsale.Hold{}, err
	}
	return res.hold, res.err
}

// firstAnswer is the hold as it was first returned to a request with the
// same idempotency key and payload.
func firstAnswer(h flashsale.Hold, hash string) (flashsale.Hold, error) {
	if h.RequestHash != hash {
		return flashsale.Hold{}, flashsale.ErrIdempotencyConflict
	}
	h.Status = flashsale.HoldActive
	return h, nil
}

// CreateOrder turns an active hold into an order awaiting payment. A hold
// already used fails with a *HoldUsedError naming its order; one past its
// expiry with ErrHoldExpired. Webhooks that came for the new order's id
// before it existed are applied as it is created.
func (r *Registry) CreateOrder(ctx context.Context, holdID int64, key string) (flashsale.Order, error) {
	hash := flashsale.OrderRequestHash(holdID)
	if key != "" {
		o, err := r.store.OrderByKey(ctx, key)
		switch {
		case err == nil:
			if o.RequestHash != hash {
				return flashsale.Order{}, flashsale.ErrIdempotencyConflict
			}
			o.Status = o.InitialStatus
			return o, nil
		case !errors.Is(err, flashsale.ErrOrderNotFound):
			return flashsale.Order{}, err
		}
	}
	h, err := r.store.Hold(ctx, holdID)
	if err != nil {
		return flashsale.Order{}, err
	}
	switch h.Status {
	case flashsale.HoldConverted:
		o, err := r.store.OrderByHold(ctx, holdID)
		if err != nil {
			return flashsale.Order{}, err
		}
		if key != "" && o.IdempotencyKey == key && o.RequestHash == hash {
			// A retry of the request that made the order, which committed
			// between the key lookup above and the hold read.
			o.Status = o.InitialStatus
			return o, nil
		}
		return flashsale.Order{}, &flashsale.HoldUsedError{OrderID: o.ID}
	case flashsale.HoldExpired:
		return flashsale.Order{}, flashsale.ErrHoldExpired
	}
	reply := make(chan orderReply, 1)
	if err := r.send(ctx, h.ProductID, &createOrder{envelope: r.envelope(), ctx: ctx, holdID: holdID, key: key, hash: hash, reply: reply}); err != nil {
		return flashsale.Order{}, err
	}
	res, err := await(ctx, reply)
	if err != nil {
		return flashsale.Order{}, err
	}
	return res.order, res.err
}

// ApplyPayment takes a payment provider's webhook. A key already recorded
// gets the answer it got the first time, or ErrIdempotencyConflict when
// the payload differs. A webhook for an order that does not exist yet is
// recorded and answered as pending.
func (r *Registry) ApplyPayment(ctx context.Context, key string, orderID int64, status flashsale.PaymentStatus) (flashsale.PaymentResult, error) {
	pay := flashsale.Payment{Key: key, OrderID: orderID, Status: status, Hash: flashsale.PaymentHash(key, orderID, status),
		CreatedAt: r.cfg.Clock().UTC().Truncate(time.Millisecond)}
	prior, err := r.store.PaymentByKey(ctx, key)
	switch {
	case err == nil:
		r.cfg.Metrics.WebhooksDeduplicated.Inc()
		return priorAnswer(prior, pay.Hash)
	case !errors.Is(err, flashsale.ErrPaymentNotFound):
		return flashsale.PaymentResult{}, err
	}
	productID, recorded, err := r.store.RecordEarlyPayment(ctx, pay)
	if err != nil {
		return flashsale.PaymentResult{}, err
	}
	if productID == 0 {
		if recorded.Pending && recorded.Hash == pay.Hash {
			r.cfg.Metrics.WebhooksPending.Inc()
		}
		return priorAnswer(recorded, pay.Hash)
	}
	reply := make(chan paymentReply, 1)
	if err := r.send(ctx, productID, &applyPayment{envelope: r.envelope(), ctx: ctx, pay: pay, reply: reply}); err != nil {
		return flashsale.PaymentResult{}, err
	}
	res, err := await(ctx, reply)
	if err != nil {
		return flashsale.PaymentResult{}, err
	}
	if res.repeat {
		r.cfg.Metrics.WebhooksDeduplicated.Inc()
	}
	return res.result, res.err
}

// priorAnswer is the answer to a webhook whose key is already recorded.
func priorAnswer(p flashsale.Payment, hash string) (flashsale.PaymentResult, error) {
	if p.Hash != hash {
		return flashsale.PaymentResult{}, flashsale.ErrIdempotencyConflict
	}
	return flashsale.PaymentResult{OrderID: p.OrderID, Status: p.Result, Pending: p.Pending}, nil
}

// SetStock changes a product's total stock. It fails with
// ErrStockBelowCommitted when holds and orders take more than stock.
func (r *Registry) SetStock(ctx context.Context, productID, stock int64) (flashsale.Product, error) {
	reply := make(chan productReply, 1)
	if err := r.send(ctx, productID, &setStock{envelope: r.envelope(), ctx: ctx, stock: stock, reply: reply}); err != nil {
		return flashsale.Product{}, err
	}
	res, err := await(ctx, reply)
	if err != nil {
		return flashsale.Product{}, err
	}
	return res.product, res.err
}

// handle returns the running actor of a product, loading the product and
// spawning its actor on first use. Concurrent first uses share one load.
func (r *Registry) handle(ctx context.Context, id int64) (*productHandle, error) {
	if h, ok := r.products.Load(id); ok {
		return h.(*productHandle), nil
	}
	r.mu.Lock()
	if r.draining {
		r.mu.Unlock()
		return nil, fmt.Errorf("%w: shutting down", flashsale.ErrUnavailable)
	}
	if h, ok := r.products.Load(id); ok {
		r.mu.Unlock()
		return h.(*productHandle), nil
	}
	c, ok := r.loading[id]
	if !ok {
		c = &loadCall{done: make(chan struct{})}
		r.loading[id] = c
		go r.load(id, c)
	}
	r.mu.Unlock()
	if _, err := await(ctx, c.done); err != nil {
		return nil, err
	}
	return c.h, c.err
}

// load reads a product and spawns its actor with that state. It runs on a
// context of its own so that one caller giving up does not fail the others.
func (r *Registry) load(id int64, c *loadCall) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.CommitTimeout)
	defer cancel()
	st, err := r.store.LoadProduct(ctx, id)
	var h *productHandle
	if err == nil {
		h, err = r.spawn(st)
	}
	r.mu.Lock()
	delete(r.loading, id)
	if err == nil {
		r.products.Store(id, h)
	}
	r.mu.Unlock()
	c.h, c.err = h, err
	close(c.done)
}

func (r *Registry) spawn(st flashsale.ProductState) (*productHandle, error) {
	h := &productHandle{}
	id := st.Product.ID
	first := &st
	props := actor.PropsFromProducer(func() actor.Actor {
		a := newProductActor(id, r, h)
		// The first incarnation starts from the state just loaded; one
		// restarted by its supervisor loads afresh.
		a.loadNext, first = first, nil
		return a
	})
	// Readers may come before the actor has started.
	snap := &Snapshot{Product: st.Product}
	for _, hold := range st.ActiveHolds {
		snap.ValidUntil = earliest(snap.ValidUntil, hold.ExpiresAt)
	}
	for _, o := range st.PendingOrders {
		snap.ValidUntil = earliest(snap.ValidUntil, o.ExpiresAt)
	}
	h.snap.Store(snap)
	// A passivated actor may still be stopping under the product's name:
	// later incarnations get a number.
	r.mu.Lock()
	r.spawned[id]++
	name := fmt.Sprintf("product-%d", id)
	if n := r.spawned[id]; n > 1 {
		name = fmt.Sprintf("product-%d.%d", id, n)
	}
	r.mu.Unlock()
	pid, err := r.system.Root.SpawnNamed(props, name)
	if err != nil {
		return nil, fmt.Errorf("spawn actor of product %d: %w", id, err)
	}
	h.pid = pid
	return h, nil
}

// Drain stops taking new work, lets every product actor commit what it
// has, and stops the actor system. It returns when all have finished or
// ctx ends.
func (r *Registry) Drain(ctx context.Context) error {
	r.mu.Lock()
	again := r.draining
	r.draining = true
	r.mu.Unlock()
	if again {
		return nil // the first Drain stopped everything
	}
	var dones []chan struct{}
	r.products.Range(func(_, v any) bool {
		done := make(chan struct{})
		dones = append(dones, done)
		r.system.Root.Send(v.(*productHandle).pid, &drain{done: done})
		return true
	})
	defer r.system.Shutdown()
	for _, done := range dones {
		if _, err := await(ctx, done); err != nil {
			return fmt.Errorf("draining product actors: %w", err)
		}
	}
	r.writer.close()
	return nil
}

// envelope stamps a request with the time it enters the mailbox.
func (r *Registry) envelope() envelope { return envelope{sent: time.Now()} }

// send puts a request in its product actor's mailbox and counts it in
// the backlog until the actor takes it out. It refuses at once when the
// backlog is full, and finds the new actor when the old one passivated.
func (r *Registry) send(ctx context.Context, productID int64, msg any) error {
	for {
		h, err := r.handle(ctx, productID)
		if err != nil {
			return err
		}
		n := h.waiting.Add(1)
		if h.stopped.Load() {
			h.waiting.Add(-1)
			runtime.Gosched() // let the passivation finish or back out
			continue
		}
		if n > r.cfg.MaxBacklog {
			h.waiting.Add(-1)
			return flashsale.ErrOverloaded
		}
		r.cfg.Metrics.MailboxBacklog.Inc()
		r.system.Root.Send(h.pid, msg)
		return nil
	}
}

// passivate takes an idle product's actor out of the registry, unless a
// request is on its way to it. The actor stops itself when it may.
func (r *Registry) passivate(id int64, h *productHandle) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.draining {
		return false
	}
	h.stopped.Store(true)
	if h.waiting.Load() > 0 {
		h.stopped.Store(false)
		return false
	}
	r.products.CompareAndDelete(id, h)
	return true
}

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
