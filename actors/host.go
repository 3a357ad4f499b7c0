package actors

import (
	"context"
	"flashsale"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
)

// Host runs product actors in this process: it starts a product's actor on
// first use (after loading the product), finds it for each request,
// bounds the requests waiting for it, takes it out when it passivates, and
// drains them all at shutdown. It knows nothing of holds, orders or
// idempotency: that is the Service's.
type Host struct {
	cfg      Config
	store    Store
	log      zerolog.Logger
	system   *actor.ActorSystem
	holdIDs  *Sequence
	orderIDs *Sequence
	writer   *writer
	versions *versionSource

	products sync.Map // int64 → *productHandle, for products whose actor runs

	// owns reports whether this node owns a product by its latest view of
	// the cluster; nil outside a cluster, where it owns every product.
	// view counts the views: an actor asks owns again only when it moved.
	owns func(productID int64) bool
	view atomic.Uint64

	mu        sync.Mutex // guards loading, toLoad, loaders, loadBegan, draining, spawned and removals from products
	loading   map[int64]*loadCall
	toLoad    []int64   // products to load, in the order first asked for
	loaders   int       // goroutines running loadPending
	loadBegan time.Time // when the latest load began to read
	draining  bool
	spawned   map[int64]int   // incarnations of each product's actor, to name them
	leaving   []chan struct{} // closed by actors stopping because their product moved
	stop      chan struct{}   // closed by Drain: the host's own loops end
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
	// active is when the last request the actor took was sent, in Unix
	// nanoseconds; the actor alone writes it. The host's sweep finds the
	// actors that may passivate by it (see passivateIdle).
	active atomic.Int64
}

// loadCall is one product being loaded; later callers wait for it.
type loadCall struct {
	done chan struct{}
	h    *productHandle
	err  error
}

// newHost starts an actor system whose own log goes through log. cfg is
// complete: NewService filled in what was left out.
func newHost(cfg Config, store Store, log zerolog.Logger) *Host {
	actorLog := log.With().Str("component", "protoactor").Logger()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(zerolog.NewSlogHandler(actorLog))
	}))
	return &Host{
		cfg:      cfg,
		store:    store,
		log:      log,
		system:   system,
		writer:   newWriter(store, cfg.CommitTimeout, cfg.Writers),
		versions: newVersionSource(),
		holdIDs:  NewSequence(store, "hold", cfg.IDBlock),
		orderIDs: NewSequence(store, "order", cfg.IDBlock),
		loading:  map[int64]*loadCall{},
		spawned:  map[int64]int{},
		stop:     make(chan struct{}),
	}
}

// start begins the host's own work, once whoever made it has set it up.
func (h *Host) start() {
	if h.cfg.WakeDue > 0 {
		go h.wakeDue(h.stop)
	}
	go h.passivateIdle(h.stop)
}

// passivateIdle asks, every quarter of PassivateAfter, each actor whose
// last request is older than that whether it may stop. One sweep of the
// host's map takes the place of a timer in each actor: with a hundred
// thousand products loaded, those timers were 12.6 MB of the heap.
func (h *Host) passivateIdle(stop <-chan struct{}) {
	tick := time.NewTicker(max(h.cfg.PassivateAfter/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			quiet := now.Add(-h.cfg.PassivateAfter).UnixNano()
			h.products.Range(func(_, v any) bool {
				if ph := v.(*productHandle); ph.active.Load() <= quiet {
					h.system.Root.Send(ph.pid, idleTick{})
				}
				return true
			})
		}
	}
}

// moved takes the actors of the products this node no longer owns out of
// the host: each commits what it has in flight, answers what reaches it
// later with errNotOwner (the caller goes to the new owner), and stops. A
// stale copy must not stay behind: if the product came back, readers
// would see its old snapshot.
func (h *Host) moved() int {
	if h.owns == nil {
		return 0
	}
	h.view.Add(1)
	n := 0
	h.products.Range(func(k, v any) bool {
		if id := k.(int64); !h.owns(id) && h.leave(id, v.(*productHandle)) {
			n++
		}
		return true
	})
	return n
}

