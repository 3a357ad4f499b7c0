package store

import (
	"context"
	"database/sql"
	"time"
)

// Cleaned counts what one retention pass removed.
type Cleaned struct {
	EarlyWebhooks int64 // webhooks whose order never appeared, dropped
	HoldKeys      int64 // idempotency keys let go of, on holds
	OrderKeys     int64 // idempotency keys let go of, on orders
}

// Clean drops what is kept only for a while: webhooks recorded for an
// order that has not appeared within the early webhook TTL before now,
// and the idempotency keys of holds and orders made more than retention
// before now. A request repeating such a key is then a new request.
// Applied webhooks stay: they are the record of money moved, and they
// keep answering their redeliveries.
func (d *DB) Clean(ctx context.Context, now time.Time, retention time.Duration) (Cleaned, error) {
	var c Cleaned
	err := d.transact(ctx, func(tx *sql.Tx) error {
		c = Cleaned{}
		early, keys := now.Add(-d.earlyWebhookTTL()).UnixMilli(), now.Add(-retention).UnixMilli()
		for _, step := range []struct {
			n      *int64
			query  string
			cutoff int64
		}{
			{&c.EarlyWebhooks, "DELETE FROM payments WHERE state = 'pending' AND created_at < ?", early},
			{&c.HoldKeys, "UPDATE holds SET idempotency_key = NULL, request_hash = NULL WHERE created_at < ? AND idempotency_key IS NOT NULL", keys},
			{&c.OrderKeys, "UPDATE orders SET idempotency_key = NULL, request_hash = NULL WHERE created_at < ? AND idempotency_key IS NOT NULL", keys},
		} {
			var err error
			if *step.n, err = execCount(ctx, tx, step.query, step.cutoff); err != nil {
				return err
			}
		}
		return nil
	})
	return c, err
}
