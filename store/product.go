package store

import (
	"context"
	"database/sql"
	"errors"
	"flashsale"
	"fmt"
	"strings"
	"time"
)

// Seed product, created when the database holds no product at all.
const (
	seedName  = "Flash Sale Item"
	seedPrice = flashsale.Money(4999)
	seedStock = 50
)

// Seed creates product 1 when the database has no product. It reports
// whether it created one.
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
		st, err = loadProduct(ctx, tx, id)
		return err
	})
	return st, err
}

func loadProduct(ctx context.Context, tx *sql.Tx, id int64) (flashsale.ProductState, error) {
	st := flashsale.ProductState{}
	p := &st.Product
	var price int64
	err := tx.QueryRowContext(ctx,
		"SELECT id, name, price_cents, stock, held, awaiting_payment, paid, version FROM products WHERE id = ?", id).
		Scan(&p.ID, &p.Name, &price, &p.Stock, &p.Held, &p.AwaitingPayment, &p.Paid, &st.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return st, flashsale.ErrProductNotFound
	}
	if err != nil {
		return st, err
	}
	p.Price = flashsale.Money(price)
	st.ActiveHolds, err = queryHolds(ctx, tx,
		"WHERE product_id = ? AND status = ? ORDER BY expires_at, id", id, string(flashsale.HoldActive))
	if err != nil {
		return st, err
	}
	st.UnpaidOrders, err = queryOrders(ctx, tx,
		"WHERE product_id = ? AND status = ? ORDER BY expires_at, id", id, string(flashsale.OrderPendingPayment))
	if err != nil {
		return st, err
	}
	st.LastSeq, err = lastSeq(ctx, tx, id)
	return st, err
}

// CommitBatch writes one group commit of a product's actor. It first locks
// the product row and compares its version with the one the actor holds:
// a difference means another writer (a second process, an operator
// command) changed the product, and the batch is refused with
// flashsale.ErrVersionConflict so that the actor reloads. The counters are
// also checked against the stock here and by the table's CHECK constraint.
func (d *DB) CommitBatch(ctx context.Context, b *flashsale.Batch) error {
	return d.CommitBatches(ctx, []*flashsale.Batch{b})[0]
}

// CommitBatches writes the batches of several products' actors in one
// transaction, so that many small batches share one commit. A batch
// refused by its own checks (its version, its counters, its early
// webhooks) is left out and reported; the rest commit together. Any other
// failure fails them all.
//
// The group is first written with one statement per kind of row for all
// its batches, so that its round trips do not grow with its size. Should
// a check fail past the versions, which one batch alone may cause, the
// group is written again batch by batch, each in a savepoint.
func (d *DB) CommitBatches(ctx context.Context, batches []*flashsale.Batch) []error {
	if len(batches) > 1 {
		errs, err := d.commitTogether(ctx, batches)
		if !errors.Is(err, errOneByOne) {
			for i := range errs {
				if err != nil {
					errs[i] = err
				}
			}
			return errs
		}
	}
	return d.commitOneByOne(ctx, batches)
}

// errOneByOne abandons writing a group at once for writing it batch by batch.
var errOneByOne = errors.New("a batch of the group was refused past its version check")

func (d *DB) commitTogether(ctx context.Context, batches []*flashsale.Batch) ([]error, error) {
	errs := make([]error, len(batches))
	err := d.transact(ctx, func(tx *sql.Tx) error {
		clear(errs)
		ok, err := d.lockVersions(ctx, tx, batches, errs)
		if err != nil || len(ok) == 0 {
			return err
		}
		if err := setCounters(ctx, tx, ok); err != nil {
			return err
		}
		var all flashsale.Batch
		for _, b := range ok {
			all.NewHolds = append(all.NewHolds, b.NewHolds...)
			all.ExpiredHolds = append(all.ExpiredHolds, b.ExpiredHolds...)
			all.ConvertedHolds = append(all.ConvertedHolds, b.ConvertedHolds...)
			all.NewOrders = append(all.NewOrders, b.NewOrders...)
			all.OrderChanges = append(all.OrderChanges, b.OrderChanges...)
			all.Payments = append(all.Payments, b.Payments...)
			all.Events = append(all.Events, b.Events...)
		}
		all.At = ok[0].At
		err = d.writeRows(ctx, tx, 0, &all)
		if errors.Is(err, flashsale.ErrVersionConflict) {
			return fmt.Errorf("%w: %v", errOneByOne, err)
		}
		return err
	})
	return errs, err
}

