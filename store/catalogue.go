package store

import (
	"context"
	"flashsale"
	"time"
)

// Catalogue lists up to limit products with ids above after, in id order,
// with their counters as committed and as of now: the units of holds and
// orders past their deadline at now are released here, written or not,
// as the product's actor would release them on waking. It reads products
// whose actor may not run, without waking it.
func (d *DB) Catalogue(ctx context.Context, after int64, limit int, now time.Time) ([]flashsale.Product, error) {
	at := now.UnixMilli()
	rows, err := d.db.QueryContext(ctx, `SELECT p.id, p.name, p.price_cents, p.stock, p.held, p.awaiting_payment, p.paid,
	COALESCE((SELECT SUM(h.qty) FROM holds h WHERE h.product_id = p.id AND h.status = ? AND h.expires_at <= ?), 0),
	COALESCE((SELECT SUM(o.qty) FROM orders o WHERE o.product_id = p.id AND o.status = ? AND o.expires_at <= ?), 0)
FROM products p WHERE p.id > ? ORDER BY p.id LIMIT ?`,
		string(flashsale.HoldActive), at, string(flashsale.OrderPendingPayment), at, after, limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	products := make([]flashsale.Product, 0, limit)
	for rows.Next() {
		var (
			p                       flashsale.Product
			price, expiredHeld, due int64
		)
		if err := rows.Scan(&p.ID, &p.Name, &price, &p.Stock, &p.Held, &p.AwaitingPayment, &p.Paid, &expiredHeld, &due); err != nil {
			return nil, translate(err)
		}
		p.Price = flashsale.Money(price)
		p.Held -= expiredHeld
		p.AwaitingPayment -= due
		products = append(products, p)
	}
	return products, translate(rows.Err())
}