// leave takes a product's actor out of the host and tells it that its
// product moved; false when it had already left.
func (h *Host) leave(id int64, ph *productHandle) bool {
	done := make(chan struct{})
	h.mu.Lock()
	if h.draining || !h.products.CompareAndDelete(id, ph) {
		h.mu.Unlock()
		return false
	}
	h.leaving = slices.DeleteFunc(h.leaving, isClosed)
	h.leaving = append(h.leaving, done)
	h.mu.Unlock()
	h.cfg.Metrics.OwnerMoves.Inc()
	h.system.Root.Send(ph.pid, &drain{done: done, moved: true})
	return true
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// snapshot returns the last committed state a product's actor published,
// starting the actor first if it does not run.
func (h *Host) snapshot(ctx context.Context, id int64) (*Snapshot, error) {
	ph, err := h.handle(ctx, id)
	if err != nil {
		return nil, err
	}
	return ph.snap.Load(), nil
}

// running returns the snapshot of a product whose actor runs, without
// starting one.
func (h *Host) running(id int64) (*Snapshot, bool) {
	v, ok := h.products.Load(id)
	if !ok {
		return nil, false
	}
	return v.(*productHandle).snap.Load(), true
}

// handle returns the running actor of a product, loading the product and
// spawning its actor on first use. Concurrent first uses share one load.
func (h *Host) handle(ctx context.Context, id int64) (*productHandle, error) {
	if ph, ok := h.products.Load(id); ok {
		return ph.(*productHandle), nil
	}
	h.mu.Lock()
	if h.draining {
		h.mu.Unlock()
		return nil, fmt.Errorf("%w: shutting down", flashsale.ErrUnavailable)
	}
	if ph, ok := h.products.Load(id); ok {
		h.mu.Unlock()
		return ph.(*productHandle), nil
	}
	c, ok := h.loading[id]
	if !ok {
		c = &loadCall{done: make(chan struct{})}
		h.loading[id] = c
		h.toLoad = append(h.toLoad, id)
		if h.loaders == 0 || h.loaders < maxLoaders && time.Since(h.loadBegan) > slowLoad {
			h.loaders++
			go h.loadPending()
		}
	}
	h.mu.Unlock()
	if _, err := await(ctx, c.done); err != nil {
		return nil, err
	}
	return c.h, c.err
}

// Loads of products whose actor does not run yet are gathered, each of up
// to maxLoad products, so that the first touch of thousands of products
// costs a few reads, not one transaction each. One load reads at a time,
// and what is asked for meanwhile waits for the next: with four at once,
// each took the one or two products asked for since the last, and the
// first touch of 10,000 products by 64 clients cost a round trip per
// product (spread on MariaDB: 4,800 and 6,200 holds/s with four, 6,200
// and 7,900 with one, in turns). Another starts, up to maxLoaders, when
// the latest has been reading for longer than slowLoad: a product with a
// great many holds to read delays the others by that much at most.
const (
	maxLoaders = 4
	maxLoad    = 256
	slowLoad   = 50 * time.Millisecond
)

// loadPending reads the products waiting to be loaded, many at a time, and
// spawns their actors, until none waits. It reads on a context of its own
// so that one caller giving up does not fail the others.
func (h *Host) loadPending() {
	for {
		h.mu.Lock()
		n := min(len(h.toLoad), maxLoad)
		if n == 0 {
			h.loaders--
			h.mu.Unlock()
			return
		}
		ids := slices.Clone(h.toLoad[:n])
		h.toLoad = h.toLoad[n:]
		h.loadBegan = time.Now()
		h.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.CommitTimeout)
		states, err := h.store.LoadProducts(ctx, ids)
		cancel()
		for _, id := range ids {
			var ph *productHandle
			loadErr := err
			if loadErr == nil {
				if st, ok := states[id]; ok {
					ph, loadErr = h.spawn(st)
				} else {
					loadErr = flashsale.ErrProductNotFound
				}
			}
			h.mu.Lock()
			c := h.loading[id]
			delete(h.loading, id)
			if loadErr == nil {
				h.products.Store(id, ph)
			}
			h.mu.Unlock()
			c.h, c.err = ph, loadErr
			close(c.done)
		}
	}
}

// mailbox is the product actors': Proto.Actor's lock-free queue, a node
// per message, where the default keeps a ring of ten slots for every
// actor from its start (about 20 MB of the live heap with 100,000
// products loaded).
var mailbox = actor.UnboundedLockfree()

