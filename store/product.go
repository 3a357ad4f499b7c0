package store

import (
	"context"
	"database/sql"
	"errors"
	"flashsale"
	"time"
)

// Seed product, created when the database holds no product at all.
const (
	seedName  = "Flash Sale Item"
	seedPrice = flashsale.Money(4999)
	seedStock = 50
)

// Seed creates product 1 when the database has no product. It reports
// whether it created one. Processes started together may all seed: one
// inserts product 1, and the others, whose insert waits on that row until
// it commits, find it taken and create nothing.
func (d *DB) Seed(ctx context.Context) (bool, error) {
	created := false
	err := d.transact(ctx, func(tx *sql.Tx) error {
		var n int64
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM products").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		now := time.Now()
		_, err := tx.ExecContext(ctx,
			"INSERT INTO products (id, name, price_cents, stock, created_at, updated_at) VALUES (1, ?, ?, ?, ?, ?)",
			seedName, int64(seedPrice), seedStock, now.UnixMilli(), now.UnixMilli())
		if isDuplicate(err) {
			return nil // another process seeded it after this one counted
		}
		if err != nil {
			return err
		}
		created = true
		return insertEvents(ctx, tx, []flashsale.Event{createdEvent(1, seedStock, now)})
	})
	return created, err
}

// CreateProduct inserts a product with nothing held or ordered.
func (d *DB) CreateProduct(ctx context.Context, np flashsale.NewProduct) (flashsale.Product, error) {
	p := flashsale.Product{Name: np.Name, Price: np.Price, Counters: flashsale.Counters{Stock: np.Stock}}
	err := d.transact(ctx, func(tx *sql.Tx) error {
		now := time.Now()
		res, err := tx.ExecContext(ctx,
			"INSERT INTO products (name, price_cents, stock, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
			np.Name, int64(np.Price), np.Stock, now.UnixMilli(), now.UnixMilli())
		if err != nil {
			return err
		}
		if p.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		return insertEvents(ctx, tx, []flashsale.Event{createdEvent(p.ID, np.Stock, now)})
	})
	return p, err
}

// createdEvent starts a new product's journal.
func createdEvent(id, stock int64, at time.Time) flashsale.Event {
	return flashsale.Event{ProductID: id, Seq: 1, Kind: flashsale.EventProductCreated, At: at.UTC().Truncate(time.Millisecond),
		Qty: stock, Counters: flashsale.Counters{Stock: stock}}
}

// LoadProduct reads a product, its version and its active holds in one
// transaction, so that they agree with each other.
func (d *DB) LoadProduct(ctx context.Context, id int64) (flashsale.ProductState, error) {
	var st flashsale.ProductState
	err := d.transact(ctx, func(tx *sql.Tx) error {
		var err error
		st, err = loadProduct(ctx, tx, id, d.forUpdate())
		return err
	})
	return st, err
}

// loadProduct reads the product row with lock: FOR UPDATE on MySQL, so
// that a load right after a commit whose answer was lost waits for that
// commit, if the server is still carrying it out, and sees what it wrote.
// The rows read after it are read as of then.
func loadProduct(ctx context.Context, tx *sql.Tx, id int64, lock string) (flashsale.ProductState, error) {
	st, err := scanProductState(tx.QueryRowContext(ctx, selectProductStates+"WHERE id = ?"+lock, id))
	if errors.Is(err, sql.ErrNoRows) {
		return st, flashsale.ErrProductNotFound
	}
	if err != nil {
		return st, err
	}
	st.ActiveHolds, err = queryAll(ctx, tx, scanHold,
		selectHolds+"WHERE product_id = ? AND status = ? ORDER BY expires_at, id", id, string(flashsale.HoldActive))
	if err != nil {
		return st, err
	}
	st.UnpaidOrders, err = queryAll(ctx, tx, scanOrder,
		selectOrders+"WHERE product_id = ? AND status = ? ORDER BY expires_at, id", id, string(flashsale.OrderPendingPayment))
	if err != nil {
		return st, err
	}
	st.LastSeq, err = lastSeq(ctx, tx, id)
	return st, err
}

const selectProductStates = "SELECT id, name, price_cents, stock, held, awaiting_payment, paid, version FROM products "

func scanProductState(row scanner) (flashsale.ProductState, error) {
	var (
		st    flashsale.ProductState
		price int64
	)
	p := &st.Product
	err := row.Scan(&p.ID, &p.Name, &price, &p.Stock, &p.Held, &p.AwaitingPayment, &p.Paid, &st.Version)
	p.Price = flashsale.Money(price)
	return st, err
}

// productsPerLoad bounds the products LoadProducts reads in one
// transaction, and the ids in one query.
const productsPerLoad = 500

// LoadProducts reads the committed state of many products, as LoadProduct
// reads one's: four queries and one transaction for each 500 products,
// not a transaction each. Ids that name no product are not in the map. On
// MySQL the four queries go in one packet on a writer's connection: a
// first touch of many products is a load of a few each, and its round
// trips, not its rows, were what it cost.
func (d *DB) LoadProducts(ctx context.Context, ids []int64) (map[int64]flashsale.ProductState, error) {
	states := make(map[int64]flashsale.ProductState, len(ids))
	for chunk := range chunks(ids, productsPerLoad) {
		some := make(map[int64]*flashsale.ProductState, len(chunk))
		rs := loadReads(chunk, some)
		var err error
		if d.writer != nil {
			err = retry(ctx, func() error {
				clear(some) // what a failed attempt read
				return d.readPacked(ctx, rs)
			})
		} else {
			err = d.transact(ctx, func(tx *sql.Tx) error {
				clear(some)
				return queryEach(ctx, tx, rs)
			})
		}
		if err != nil {
			return nil, err
		}
		for id, st := range some {
			states[id] = *st
		}
	}
	return states, nil
}

// loadReads are the reads of LoadProducts into states, in the order they
// must run: the products first, then what belongs to each.
func loadReads(ids []int64, states map[int64]*flashsale.ProductState) []read {
	rs := reads(inIDs(selectProductStates+"WHERE id IN (", ")", ids), func(row scanner) error {
		st, err := scanProductState(row)
		if err == nil {
			states[st.Product.ID] = &st
		}
		return err
	})
	rs = append(rs, reads(inIDs(selectHolds+"WHERE status = '"+string(flashsale.HoldActive)+"' AND product_id IN (", ") ORDER BY product_id, expires_at, id", ids),
		func(row scanner) error {
			h, err := scanHold(row)
			if st := states[h.ProductID]; err == nil && st != nil {
				st.ActiveHolds = append(st.ActiveHolds, h)
			}
			return err
		})...)
	rs = append(rs, reads(inIDs(selectOrders+"WHERE status = '"+string(flashsale.OrderPendingPayment)+"' AND product_id IN (", ") ORDER BY product_id, expires_at, id", ids),
		func(row scanner) error {
			o, err := scanOrder(row)
			if st := states[o.ProductID]; err == nil && st != nil {
				st.UnpaidOrders = append(st.UnpaidOrders, o)
			}
			return err
		})...)
	rs = append(rs, reads(inIDs("SELECT product_id, MAX(seq) FROM events WHERE product_id IN (", ") GROUP BY product_id", ids),
		func(row scanner) error {
			var id, seq int64
			err := row.Scan(&id, &seq)
			if st := states[id]; err == nil && st != nil {
				st.LastSeq = seq
			}
			return err
		})...)
	return rs
}
