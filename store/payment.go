package store

import (
	"context"
	"database/sql"
	"errors"
	"flashsale"
	"fmt"
	"time"
)

const paymentColumns = "idempotency_key, order_id, status, payload_hash, state, result_status, created_at"

// PaymentByKey reads the webhook recorded under an idempotency key.
func (d *DB) PaymentByKey(ctx context.Context, key string) (flashsale.Payment, error) {
	rows, err := d.db.QueryContext(ctx, "SELECT "+paymentColumns+" FROM payments WHERE idempotency_key = ?", key)
	if err != nil {
		return flashsale.Payment{}, translate(err)
	}
	payments, err := scanPayments(rows)
	if err != nil {
		return flashsale.Payment{}, translate(err)
	}
	if len(payments) == 0 {
		return flashsale.Payment{}, flashsale.ErrPaymentNotFound
	}
	return payments[0], nil
}

// RecordEarlyPayment handles a webhook whose key is new. If its order
// exists, it returns the order's product and records nothing: the
// product's actor applies the payment. If not, it records the payment as
// pending, to be applied when the order is created. The order row is read
// with FOR UPDATE, so that an order being created at this moment is either
// seen here or sees this payment in its own transaction.
func (d *DB) RecordEarlyPayment(ctx context.Context, p flashsale.Payment) (productID int64, recorded flashsale.Payment, err error) {
	err = d.transact(ctx, func(tx *sql.Tx) error {
		productID, recorded = 0, flashsale.Payment{}
		err := tx.QueryRowContext(ctx, "SELECT product_id FROM orders WHERE id = ?"+d.forUpdate(), p.OrderID).Scan(&productID)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Insert first, keeping a row another delivery already recorded,
		// then read whichever row won. Reading first with FOR UPDATE would
		// take gap locks that concurrent deliveries of one key deadlock on.
		if _, err := tx.ExecContext(ctx, d.insertKeepingExisting("payments", "idempotency_key",
			"idempotency_key, order_id, status, payload_hash, state, created_at", 6),
			p.Key, p.OrderID, string(p.Status), p.Hash, "pending", p.CreatedAt.UnixMilli()); err != nil {
			return err
		}
		existing, err := queryPayments(ctx, tx, "WHERE idempotency_key = ?"+d.forUpdate(), p.Key)
		if err != nil {
			return err
		}
		if len(existing) == 0 {
			return fmt.Errorf("payment %q vanished after it was recorded", p.Key)
		}
		recorded = existing[0]
		return nil
	})
	return productID, recorded, err
}

func queryPayments(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]flashsale.Payment, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+paymentColumns+" FROM payments "+where, args...)
	if err != nil {
		return nil, err
	}
	return scanPayments(rows)
}

func scanPayments(rows *sql.Rows) ([]flashsale.Payment, error) {
	defer rows.Close()
	var payments []flashsale.Payment
	for rows.Next() {
		var (
			p             flashsale.Payment
			status, state string
			result        sql.NullString
			created       int64
		)
		if err := rows.Scan(&p.Key, &p.OrderID, &status, &p.Hash, &state, &result, &created); err != nil {
			return nil, err
		}
		p.Status, p.Early, p.Result = flashsale.PaymentStatus(status), state == "pending", flashsale.OrderStatus(result.String)
		p.CreatedAt = unixMilli(created)
		payments = append(payments, p)
	}
	return payments, rows.Err()
}

// insertPayments records a batch's payments as applied: new ones as
// inserts, and early ones (Early, recorded before their order existed)
// by marking them applied.
func insertPayments(ctx context.Context, tx *sql.Tx, payments []flashsale.Payment, at time.Time) error {
	var fresh []flashsale.Payment
	for _, p := range payments {
		if !p.Early {
			fresh = append(fresh, p)
			continue
		}
		res, err := tx.ExecContext(ctx,
			"UPDATE payments SET state = 'applied', result_status = ?, applied_at = ? WHERE idempotency_key = ? AND state = 'pending'",
			string(p.Result), at.UnixMilli(), p.Key)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return fmt.Errorf("%w: payment %q was no longer pending", flashsale.ErrVersionConflict, p.Key)
		}
	}
	return insertRows(ctx, tx, "payments", paymentColumns+", applied_at", fresh, func(p flashsale.Payment) []any {
		return []any{p.Key, p.OrderID, string(p.Status), p.Hash, "applied", nullable(string(p.Result)),
			p.CreatedAt.UnixMilli(), at.UnixMilli()}
	})
}
