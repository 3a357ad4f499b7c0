package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"flashsale"
	"fmt"
	"slices"
	"strings"
)

// CommitBatches writes the batches of several products' actors in one
// transaction, so that many small batches share one commit. It works in
// two steps. First it locks the products' rows and every row the batches'
// writes depend on (the holds and orders they move, the webhooks they
// apply or must know of) and checks each batch against them: a product at
// another version than the batch's means another writer (a second
// process, an operator command) changed it, and the batch is refused with
// flashsale.ErrVersionConflict so that the actor reloads; so are counters
// beyond the stock, a hold no longer active, an order not in the status
// the batch moves it from, a webhook no longer pending; webhooks recorded
// early for an order the batch creates, and unknown to it, refuse it with
// a flashsale.EarlyPaymentsError; webhooks found recorded before under
// the keys of those it records are not written again, or refuse it with a
// flashsale.RecordedPaymentsError (see recordFresh). Then it writes the
// batches left, with one statement per kind of row for all of them, and
// commits. Each step is one round trip on MySQL (see commitPacked),
// whatever the group's size; unless locked is asked for, most groups are
// one round trip in all, their checks made by their writes (fence.go).
//
// A batch refused by its own checks is left out and reported; the rest
// commit together. Should a write be refused past the checks (a key
// written before, a CHECK constraint), which one batch alone may cause,
// the group is written again batch by batch, each in a savepoint. Any
// other failure fails them all.
//
// Two batches of one product may share a group, in the order the actor
// made them: the second is checked against the state the first leaves.
func (d *DB) CommitBatches(ctx context.Context, batches []*flashsale.Batch) []error {
	return d.CommitBatchesLocked(ctx, batches, nil)
}

// CommitBatchesLocked is CommitBatches, calling locked (when not nil) once
// the group's first step holds the locks of its products' rows, perhaps
// more than once if the group is tried again. A product's next batch may
// then begin its own transaction: its first step waits for this commit.
func (d *DB) CommitBatchesLocked(ctx context.Context, batches []*flashsale.Batch, locked func()) []error {
	g := &group{d: d, batches: batches, errs: make([]error, len(batches)), locked: locked}
	if len(batches) == 0 {
		return g.errs
	}
	var err error
	if d.writer != nil {
		err = d.commitPacked(ctx, g)
	} else {
		err = d.transact(ctx, func(tx *sql.Tx) error { return g.run(ctx, tx) })
	}
	if errors.Is(err, errWriteRefused) {
		if i, ok := g.alone(); ok {
			g.errs[i] = err
			return g.errs
		}
		return d.commitOneByOne(ctx, batches)
	}
	if err != nil {
		for i := range g.errs {
			g.errs[i] = err
		}
	}
	return g.errs
}

// errWriteRefused marks a write the checks let through but the database
// refused, as another writer's doing: the batch that made it is found by
// writing the group again batch by batch.
var errWriteRefused = errors.New("a write of the group was refused")

// writeRefused marks err, a failed write of a group, as the doing of one
// of its batches when it is a key written before or a CHECK constraint.
func writeRefused(err error) error {
	if isDuplicate(err) || isCheckViolation(err) {
		err = versionConflict(err)
	}
	if errors.Is(err, flashsale.ErrVersionConflict) {
		return fmt.Errorf("%w: %w", errWriteRefused, err)
	}
	return err
}

// group is one group commit: its batches, the rows its first step read
// under lock, and why each batch was refused.
type group struct {
	d       *DB
	batches []*flashsale.Batch
	errs    []error         // why each batch was refused; nil for the batches written
	locked  func()          // told when the first step holds the rows' locks; may be nil
	fence   map[int64]int64 // while committed in one packet (fence.go): the version each product's row must have

	// What the first step read, then changed by each batch accepted.
	versions map[int64]int64
	holds    map[int64]lockedHold
	orders   map[int64]flashsale.OrderStatus
	payments map[string]flashsale.Payment // by key; Early while pending
	stale    []string                     // early webhooks the accepted batches drop
	again    map[string]bool              // keys of webhooks the accepted batches found recorded: not written
}

