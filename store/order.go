package store

import (
	"context"
	"database/sql"
	"flashsale"
)

const (
	orderColumns = "id, hold_id, product_id, qty, amount_cents, status, initial_status, cancel_reason, " +
		"expires_at, created_at, idempotency_key, request_hash"
	selectOrders = "SELECT " + orderColumns + " FROM orders "
)

// Order reads one order.
func (d *DB) Order(ctx context.Context, id int64) (flashsale.Order, error) {
	return queryOne(ctx, d.db, scanOrder, flashsale.ErrOrderNotFound, selectOrders+"WHERE id = ?", id)
}

// OrderByKey finds the order first created with an Idempotency-Key.
func (d *DB) OrderByKey(ctx context.Context, key string) (flashsale.Order, error) {
	return queryOne(ctx, d.db, scanOrder, flashsale.ErrOrderNotFound,
		selectOrders+"WHERE idempotency_key = ? ORDER BY id LIMIT 1", key)
}

// OrderByHold finds the order a hold became.
func (d *DB) OrderByHold(ctx context.Context, holdID int64) (flashsale.Order, error) {
	return queryOne(ctx, d.db, scanOrder, flashsale.ErrOrderNotFound, selectOrders+"WHERE hold_id = ?", holdID)
}

func scanOrder(row scanner) (flashsale.Order, error) {
	var (
		o                        flashsale.Order
		amount, expires, created int64
		status, initial          string
		reason, key, requestHash sql.NullString
	)
	if err := row.Scan(&o.ID, &o.HoldID, &o.ProductID, &o.Qty, &amount, &status, &initial, &reason,
		&expires, &created, &key, &requestHash); err != nil {
		return flashsale.Order{}, err
	}
	o.Amount = flashsale.Money(amount)
	o.Status, o.InitialStatus = flashsale.OrderStatus(status), flashsale.OrderStatus(initial)
	o.CancelReason = flashsale.CancelReason(reason.String)
	o.ExpiresAt, o.CreatedAt = unixMilli(expires), unixMilli(created)
	o.IdempotencyKey, o.RequestHash = key.String, requestHash.String
	return o, nil
}

func orderInserts(orders []flashsale.Order) []stmt {
	return inserts("orders", orderColumns+", updated_at", orders, func(v *sqlValues, o flashsale.Order) {
		v.int(o.ID)
		v.int(o.HoldID)
		v.int(o.ProductID)
		v.int(o.Qty)
		v.int(int64(o.Amount))
		v.str(string(o.Status))
		v.str(string(o.InitialStatus))
		v.nullStr(string(o.CancelReason))
		v.int(o.ExpiresAt.UnixMilli())
		v.int(o.CreatedAt.UnixMilli())
		v.keyed(o.IdempotencyKey, o.RequestHash)
		v.int(o.CreatedAt.UnixMilli())
	})
}

// orderMoves moves the orders the accepted batches change, each from the
// status the group commit found it in, under lock, to the status the last
// of them left it in. MySQL takes them in one statement with a CASE per
// column, as it does the counters; SQLite, one statement per order.
func (g *group) orderMoves(ok []*flashsale.Batch) []stmt {
	type move struct {
		flashsale.OrderChange
		at int64 // the time of the batch that made the last change
	}
	var (
		moves []move
		index map[int64]int // of an order in moves
	)
	for _, b := range ok {
		for _, c := range b.OrderChanges {
			i, seen := index[c.OrderID]
			if !seen {
				if index == nil {
					index = map[int64]int{}
				}
				i = len(moves)
				index[c.OrderID] = i
				moves = append(moves, move{OrderChange: c})
			}
			m := &moves[i]
			m.To, m.Reason, m.at = c.To, c.Reason, b.At.UnixMilli()
		}
	}
	if len(moves) == 0 {
		return nil
	}
	if g.d.dialect != dialectMySQL {
		stmts := make([]stmt, len(moves))
		for i, m := range moves {
			stmts[i] = stmt{"UPDATE orders SET status = ?, cancel_reason = ?, updated_at = ? WHERE id = ? AND status = ?",
				[]any{string(m.To), nullable(string(m.Reason)), m.at, m.OrderID, string(m.From)}}
		}
		return stmts
	}
	var stmts []stmt
	for chunk := range chunks(moves, rowsPerInsert) {
		id := func(i int) int64 { return chunk[i].OrderID }
		var v sqlValues
		v.q.WriteString("UPDATE orders SET status = ")
		v.cases(len(chunk), id, func(i int) {
			if g.fence != nil {
				fenced(&v, "status = "+quote(string(chunk[i].From)), quote(string(chunk[i].To)))
				return
			}
			v.str(string(chunk[i].To))
		})
		v.q.WriteString(", cancel_reason = ")
		v.cases(len(chunk), id, func(i int) { v.nullStr(string(chunk[i].Reason)) })
		v.q.WriteString(", updated_at = ")
		v.cases(len(chunk), id, func(i int) { v.lit(chunk[i].at) })
		v.whereIDs(len(chunk), id)
		if g.fence != nil {
			// An order in another status fails the statement rather than
			// being left out; one not there fails the next.
			stmts = append(stmts, v.stmt(), rowsFence(ok[0].ProductID, len(chunk)))
			continue
		}
		v.q.WriteString(" AND status = ")
		v.cases(len(chunk), id, func(i int) { v.str(string(chunk[i].From)) })
		stmts = append(stmts, v.stmt())
	}
	return stmts
}

// lockOrders reads, under lock, the statuses of the orders a group
// commit changes.
func (d *DB) lockOrders(ids []int64, into map[int64]flashsale.OrderStatus) []read {
	return reads(inIDs("SELECT id, status FROM orders WHERE id IN (", ")"+d.forUpdate(), ids), func(row scanner) error {
		var (
			id     int64
			status string
		)
		if err := row.Scan(&id, &status); err != nil {
			return err
		}
		into[id] = flashsale.OrderStatus(status)
		return nil
	})
}