// lockVersions locks the group's product rows and checks each batch's
// version and counters. It reports the refused in errs and returns the rest.
func (d *DB) lockVersions(ctx context.Context, tx *sql.Tx, batches []*flashsale.Batch, errs []error) ([]*flashsale.Batch, error) {
	ids := make([]any, len(batches))
	for i, b := range batches {
		ids[i] = b.ProductID
	}
	rows, err := tx.QueryContext(ctx, "SELECT id, version FROM products WHERE id IN ("+placeholders(len(ids))+") ORDER BY id"+d.forUpdate(), ids...)
	if err != nil {
		return nil, err
	}
	versions := make(map[int64]int64, len(batches))
	for rows.Next() {
		var id, version int64
		if err := rows.Scan(&id, &version); err != nil {
			rows.Close()
			return nil, err
		}
		versions[id] = version
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var ok []*flashsale.Batch
	for i, b := range batches {
		version, found := versions[b.ProductID]
		switch {
		case !found:
			errs[i] = flashsale.ErrProductNotFound
		case version != b.Version:
			errs[i] = fmt.Errorf("%w: product %d is at version %d, the actor holds %d", flashsale.ErrVersionConflict, b.ProductID, version, b.Version)
		default:
			errs[i] = checkCounters(b)
		}
		if errs[i] == nil {
			ok = append(ok, b)
		}
	}
	return ok, nil
}

// setCounters writes the counters of several products in one statement.
func setCounters(ctx context.Context, tx *sql.Tx, batches []*flashsale.Batch) error {
	var q strings.Builder
	var args []any
	q.WriteString("UPDATE products SET ")
	for c, column := range []string{"stock", "held", "awaiting_payment", "paid"} {
		if c > 0 {
			q.WriteString(", ")
		}
		q.WriteString(column + " = CASE id")
		for _, b := range batches {
			q.WriteString(" WHEN ? THEN ?")
			args = append(args, b.ProductID, []int64{b.Stock, b.Held, b.AwaitingPayment, b.Paid}[c])
		}
		q.WriteString(" END")
	}
	q.WriteString(", version = version + 1, updated_at = ? WHERE id IN (" + placeholders(len(batches)) + ")")
	args = append(args, batches[0].At.UnixMilli())
	for _, b := range batches {
		args = append(args, b.ProductID)
	}
	_, err := tx.ExecContext(ctx, q.String(), args...)
	return err
}

func checkCounters(b *flashsale.Batch) error {
	if b.Held < 0 || b.AwaitingPayment < 0 || b.Paid < 0 || b.Held+b.AwaitingPayment+b.Paid > b.Stock {
		return fmt.Errorf("%w: counters %d+%d+%d exceed stock %d", flashsale.ErrVersionConflict,
			b.Held, b.AwaitingPayment, b.Paid, b.Stock)
	}
	return nil
}

// commitOneByOne writes a group batch by batch, each in a savepoint, so
// that a batch refused by any of its checks is rolled back alone.
func (d *DB) commitOneByOne(ctx context.Context, batches []*flashsale.Batch) []error {
	errs := make([]error, len(batches))
	err := d.transact(ctx, func(tx *sql.Tx) error {
		clear(errs)
		if len(batches) == 1 {
			return d.writeBatch(ctx, tx, batches[0])
		}
		for i, b := range batches {
			savepoint := fmt.Sprintf("batch_%d", i)
			if _, err := tx.ExecContext(ctx, "SAVEPOINT "+savepoint); err != nil {
				return err
			}
			err := translate(d.writeBatch(ctx, tx, b))
			if err == nil {
				continue
			}
			if !errors.Is(err, flashsale.ErrVersionConflict) && !errors.Is(err, flashsale.ErrProductNotFound) {
				return err
			}
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+savepoint); rerr != nil {
				return rerr
			}
			errs[i] = err
		}
		return nil
	})
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// writeBatch writes one product's batch inside a transaction.
func (d *DB) writeBatch(ctx context.Context, tx *sql.Tx, b *flashsale.Batch) error {
	if err := d.lockVersion(ctx, tx, b.ProductID, b.Version); err != nil {
		return err
	}
	if err := checkCounters(b); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx,
		"UPDATE products SET stock = ?, held = ?, awaiting_payment = ?, paid = ?, version = version + 1, updated_at = ? WHERE id = ?",
		b.Stock, b.Held, b.AwaitingPayment, b.Paid, b.At.UnixMilli(), b.ProductID); err != nil {
		return err
	}
	return d.writeRows(ctx, tx, b.ProductID, b)
}

// writeRows writes a batch's holds, orders, payments and events. With a
// product id, the holds it moves must be that product's.
func (d *DB) writeRows(ctx context.Context, tx *sql.Tx, productID int64, b *flashsale.Batch) error {
	if err := insertHolds(ctx, tx, b.NewHolds); err != nil {
		return err
	}
	if err := setHoldStatus(ctx, tx, productID, b.ExpiredHolds, flashsale.HoldActive, flashsale.HoldExpired); err != nil {
		return err
	}
	if err := setHoldStatus(ctx, tx, productID, b.ConvertedHolds, flashsale.HoldActive, flashsale.HoldConverted); err != nil {
		return err
	}
	if err := d.insertOrders(ctx, tx, b.NewOrders, b.Payments); err != nil {
		return err
	}
	if err := changeOrders(ctx, tx, b.OrderChanges, b.At); err != nil {
		return err
	}
	if err := insertPayments(ctx, tx, b.Payments, b.At); err != nil {
		return err
	}
	return insertEvents(ctx, tx, b.Events)
}

func (d *DB) lockVersion(ctx context.Context, tx *sql.Tx, productID, want int64) error {
	var version int64
	err := tx.QueryRowContext(ctx, "SELECT version FROM products WHERE id = ?"+d.forUpdate(), productID).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return flashsale.ErrProductNotFound
	}
	if err != nil {
		return err
	}
	if version != want {
		return fmt.Errorf("%w: product %d is at version %d, the actor holds %d", flashsale.ErrVersionConflict, productID, version, want)
	}
	return nil
}

// insertRows writes items with multi-row INSERTs of at most rowsPerInsert
// rows, each row the values of one item for columns. A duplicate key means
// the rows were written before, by another writer: a version conflict.
func insertRows[T any](ctx context.Context, tx *sql.Tx, table, columns string, items []T, values func(T) []any) error {
	width := strings.Count(columns, ",") + 1
	row := "(" + placeholders(width) + ")"
	for chunk := range chunks(items, rowsPerInsert) {
		var q strings.Builder
		q.WriteString("INSERT INTO " + table + " (" + columns + ") VALUES ")
		args := make([]any, 0, width*len(chunk))
		for i, item := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(row)
			args = append(args, values(item)...)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			if isDuplicate(err) {
				return versionConflict(err)
			}
			return err
		}
	}
	return nil
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
