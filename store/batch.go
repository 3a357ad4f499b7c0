package store

import (
	"context"
	"database/sql"
	"errors"
	"flashsale"
	"fmt"
	"strings"
)

// CommitBatches writes the batches of several products' actors in one
// transaction, so that many small batches share one commit. Each batch's
// product row is locked and its version compared with the one the actor
// holds: a difference means another writer (a second process, an operator
// command) changed the product, and the batch is refused with
// flashsale.ErrVersionConflict so that the actor reloads. The counters are
// also checked against the stock here and by the table's CHECK constraint.
// A batch refused by its own checks (its version, its counters, its early
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
	locked, err := queryAll(ctx, tx, scanVersion,
		"SELECT id, version FROM products WHERE id IN ("+placeholders(len(ids))+") ORDER BY id"+d.forUpdate(), ids...)
	if err != nil {
		return nil, err
	}
	versions := make(map[int64]int64, len(locked))
	for _, v := range locked {
		versions[v.id] = v.version
	}
	var ok []*flashsale.Batch
	for i, b := range batches {
		version, found := versions[b.ProductID]
		switch {
		case !found:
			errs[i] = flashsale.ErrProductNotFound
		case version != b.Version:
			errs[i] = otherVersion(b.ProductID, version, b.Version)
		default:
			errs[i] = checkCounters(b)
		}
		if errs[i] == nil {
			ok = append(ok, b)
		}
	}
	return ok, nil
}

// productVersion is a product row's version, locked.
type productVersion struct{ id, version int64 }

func scanVersion(row scanner) (productVersion, error) {
	var v productVersion
	err := row.Scan(&v.id, &v.version)
	return v, err
}

// setCounters writes the counters of several products in one statement.
func setCounters(ctx context.Context, tx *sql.Tx, batches []*flashsale.Batch) error {
	var q strings.Builder
	var args []any
	q.WriteString("UPDATE products SET ")
	for c, column := range []string{"stock", "held", "awaiting_payment", "paid", "version"} {
		if c > 0 {
			q.WriteString(", ")
		}
		q.WriteString(column + " = CASE id")
		for _, b := range batches {
			q.WriteString(" WHEN ? THEN ?")
			args = append(args, b.ProductID, []int64{b.Stock, b.Held, b.AwaitingPayment, b.Paid, b.Written()}[c])
		}
		q.WriteString(" END")
	}
	q.WriteString(", updated_at = ? WHERE id IN (" + placeholders(len(batches)) + ")")
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
		"UPDATE products SET stock = ?, held = ?, awaiting_payment = ?, paid = ?, version = ?, updated_at = ? WHERE id = ?",
		b.Stock, b.Held, b.AwaitingPayment, b.Paid, b.Written(), b.At.UnixMilli(), b.ProductID); err != nil {
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
		return otherVersion(productID, version, want)
	}
	return nil
}

// otherVersion refuses a batch whose product row another writer changed.
func otherVersion(productID, version, want int64) error {
	return fmt.Errorf("%w: product %d is at version %d, the actor holds %d", flashsale.ErrVersionConflict, productID, version, want)
}