// run commits the group in a transaction, one statement at a time.
func (g *group) run(ctx context.Context, tx *sql.Tx) error {
	if err := queryEach(ctx, tx, g.reads()); err != nil {
		return err
	}
	g.tellLocked()
	if !g.check() {
		return nil
	}
	if err := execAll(ctx, tx, g.writes()); err != nil {
		return writeRefused(err)
	}
	return nil
}

// tellLocked says that the first step holds the rows' locks.
func (g *group) tellLocked() {
	if g.locked != nil {
		g.locked()
	}
}

// reads is the first step: it locks the products' rows, in id order, and
// the rows the checks need. It readies the group for a new attempt.
func (g *group) reads() []read {
	g.reset()
	var (
		products, holds, orders, newOrders []int64
		early, fresh                       []string
	)
	for _, b := range g.batches {
		products = append(products, b.ProductID)
		holds = append(append(holds, b.ExpiredHolds...), b.ConvertedHolds...)
		for _, c := range b.OrderChanges {
			orders = append(orders, c.OrderID)
		}
		for _, o := range b.NewOrders {
			newOrders = append(newOrders, o.ID)
		}
		for _, p := range b.Payments {
			if p.Early {
				early = append(early, p.Key)
			} else {
				fresh = append(fresh, p.Key)
			}
		}
	}
	for _, ids := range [][]int64{products, holds, orders, newOrders} {
		slices.Sort(ids)
	}
	slices.Sort(early)
	slices.Sort(fresh)
	rs := reads(inIDs("SELECT id, version FROM products WHERE id IN (", ") ORDER BY id"+g.d.forUpdate(), slices.Compact(products)),
		func(row scanner) error {
			var id, version int64
			if err := row.Scan(&id, &version); err != nil {
				return err
			}
			g.versions[id] = version
			return nil
		})
	rs = append(rs, g.d.lockHolds(slices.Compact(holds), g.holds)...)
	rs = append(rs, g.d.lockOrders(slices.Compact(orders), g.orders)...)
	return append(rs, g.d.lockPayments(slices.Compact(early), slices.Compact(fresh), newOrders, g.payments)...)
}

// reset readies the group for a new attempt.
func (g *group) reset() {
	clear(g.errs)
	g.versions, g.holds = map[int64]int64{}, map[int64]lockedHold{}
	g.orders, g.payments, g.stale, g.again = map[int64]flashsale.OrderStatus{}, map[string]flashsale.Payment{}, nil, nil
}

// check refuses the batches that do not fit the rows read, in order, each
// against the state the batches accepted before it leave. It reports
// whether any batch is left to write.
func (g *group) check() bool {
	early := map[int64][]flashsale.Payment{} // pending, by order
	for _, p := range g.payments {
		if p.Early {
			early[p.OrderID] = append(early[p.OrderID], p)
		}
	}
	left := false
	refused := map[int64]bool{} // products with a batch refused
	// One change, emptied for each batch: a group may have hundreds.
	c := change{group: g, holds: map[int64]lockedHold{}, orders: map[int64]flashsale.OrderStatus{}, claimed: map[string]bool{}}
	for i, b := range g.batches {
		clear(c.holds)
		clear(c.orders)
		clear(c.claimed)
		c.stale, c.again = c.stale[:0], nil
		b.Recorded = nil
		if refused[b.ProductID] {
			g.errs[i] = followsRefused(b.ProductID)
		} else {
			g.errs[i] = c.check(b, early)
		}
		if g.errs[i] != nil {
			refused[b.ProductID] = true
			continue
		}
		g.versions[b.ProductID] = b.Written()
		for id, h := range c.holds {
			g.holds[id] = h
		}
		for id, s := range c.orders {
			g.orders[id] = s
		}
		for key := range c.claimed {
			p := g.payments[key]
			p.Early = false
			g.payments[key] = p
		}
		g.stale = append(g.stale, c.stale...)
		for _, p := range c.again {
			if g.again == nil {
				g.again = map[string]bool{}
			}
			g.again[p.Key] = true
		}
		b.Recorded = c.again
		left = true
	}
	return left
}

// change is what one batch would change of the rows read, kept apart
// until the batch is accepted.
type change struct {
	*group
	holds   map[int64]lockedHold
	orders  map[int64]flashsale.OrderStatus
	claimed map[string]bool // early webhooks applied
	stale   []string
	again   []flashsale.Payment // found recorded under the keys of webhooks the batch records
}

