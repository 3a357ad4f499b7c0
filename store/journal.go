package store

import (
	"context"
	"database/sql"
	"flashsale"
)

const eventColumns = "product_id, seq, kind, at, hold_id, order_id, idempotency_key, qty, reason, " +
	"stock, available, held, awaiting_payment, paid, node"

// Events reads a product's journal after a seq, oldest first, at most
// limit events.
func (d *DB) Events(ctx context.Context, productID, after int64, limit int) ([]flashsale.Event, error) {
	events, err := queryAll(ctx, d.db, scanEvent,
		"SELECT "+eventColumns+" FROM events WHERE product_id = ? AND seq > ? ORDER BY seq LIMIT ?", productID, after, limit)
	return events, translate(err)
}

func scanEvent(row scanner) (flashsale.Event, error) {
	var (
		e               flashsale.Event
		at, available   int64
		holdID, orderID sql.NullInt64
		key, reason     sql.NullString
		kind            string
	)
	if err := row.Scan(&e.ProductID, &e.Seq, &kind, &at, &holdID, &orderID, &key, &e.Qty, &reason,
		&e.Stock, &available, &e.Held, &e.AwaitingPayment, &e.Paid, &e.Node); err != nil {
		return flashsale.Event{}, err
	}
	e.Kind, e.At = flashsale.EventKind(kind), unixMilli(at)
	e.HoldID, e.OrderID, e.IdempotencyKey, e.Reason = holdID.Int64, orderID.Int64, key.String, reason.String
	return e, nil
}

func insertEvents(ctx context.Context, tx *sql.Tx, events []flashsale.Event) error {
	return execAll(ctx, tx, eventInserts(events))
}

func eventInserts(events []flashsale.Event) []stmt {
	return inserts("events", eventColumns, events, func(v *sqlValues, e flashsale.Event) {
		v.int(e.ProductID)
		v.int(e.Seq)
		v.str(string(e.Kind))
		v.int(e.At.UnixMilli())
		v.nullID(e.HoldID)
		v.nullID(e.OrderID)
		v.nullStr(e.IdempotencyKey)
		v.int(e.Qty)
		v.nullStr(e.Reason)
		v.int(e.Stock)
		v.int(e.Available())
		v.int(e.Held)
		v.int(e.AwaitingPayment)
		v.int(e.Paid)
		v.str(e.Node)
	})
}

func lastSeq(ctx context.Context, tx *sql.Tx, productID int64) (int64, error) {
	var seq int64
	err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM events WHERE product_id = ?", productID).Scan(&seq)
	return seq, err
}
