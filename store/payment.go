package store

import (
	"context"
	"database/sql"
	"errors"
	"flashsale"
	"fmt"
	"time"
)

const (
	paymentColumns = "idempotency_key, order_id, status, payload_hash, state, result_status, created_at"
	selectPayments = "SELECT " + paymentColumns + " FROM payments "
)

// PaymentByKey reads the webhook recorded under an idempotency key.
func (d *DB) PaymentByKey(ctx context.Context, key string) (flashsale.Payment, error) {
	return queryOne(ctx, d.db, scanPayment, flashsale.ErrPaymentNotFound, selectPayments+"WHERE idempotency_key = ?", key)
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
		recorded, err = scanPayment(tx.QueryRowContext(ctx, selectPayments+"WHERE idempotency_key = ?"+d.forUpdate(), p.Key))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("payment %q vanished after it was recorded", p.Key)
		}
		return err
	})
	return productID, recorded, err
}

func scanPayment(row scanner) (flashsale.Payment, error) {
	var (
		p             flashsale.Payment
		status, state string
		result        sql.NullString
		created       int64
	)
	if err := row.Scan(&p.Key, &p.OrderID, &status, &p.Hash, &state, &result, &created); err != nil {
		return flashsale.Payment{}, err
	}
	p.Status, p.Early, p.Result = flashsale.PaymentStatus(status), state == "pending", flashsale.OrderStatus(result.String)
	p.CreatedAt = unixMilli(created)
	return p, nil
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
		n, err := execCount(ctx, tx,
			"UPDATE payments SET state = 'applied', result_status = ?, applied_at = ? WHERE idempotency_key = ? AND state = 'pending'",
			string(p.Result), at.UnixMilli(), p.Key)
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("%w: payment %q was no longer pending", flashsale.ErrVersionConflict, p.Key)
		}
	}
	return insertRows(ctx, tx, "payments", paymentColumns+", applied_at", fresh, func(p flashsale.Payment) []any {
		return []any{p.Key, p.OrderID, string(p.Status), p.Hash, "applied", nullable(string(p.Result)),
			p.CreatedAt.UnixMilli(), at.UnixMilli()}
	})
}
