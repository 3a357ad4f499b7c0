package store

import (
	"context"
	"database/sql"
	"flashsale"
	"slices"
	"time"
)

// The queries only the operator commands make: `flashsale check` walks
// every product and compares its row with its tables, and
// `flashsale release-expired` finds the products with something due.

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
//
// Two plain range reads, merged here: with UNION, DISTINCT or ORDER BY,
// SQLite's planner scans a whole covering index of product ids rather
// than the due rows' index, and every node runs this each second.
func (d *DB) DueProducts(ctx context.Context, now time.Time) ([]int64, error) {
	holds, err := d.queryIDs(ctx, "SELECT product_id FROM holds WHERE status = 'active' AND expires_at <= ?", now.UnixMilli())
	if err != nil {
		return nil, err
	}
	orders, err := d.queryIDs(ctx, "SELECT product_id FROM orders WHERE status = 'pending_payment' AND expires_at <= ?", now.UnixMilli())
	if err != nil {
		return nil, err
	}
	ids := append(holds, orders...)
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// queryIDs reads a query of one integer column outside a transaction.
func (d *DB) queryIDs(ctx context.Context, query string, args ...any) ([]int64, error) {
	ids, err := queryAll(ctx, d.db, scanID, query, args...)
	return ids, translate(err)
}

func scanID(row scanner) (int64, error) {
	var id int64
	err := row.Scan(&id)
	return id, err
}
