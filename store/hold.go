package store

import (
	"context"
	"database/sql"
	"flashsale"
	"fmt"
)

// rowsPerInsert keeps a multi-row INSERT well under both databases'
// placeholder limits.
const rowsPerInsert = 500

const holdColumns = "id, product_id, qty, status, expires_at, created_at, idempotency_key, request_hash"

// Hold reads one hold.
func (d *DB) Hold(ctx context.Context, id int64) (flashsale.Hold, error) {
	return d.oneHold(ctx, "WHERE id = ?", id)
}

// HoldByKey finds the hold first created with an Idempotency-Key, whatever
// its product. The oldest wins if two products raced for one key.
func (d *DB) HoldByKey(ctx context.Context, key string) (flashsale.Hold, error) {
	return d.oneHold(ctx, "WHERE idempotency_key = ? ORDER BY id LIMIT 1", key)
}

func (d *DB) oneHold(ctx context.Context, where string, args ...any) (flashsale.Hold, error) {
	rows, err := d.db.QueryContext(ctx, "SELECT "+holdColumns+" FROM holds "+where, args...)
	if err != nil {
		return flashsale.Hold{}, translate(err)
	}
	holds, err := scanHolds(rows)
	if err != nil {
		return flashsale.Hold{}, translate(err)
	}
	if len(holds) == 0 {
		return flashsale.Hold{}, flashsale.ErrHoldNotFound
	}
	return holds[0], nil
}

func queryHolds(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]flashsale.Hold, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+holdColumns+" FROM holds "+where, args...)
	if err != nil {
		return nil, err
	}
	return scanHolds(rows)
}

func scanHolds(rows *sql.Rows) ([]flashsale.Hold, error) {
	defer rows.Close()
	var holds []flashsale.Hold
	for rows.Next() {
		var (
			h                flashsale.Hold
			status           string
			expires, created int64
			key, requestHash sql.NullString
		)
		if err := rows.Scan(&h.ID, &h.ProductID, &h.Qty, &status, &expires, &created, &key, &requestHash); err != nil {
			return nil, err
		}
		h.Status = flashsale.HoldStatus(status)
		h.ExpiresAt, h.CreatedAt = unixMilli(expires), unixMilli(created)
		h.IdempotencyKey, h.RequestHash = key.String, requestHash.String
		holds = append(holds, h)
	}
	return holds, rows.Err()
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
		res, err := tx.ExecContext(ctx, "UPDATE holds SET status = ? WHERE "+where, args...)
		if err != nil {
			return err
		}
		if got, err := res.RowsAffected(); err != nil {
			return err
		} else if got != int64(len(chunk)) {
			return fmt.Errorf("%w: %d of %d holds were no longer %s", flashsale.ErrVersionConflict, int64(len(chunk))-got, len(chunk), from)
		}
	}
	return nil
}

func nullable(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
