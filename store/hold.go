package store

import (
	"context"
	"database/sql"
	"flashsale"
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

func holdInserts(holds []flashsale.Hold) []stmt {
	return inserts("holds", holdColumns, holds, func(v *sqlValues, h flashsale.Hold) {
		v.int(h.ID)
		v.int(h.ProductID)
		v.int(h.Qty)
		v.str(string(h.Status))
		v.int(h.ExpiresAt.UnixMilli())
		v.int(h.CreatedAt.UnixMilli())
		v.keyed(h.IdempotencyKey, h.RequestHash)
	})
}

// holdMoves moves holds from one status to another. The group commit has
// checked, under lock, that every one of them is in the from status.
func holdMoves(ids []int64, from, to flashsale.HoldStatus) []stmt {
	return inIDs("UPDATE holds SET status = ? WHERE status = ? AND id IN (", ")", ids, string(to), string(from))
}

// lockedHold is what a group commit checks of a hold it moves.
type lockedHold struct {
	productID int64
	status    flashsale.HoldStatus
}

// lockHolds reads, under lock, the holds a group commit moves.
func (d *DB) lockHolds(ids []int64, into map[int64]lockedHold) []read {
	return reads(inIDs("SELECT id, product_id, status FROM holds WHERE id IN (", ")"+d.forUpdate(), ids), func(row scanner) error {
		var (
			id     int64
			h      lockedHold
			status string
		)
		if err := row.Scan(&id, &h.productID, &status); err != nil {
			return err
		}
		h.status = flashsale.HoldStatus(status)
		into[id] = h
		return nil
	})
}