func (c *change) check(b *flashsale.Batch, early map[int64][]flashsale.Payment) error {
	version, found := c.versions[b.ProductID]
	switch {
	case !found:
		return flashsale.ErrProductNotFound
	case version != b.Version:
		return otherVersion(b.ProductID, version, b.Version)
	}
	if err := checkCounters(b); err != nil {
		return err
	}
	if err := c.moveHolds(b); err != nil {
		return err
	}
	if err := c.createOrders(b, early); err != nil {
		return err
	}
	if err := c.moveOrders(b); err != nil {
		return err
	}
	if err := c.applyEarly(b); err != nil {
		return err
	}
	return c.recordFresh(b)
}

func checkCounters(b *flashsale.Batch) error {
	if b.Held < 0 || b.AwaitingPayment < 0 || b.Paid < 0 || b.Held+b.AwaitingPayment+b.Paid > b.Stock {
		return fmt.Errorf("%w: counters %d+%d+%d exceed stock %d", flashsale.ErrVersionConflict,
			b.Held, b.AwaitingPayment, b.Paid, b.Stock)
	}
	return nil
}

// moveHolds checks that every hold the batch expires or converts is an
// active hold of its product, or one it creates.
func (c *change) moveHolds(b *flashsale.Batch) error {
	if len(b.ExpiredHolds) == 0 && len(b.ConvertedHolds) == 0 && len(c.batches) == 1 {
		// Nothing to check, and no later batch of the group to move the
		// holds it creates: a hot product's batch of new holds skips
		// entering each in a map.
		return nil
	}
	for _, h := range b.NewHolds {
		c.holds[h.ID] = lockedHold{productID: h.ProductID, status: h.Status}
	}
	gone := 0
	for _, move := range []struct {
		ids []int64
		to  flashsale.HoldStatus
	}{{b.ExpiredHolds, flashsale.HoldExpired}, {b.ConvertedHolds, flashsale.HoldConverted}} {
		for _, id := range move.ids {
			h, found := c.holds[id]
			if !found {
				h, found = c.group.holds[id]
			}
			if !found || h.productID != b.ProductID || h.status != flashsale.HoldActive {
				gone++
			}
			c.holds[id] = lockedHold{productID: h.productID, status: move.to}
		}
	}
	if gone > 0 {
		return fmt.Errorf("%w: %d of %d holds were no longer %s", flashsale.ErrVersionConflict,
			gone, len(b.ExpiredHolds)+len(b.ConvertedHolds), flashsale.HoldActive)
	}
	return nil
}

// createOrders checks the webhooks recorded early for the orders the
// batch creates. Every one of them recorded within the early webhook TTL
// before its order's creation must be in the batch, applied; one that is
// not means the actor did not know of it, and the batch is refused with
// the payments so that it can decide again. One older than that is
// dropped, unapplied, whether or not the cleaner came by: it cannot pay
// an order created so long after it.
func (c *change) createOrders(b *flashsale.Batch, early map[int64][]flashsale.Payment) error {
	if len(b.NewOrders) == 0 {
		return nil
	}
	applied := map[string]bool{}
	for _, p := range b.Payments {
		if p.Early {
			applied[p.Key] = true
		}
	}
	var unknown []flashsale.Payment
	for _, o := range b.NewOrders {
		c.orders[o.ID] = o.Status
		for _, p := range early[o.ID] {
			switch {
			case applied[p.Key], !c.payments[p.Key].Early: // applied here, or by a batch before
			case c.d.stale(p, o.CreatedAt):
				c.stale = append(c.stale, p.Key)
			default:
				unknown = append(unknown, p)
			}
		}
	}
	if len(unknown) > 0 {
		slices.SortFunc(unknown, func(a, b flashsale.Payment) int {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.Key, b.Key))
		})
		return &flashsale.EarlyPaymentsError{Payments: unknown}
	}
	return nil
}

// moveOrders checks that every order the batch changes is in the status
// the change moves it from.
func (c *change) moveOrders(b *flashsale.Batch) error {
	for _, ch := range b.OrderChanges {
		status, found := c.orders[ch.OrderID]
		if !found {
			status, found = c.group.orders[ch.OrderID]
		}
		if !found || status != ch.From {
			return fmt.Errorf("%w: order %d was not %s", flashsale.ErrVersionConflict, ch.OrderID, ch.From)
		}
		c.orders[ch.OrderID] = ch.To
	}
	return nil
}

