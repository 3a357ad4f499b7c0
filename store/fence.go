package store

import (
	"context"
	"database/sql"
	"errors"
	"flashsale"
	"fmt"
	"strconv"
)

// On MySQL most group commits need not read before they write: each check
// of the first step (see CommitBatches) can be made by the write that
// depends on it, so that the group is one packet, one round trip. A fenced
// write sets a NOT NULL column to NULL where its row is not as the batches
// expect, which fails the statement, and with it the packet before its
// COMMIT, under the strict sql_mode the writer's connections always add
// (strictMode):
//
//   - the product's row: version = IF(version = expected, new, NULL);
//   - a hold the batch expires or converts: status = IF(status = 'active'
//     AND product_id = its product, new status, NULL);
//   - an order the batch changes: status = IF(status = from, to, NULL);
//   - the orders the batch creates: a webhook recorded early for one of
//     them, pending, is set to a NULL state; that UPDATE also locks their
//     range of payments, gaps included, as the first step's read does.
//
// A hold or order that is not there at all is changed by no write: so
// each statement that moves holds or orders is followed by one that fails
// unless it changed as many rows as it moves (rowsFence). A webhook key
// recorded before fails its insert. A product is never deleted, and the
// hold of one that is not there fails its foreign key.
//
// When a write fails so (errFenceFailed), the group is sent again in two
// steps, the first of which rolls back what the packet wrote before it
// failed; their reads tell which batch is refused and why, or which
// webhooks were recorded before. A group with a batch that applies a
// webhook recorded early (rare) goes in two steps from the start: that the
// webhook is still pending, not dropped by the cleaner, is a check of the
// first step's alone.

// fenceable reports whether the group's checks can all be made by its
// writes: none of its batches applies a webhook recorded early.
func (g *group) fenceable() bool {
	for _, b := range g.batches {
		for _, p := range b.Payments {
			if p.Early {
				return false
			}
		}
	}
	return true
}

// commitFenced commits the group in one packet, its rows taken to be as
// the batches expect and its writes fenced. It fails with errFenceFailed
// if a row is not, and then nothing of the group is written, nor the
// transaction ended.
func (g *group) commitFenced(ctx context.Context, conn *sql.Conn) error {
	g.assumeRead()
	defer func() { g.fence = nil }()
	if !g.check() {
		return nil // refused by checks of their own (counters): no transaction begun
	}
	if err := execPacked(ctx, conn, append([]stmt{{query: "START TRANSACTION"}}, g.writes()...)); err != nil {
		if fenceFailed(err) || isDuplicate(err) {
			return fmt.Errorf("%w: %w", errFenceFailed, err)
		}
		return writeRefused(err)
	}
	return nil
}

// errFenceFailed is a fenced write's failure, or a key's written before
// (a webhook's recorded earlier, which the first step's reads tell what
// to do with): the group goes again in two steps.
var errFenceFailed = errors.New("a row was not as the group expects")

// assumeRead readies the group for check as if the first step had read
// every row as the batches expect it: each product at the version of its
// first batch in the group, each hold moved active and of its batch's
// product, each order changed in the status its first change moves it
// from, no webhook recorded early for the orders created, none recorded
// under the keys of those recorded.
func (g *group) assumeRead() {
	g.reset()
	g.fence = map[int64]int64{}
	for _, b := range g.batches {
		if _, seen := g.fence[b.ProductID]; !seen {
			g.fence[b.ProductID] = b.Version
			g.versions[b.ProductID] = b.Version
		}
		for _, ids := range [][]int64{b.ExpiredHolds, b.ConvertedHolds} {
			for _, id := range ids {
				if _, seen := g.holds[id]; !seen {
					g.holds[id] = lockedHold{productID: b.ProductID, status: flashsale.HoldActive}
				}
			}
		}
		for _, c := range b.OrderChanges {
			if _, seen := g.orders[c.OrderID]; !seen {
				g.orders[c.OrderID] = c.From
			}
		}
	}
}

// versionFence writes the new version of a product whose row must be at
// version expect.
func versionFence(v *sqlValues, expect, new int64) {
	fenced(v, "version = "+strconv.FormatInt(expect, 10), strconv.FormatInt(new, 10))
}

// fenced writes IF(cond, value, NULL): value where cond holds, and where
// it does not, a NULL that fails the statement.
func fenced(v *sqlValues, cond, value string) {
	v.q.WriteString("IF(")
	v.q.WriteString(cond)
	v.q.WriteString(", ")
	v.q.WriteString(value)
	v.q.WriteString(", NULL)")
}

// quote quotes a status, a constant of plain characters.
func quote(s string) string {
	if !plain(s) {
		panic("store: a status of characters that need escaping: " + s)
	}
	return "'" + s + "'"
}

// pendingFence fails on a webhook recorded early, still pending, for one
// of the orders created: the actor did not know of it, and the first
// step's read tells it which.
func pendingFence(orders []flashsale.Order) []stmt {
	ids := make([]int64, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	return inIDs("UPDATE payments SET state = NULL WHERE state = 'pending' AND order_id IN (", ")", ids)
}

// fencedHoldMoves expires and converts the accepted batches' holds, each
// of which must be active and of its batch's product.
func fencedHoldMoves(ok []*flashsale.Batch) []stmt {
	type move struct {
		id, productID int64
		to            flashsale.HoldStatus
	}
	var moves []move
	for _, b := range ok {
		for _, id := range b.ExpiredHolds {
			moves = append(moves, move{id, b.ProductID, flashsale.HoldExpired})
		}
		for _, id := range b.ConvertedHolds {
			moves = append(moves, move{id, b.ProductID, flashsale.HoldConverted})
		}
	}
	var stmts []stmt
	for chunk := range chunks(moves, rowsPerInsert) {
		id := func(i int) int64 { return chunk[i].id }
		var v sqlValues
		v.q.WriteString("UPDATE holds SET status = ")
		v.cases(len(chunk), id, func(i int) {
			fenced(&v, "status = "+quote(string(flashsale.HoldActive))+" AND product_id = "+strconv.FormatInt(chunk[i].productID, 10),
				quote(string(chunk[i].to)))
		})
		v.whereIDs(len(chunk), id)
		stmts = append(stmts, v.stmt(), rowsFence(ok[0].ProductID, len(chunk)))
	}
	return stmts
}

// rowsFence fails unless the statement before it changed n rows: a hold
// or order it moves that is not there changes none (and one there always
// changes: its status). It sets the version of productID, one of the
// group's, whose row the packet has locked, to what it is.
func rowsFence(productID int64, n int) stmt {
	return stmt{query: "UPDATE products SET version = IF(ROW_COUNT() = " + strconv.Itoa(n) + ", version, NULL) WHERE id = " +
		strconv.FormatInt(productID, 10)}
}
