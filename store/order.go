package store

import (
	"context"
	"database/sql"
	"flashsale"
	"fmt"
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

// insertOrders writes new orders. Webhooks may have been recorded for
// these order ids before the orders existed: every one of them recorded
// within the early webhook TTL before its order's creation must be in the
// batch, applied. One that is not means the actor did not know of it, and
// the batch is refused with the payments so that it can decide again. One
// older than that is dropped here, unapplied, whether or not the cleaner
// came by: it cannot pay an order created so long after it.
func (d *DB) insertOrders(ctx context.Context, tx *sql.Tx, orders []flashsale.Order, payments []flashsale.Payment) error {
	if len(orders) == 0 {
		return nil
	}
	applied := map[string]bool{}
	for _, p := range payments {
		if p.Early {
			applied[p.Key] = true
		}
	}
	err := insertRows(ctx, tx, "orders", orderColumns+", updated_at", orders, func(o flashsale.Order) []any {
		return []any{o.ID, o.HoldID, o.ProductID, o.Qty, int64(o.Amount), string(o.Status),
			string(o.InitialStatus), nullable(string(o.CancelReason)), o.ExpiresAt.UnixMilli(),
			o.CreatedAt.UnixMilli(), nullable(o.IdempotencyKey), nullable(o.RequestHash), o.CreatedAt.UnixMilli()}
	})
	if err != nil {
		return err
	}
	created := make(map[int64]time.Time, len(orders))
	for _, o := range orders {
		created[o.ID] = o.CreatedAt
	}
	for chunk := range chunks(orders, rowsPerInsert) {
		ids := make([]any, 0, len(chunk))
		for _, o := range chunk {
			ids = append(ids, o.ID)
		}
		early, err := queryAll(ctx, tx, scanPayment,
			selectPayments+"WHERE state = 'pending' AND order_id IN ("+placeholders(len(ids))+")"+d.forUpdate(), ids...)
		if err != nil {
			return err
		}
		var unknown []flashsale.Payment
		for _, p := range early {
			switch {
			case applied[p.Key]:
			case d.stale(p, created[p.OrderID]):
				if _, err := tx.ExecContext(ctx, "DELETE FROM payments WHERE idempotency_key = ? AND state = 'pending'", p.Key); err != nil {
					return err
				}
			default:
				unknown = append(unknown, p)
			}
		}
		if len(unknown) > 0 {
			return &flashsale.EarlyPaymentsError{Payments: unknown}
		}
	}
	return nil
}

// changeOrders moves orders between statuses, each only from the status
// the actor believes it has.
func changeOrders(ctx context.Context, tx *sql.Tx, changes []flashsale.OrderChange, at time.Time) error {
	for _, c := range changes {
		n, err := execCount(ctx, tx,
			"UPDATE orders SET status = ?, cancel_reason = ?, updated_at = ? WHERE id = ? AND status = ?",
			string(c.To), nullable(string(c.Reason)), at.UnixMilli(), c.OrderID, string(c.From))
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("%w: order %d was not %s", flashsale.ErrVersionConflict, c.OrderID, c.From)
		}
	}
	return nil
}
