package store

import (
	"context"
	"database/sql"
	"flashsale"
	"time"
)

const eventColumns = "product_id, seq, kind, at, hold_id, order_id, idempotency_key, qty, reason, " +
	"stock, available, held, awaiting_payment, paid"

// Events reads a product's journal after a seq, oldest first, at most
// limit events.
func (d *DB) Events(ctx context.Context, productID, after int64, limit int) ([]flashsale.Event, error) {
	rows, err := d.db.QueryContext(ctx, "SELECT "+eventColumns+" FROM events WHERE product_id = ? AND seq > ? ORDER BY seq LIMIT ?",
		productID, after, limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var events []flashsale.Event
	for rows.Next() {
		var (
			e               flashsale.Event
			at, available   int64
			holdID, orderID sql.NullInt64
			key, reason     sql.NullString
			kind            string
		)
		if err := rows.Scan(&e.ProductID, &e.Seq, &kind, &at, &holdID, &orderID, &key, &e.Qty, &reason,
			&e.Stock, &available, &e.Held, &e.AwaitingPayment, &e.Paid); err != nil {
			return nil, translate(err)
		}
		e.Kind, e.At = flashsale.EventKind(kind), unixMilli(at)
		e.HoldID, e.OrderID, e.IdempotencyKey, e.Reason = holdID.Int64, orderID.Int64, key.String, reason.String
		events = append(events, e)
	}
	return events, translate(rows.Err())
}

func insertEvents(ctx context.Context, tx *sql.Tx, events []flashsale.Event) error {
	return insertRows(ctx, tx, "events", eventColumns, events, func(e flashsale.Event) []any {
		return []any{e.ProductID, e.Seq, string(e.Kind), e.At.UnixMilli(), nullID(e.HoldID), nullID(e.OrderID),
			nullable(e.IdempotencyKey), e.Qty, nullable(e.Reason), e.Stock, e.Available(), e.Held, e.AwaitingPayment, e.Paid}
	})
}

func lastSeq(ctx context.Context, tx *sql.Tx, productID int64) (int64, error) {
	var seq int64
	err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM events WHERE product_id = ?", productID).Scan(&seq)
	return seq, err
}

func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// ProductIDs lists every product, in id order.
func (d *DB) ProductIDs(ctx context.Context) ([]int64, error) {
	return d.queryIDs(ctx, "SELECT id FROM products ORDER BY id")
}

// Tally is a product's counters as its holds and orders tables sum them,
// beside the counters its row keeps.
type Tally struct {
	Row, Tables flashsale.Counters
}

// Tally sums a product's active holds and its orders by status in one
// transaction, for a check against the row's counters.
func (d *DB) Tally(ctx context.Context, productID int64) (Tally, error) {
	var t Tally
	err := d.transact(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT stock, held, awaiting_payment, paid FROM products WHERE id = ?", productID).
			Scan(&t.Row.Stock, &t.Row.Held, &t.Row.AwaitingPayment, &t.Row.Paid)
		if err != nil {
			return err
		}
		t.Tables.Stock = t.Row.Stock
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(SUM(qty), 0) FROM holds WHERE product_id = ? AND status = 'active'",
			productID).Scan(&t.Tables.Held); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx,
			"SELECT COALESCE(SUM(CASE WHEN status = 'pending_payment' THEN qty ELSE 0 END), 0), "+
				"COALESCE(SUM(CASE WHEN status = 'paid' THEN qty ELSE 0 END), 0) FROM orders WHERE product_id = ?",
			productID).Scan(&t.Tables.AwaitingPayment, &t.Tables.Paid)
	})
	return t, err
}

// DueProducts lists the products with holds or unpaid orders past their
// time at now.
func (d *DB) DueProducts(ctx context.Context, now time.Time) ([]int64, error) {
	return d.queryIDs(ctx, "SELECT product_id FROM holds WHERE status = 'active' AND expires_at <= ? "+
		"UNION SELECT product_id FROM orders WHERE status = 'pending_payment' AND expires_at <= ? ORDER BY 1",
		now.UnixMilli(), now.UnixMilli())
}

// queryIDs runs a query of one integer column.
func (d *DB) queryIDs(ctx context.Context, query string, args ...any) ([]int64, error) {
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, translate(err)
		}
		ids = append(ids, id)
	}
	return ids, translate(rows.Err())
}