// applyEarly checks that every webhook the batch applies early is still
// pending.
func (c *change) applyEarly(b *flashsale.Batch) error {
	for _, p := range b.Payments {
		if !p.Early {
			continue
		}
		if !c.payments[p.Key].Early || c.claimed[p.Key] {
			return fmt.Errorf("%w: payment %q was no longer pending", flashsale.ErrVersionConflict, p.Key)
		}
		c.claimed[p.Key] = true
	}
	return nil
}

// recordFresh checks the webhooks the batch records for the first time
// against those found recorded under their keys. The actor forgets keys
// after a while, so a provider's late redelivery reaches it as new, as
// does a key reused for another payload. Found for an order the batch
// leaves as it is, such a delivery changed nothing: it is not written
// again, and its caller hears the first one's answer (Batch.Recorded).
// Found for an order the batch changes, the change rests on it, and the
// batch is refused with the payments, so that the actor learns them and
// decides again.
//
// The keys are read without a lock: a key recorded by another transaction
// after the read makes this one's insert fail, and the group is written
// again batch by batch, each reading what that one committed.
func (c *change) recordFresh(b *flashsale.Batch) error {
	var (
		found   []flashsale.Payment
		changed map[int64]bool // orders the batch creates or changes
		refused bool
	)
	for _, p := range b.Payments {
		first, ok := c.payments[p.Key]
		if !ok || p.Early {
			continue
		}
		if changed == nil {
			changed = map[int64]bool{}
			for _, o := range b.NewOrders {
				changed[o.ID] = true
			}
			for _, ch := range b.OrderChanges {
				changed[ch.OrderID] = true
			}
		}
		found = append(found, first)
		refused = refused || changed[p.OrderID]
	}
	if refused {
		return &flashsale.RecordedPaymentsError{Payments: found}
	}
	c.again = found
	return nil
}

// accepted are the batches the checks let through.
func (g *group) accepted() []*flashsale.Batch {
	var ok []*flashsale.Batch
	for i, b := range g.batches {
		if g.errs[i] == nil {
			ok = append(ok, b)
		}
	}
	return ok
}

// alone returns the one batch accepted, if only one was.
func (g *group) alone() (int, bool) {
	at, n := 0, 0
	for i, err := range g.errs {
		if err == nil {
			at, n = i, n+1
		}
	}
	return at, n == 1
}

// commitOneByOne writes a group batch by batch, each in a savepoint, so
// that a batch refused by any of its checks or writes is rolled back
// alone.
func (d *DB) commitOneByOne(ctx context.Context, batches []*flashsale.Batch) []error {
	errs := make([]error, len(batches))
	err := d.transact(ctx, func(tx *sql.Tx) error {
		clear(errs)
		refused := map[int64]bool{}
		for i, b := range batches {
			if refused[b.ProductID] {
				errs[i] = followsRefused(b.ProductID)
				continue
			}
			savepoint := fmt.Sprintf("batch_%d", i)
			if _, err := tx.ExecContext(ctx, "SAVEPOINT "+savepoint); err != nil {
				return err
			}
			g := &group{d: d, batches: batches[i : i+1], errs: errs[i : i+1]}
			err := g.run(ctx, tx)
			switch {
			case err == nil:
			case errors.Is(err, errWriteRefused):
				if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+savepoint); rerr != nil {
					return rerr
				}
				errs[i] = err
			default:
				return err
			}
			refused[b.ProductID] = errs[i] != nil
		}
		return nil
	})
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// followsRefused refuses a batch that follows a refused batch of its
// product: it was decided on top of it, and its version may match the
// row's only because another writer changed the row as often.
func followsRefused(productID int64) error {
	return fmt.Errorf("%w: a batch of product %d before this one was refused", flashsale.ErrVersionConflict, productID)
}

// otherVersion refuses a batch whose product row another writer changed.
func otherVersion(productID, version, want int64) error {
	return fmt.Errorf("%w: product %d is at version %d, the actor holds %d", flashsale.ErrVersionConflict, productID, version, want)
}
