package store

import (
	"context"
	"database/sql"
	"flashsale"
	"fmt"
)

const (
	holdColumns = "id, product_id, qty, status, expires_at, created_at, idempotency_key, request_hash"
	selectHolds = "SELECT " + holdColumns + " FROM holds "
)

// Hold reads one hold.
func (d *DB) Hold(ctx context.Context, id int64) (flashsale.Hold, error) {
	return queryOne(ctx, d.db, scanHold, flashsale.ErrHoldNotFound, selectHolds+"WHERE id = ?", id)
}

// HoldByKey finds the hold first created with an Idempotency-Key, whatever
// its product. The oldest wins if two products raced for one key.
func (d *DB) HoldByKey(ctx context.Context, key string) (flashsale.Hold, error) {
	return queryOne(ctx, d.db, scanHold, flashsale.ErrHoldNotFound,
		selectHolds+"WHERE idempotency_key = ? ORDER BY id LIMIT 1", key)
}

func scanHold(row scanner) (flashsale.Hold, error) {
	var (
		h                flashsale.Hold
		status           string
		expires, created int64
		key, requestHash sql.NullString
	)
	if err := row.Scan(&h.ID, &h.ProductID, &h.Qty, &status, &expires, &created, &key, &requestHash); err != nil {
		return flashsale.Hold{}, err
	}
	h.Status = flashsale.HoldStatus(status)
	h.ExpiresAt, h.CreatedAt = unixMilli(expires), unixMilli(created)
	h.IdempotencyKey, h.RequestHash = key.String, requestHash.String
	return h, nil
}

func insertHolds(ctx context.Context, tx *sql.Tx, holds []flashsale.Hold) error {
	return insertRows(ctx, tx, "holds", holdColumns, holds, func(h flashsale.Hold) []any {
		return []any{h.ID, h.ProductID, h.Qty, string(h.Status), h.ExpiresAt.UnixMilli(),
			h.CreatedAt.UnixMilli(), nullable(h.IdempotencyKey), nullable(h.RequestHash)}
	})
}

// setHoldStatus moves holds of one product (any, for productID 0) from one
// status to another. Every hold must be in the from status: one that is
// not was changed by another writer, and the batch is refused.
func setHoldStatus(ctx context.Context, tx *sql.Tx, productID int64, ids []int64, from, to flashsale.HoldStatus) error {
	for chunk := range chunks(ids, rowsPerInsert) {
		where := "status = ? AND id IN (" + placeholders(len(chunk)) + ")"
		args := make([]any, 0, len(chunk)+3)
		args = append(args, string(to), string(from))
		for _, id := range chunk {
			args = append(args, id)
		}
		if productID != 0 {
			where += " AND product_id = ?"
			args = append(args, productID)
		}
		if got, err := execCount(ctx, tx, "UPDATE holds SET status = ? WHERE "+where, args...); err != nil {
			return err
		} else if got != int64(len(chunk)) {
			return fmt.Errorf("%w: %d of %d holds were no longer %s", flashsale.ErrVersionConflict, int64(len(chunk))-got, len(chunk), from)
		}
	}
	return nil
}
