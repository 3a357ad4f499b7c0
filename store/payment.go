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

// DefaultEarlyWebhookTTL is how long a webhook recorded before its order
// stays good for it, unless SetEarlyWebhookTTL says otherwise. Such a
// webhook is a race between the provider's callback and the commit of the
// order's creation, which lasts at most a request timeout (seconds); a
// minute covers that with room for the provider's first retries, and is
// short enough that a stray webhook for an id not handed out yet (ids are
// sequential and webhooks may be unsigned) has little chance to pay a
// stranger's order.
const DefaultEarlyWebhookTTL = time.Minute

// SetEarlyWebhookTTL sets how long a webhook recorded before its order is
// applied to that order when it appears; an order created later is not
// paid by it, and Clean drops it. Call it before the store is used.
func (d *DB) SetEarlyWebhookTTL(ttl time.Duration) { d.earlyTTL = ttl }

// earlyWebhookTTL is the TTL set, or the default.
func (d *DB) earlyWebhookTTL() time.Duration {
	if d.earlyTTL <= 0 {
		return DefaultEarlyWebhookTTL
	}
	return d.earlyTTL
}

// stale reports whether an early webhook is too old to be applied to an
// order created at.
func (d *DB) stale(p flashsale.Payment, at time.Time) bool {
	return p.CreatedAt.Before(at.Add(-d.earlyWebhookTTL()))
}

// PaymentByKey reads the webhook recorded under an idempotency key.
func (d *DB) PaymentByKey(ctx context.Context, key string) (flashsale.Payment, error) {
	return queryOne(ctx, d.db, scanPayment, flashsale.ErrPaymentNotFound, selectPayments+"WHERE idempotency_key = ?", key)
}

// RecordEarlyPayment handles a webhook whose key is new. If its order
// exists, it returns the order's product and records nothing: the
// product's actor applies the payment. If its order id is past every id
// the order sequence has reserved, no server can create that order before
// reserving another block, so the webhook is a stray: it fails with
// ErrOrderNotFound and records nothing. Otherwise it records the payment
// as pending, to be applied when the order is created within the early
// webhook TTL. The order row is read with FOR UPDATE, so that an order
// being created at this moment is either seen here or sees this payment
// in its own transaction.
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
		var reservedEnd int64 // exclusive
		if err := tx.QueryRowContext(ctx, "SELECT next_value FROM sequences WHERE name = 'order'").Scan(&reservedEnd); err != nil {
			return err
		}
		if p.OrderID >= reservedEnd {
			return fmt.Errorf("%w: order %d is past the ids reserved (up to %d)", flashsale.ErrOrderNotFound, p.OrderID, reservedEnd-1)
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

// paymentWrites records a batch's payments as applied: new ones as
// inserts, and early ones (Early, recorded before their order existed) by
// marking them applied. The group commit has checked, under lock, that
// every early one is still pending; again are the new ones it found
// recorded already, each the same delivery as before, left as they are.
func paymentWrites(payments []flashsale.Payment, at time.Time, again map[string]bool) []stmt {
	var (
		stmts []stmt
		fresh []flashsale.Payment
	)
	for _, p := range payments {
		if !p.Early {
			if !again[p.Key] {
				fresh = append(fresh, p)
			}
			continue
		}
		stmts = append(stmts, stmt{"UPDATE payments SET state = 'applied', result_status = ?, applied_at = ? WHERE idempotency_key = ? AND state = 'pending'",
			[]any{string(p.Result), at.UnixMilli(), p.Key}})
	}
	return append(stmts, inserts("payments", paymentColumns+", applied_at", fresh, func(v *sqlValues, p flashsale.Payment) {
		v.str(p.Key)
		v.int(p.OrderID)
		v.str(string(p.Status))
		v.str(p.Hash)
		v.str("applied")
		v.nullStr(string(p.Result))
		v.int(p.CreatedAt.UnixMilli())
		v.int(at.UnixMilli())
	})...)
}

// lockPayments reads the webhooks a group commit must know of: under lock,
// those it applies early, by key, and those recorded early for the orders
// it creates; without one, any recorded under the keys of those it
// records (see recordFresh). The lock on the second kind, gaps included,
// makes a webhook recorded for such an order at this moment wait for the
// commit, and then find the order.
func (d *DB) lockPayments(early, fresh []string, newOrders []int64, into map[string]flashsale.Payment) []read {
	row := func(row scanner) error {
		p, err := scanPayment(row)
		if err == nil {
			into[p.Key] = p
		}
		return err
	}
	rs := reads(inIDs(selectPayments+"WHERE idempotency_key IN (", ")"+d.forUpdate(), early), row)
	rs = append(rs, reads(inIDs(selectPayments+"WHERE state = 'pending' AND order_id IN (", ")"+d.forUpdate(), newOrders), row)...)
	return append(rs, reads(inIDs(selectPayments+"WHERE idempotency_key IN (", ")", fresh), row)...)
}

// dropStale deletes early webhooks too old to pay the orders now created.
func dropStale(keys []string) []stmt {
	return inIDs("DELETE FROM payments WHERE state = 'pending' AND idempotency_key IN (", ")", keys)
}
