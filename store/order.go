package store

import (
	"context"
	"database/sql"
	"flashsale"
	"time"
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

// orderMoves moves orders between statuses, each only from the status the
// group commit found it in, under lock.
func orderMoves(changes []flashsale.OrderChange, at time.Time) []stmt {
	stmts := make([]stmt, len(changes))
	for i, c := range changes {
		stmts[i] = stmt{"UPDATE orders SET status = ?, cancel_reason = ?, updated_at = ? WHERE id = ? AND status = ?",
			[]any{string(c.To), nullable(string(c.Reason)), at.UnixMilli(), c.OrderID, string(c.From)}}
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