func (h *Host) spawn(st flashsale.ProductState) (*productHandle, error) {
	ph := &productHandle{}
	ph.active.Store(time.Now().UnixNano())
	id := st.Product.ID
	first := &st
	props := actor.PropsFromProducer(func() actor.Actor {
		a := newProductActor(id, h, ph)
		// The first incarnation starts from the state just loaded; one
		// restarted by its supervisor loads afresh.
		a.loadNext, first = first, nil
		return a
	}, actor.WithMailbox(mailbox))
	// Readers may come before the actor has started.
	snap := &Snapshot{Product: st.Product}
	for _, hold := range st.ActiveHolds {
		snap.ValidUntil = earliest(snap.ValidUntil, hold.ExpiresAt)
	}
	for _, o := range st.UnpaidOrders {
		snap.ValidUntil = earliest(snap.ValidUntil, o.ExpiresAt)
	}
	ph.snap.Store(snap)
	// A passivated actor may still be stopping under the product's name:
	// later incarnations get a number.
	h.mu.Lock()
	h.spawned[id]++
	name := fmt.Sprintf("product-%d", id)
	if n := h.spawned[id]; n > 1 {
		name = fmt.Sprintf("product-%d.%d", id, n)
	}
	h.mu.Unlock()
	pid, err := h.system.Root.SpawnNamed(props, name)
	if err != nil {
		return nil, fmt.Errorf("spawn actor of product %d: %w", id, err)
	}
	ph.pid = pid
	return ph, nil
}

// send puts a request in its product actor's mailbox and counts it in
// the backlog until the actor takes it out. It refuses at once when the
// backlog is full, and finds the new actor when the old one passivated.
func (h *Host) send(ctx context.Context, productID int64, msg request) error {
	for {
		ph, err := h.handle(ctx, productID)
		if err != nil {
			return err
		}
		n := ph.waiting.Add(1)
		if ph.stopped.Load() {
			ph.waiting.Add(-1)
			runtime.Gosched() // let the passivation finish or back out
			continue
		}
		if n > h.cfg.MaxBacklog {
			ph.waiting.Add(-1)
			return flashsale.ErrOverloaded
		}
		h.cfg.Metrics.MailboxBacklog.Inc()
		h.system.Root.Send(ph.pid, msg)
		return nil
	}
}

// passivate takes an idle product's actor out of the host, unless a
// request is on its way to it. The actor stops itself when it may.
func (h *Host) passivate(id int64, ph *productHandle) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining {
		return false
	}
	ph.stopped.Store(true)
	if ph.waiting.Load() > 0 {
		ph.stopped.Store(false)
		return false
	}
	h.products.CompareAndDelete(id, ph)
	return true
}

// Drain stops taking new work, lets every product actor commit what it
// has, and stops the actor system. It returns when all have finished or
// ctx ends; a second call returns at once.
func (h *Host) Drain(ctx context.Context) error {
	h.mu.Lock()
	again := h.draining
	h.draining = true
	h.mu.Unlock()
	if again {
		return nil // the first Drain stopped everything
	}
	close(h.stop)
	h.mu.Lock()
	dones := slices.Clone(h.leaving) // their in-flight batches too
	h.mu.Unlock()
	h.products.Range(func(_, v any) bool {
		done := make(chan struct{})
		dones = append(dones, done)
		h.system.Root.Send(v.(*productHandle).pid, &drain{done: done})
		return true
	})
	defer h.system.Shutdown()
	for _, done := range dones {
		if _, err := await(ctx, done); err != nil {
			return fmt.Errorf("draining product actors: %w", err)
		}
	}
	h.writer.close()
	return nil
}

// versionSource hands out the versions batches write. Each is new: a
// random start per process, counted up. So a batch that expects the
// version the batch before it writes can match only if that batch
// committed: another writer of the product (a second process, an operator
// command, a stale owner) never writes the same number, as it would if
// versions only counted up from the row's.
type versionSource struct{ next atomic.Int64 }

func newVersionSource() *versionSource {
	v := &versionSource{}
	v.next.Store(rand.Int64N(1<<62) + 1)
	return v
}

// new is the version a batch writes.
func (v *versionSource) new() int64 { return v.next.Add(1) }
