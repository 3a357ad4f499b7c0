package store

import (
	"context"
	"database/sql"
	"errors"
	"iter"
	"strings"
	"time"
)

// The helpers every table's file shares: reading rows, multi-row inserts,
// and the conversions between domain values and columns.

// queryer runs a query: the database outside a transaction, or a
// transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// scanner is one row: a *sql.Row, or the current row of *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// queryAll runs query and reads every row with scan. Its errors are the
// driver's: inside a transaction transact translates them, outside one
// the caller does.
func queryAll[T any](ctx context.Context, q queryer, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var all []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		all = append(all, v)
	}
	return all, rows.Err()
}

// queryOne reads the first row of query outside a transaction, or returns
// notFound when there is none. Its errors are translated.
func queryOne[T any](ctx context.Context, db *sql.DB, scan func(scanner) (T, error), notFound error, query string, args ...any) (T, error) {
	v, err := scan(db.QueryRowContext(ctx, query, args...))
	if err != nil {
		var zero T
		if errors.Is(err, sql.ErrNoRows) {
			return zero, notFound
		}
		return zero, translate(err)
	}
	return v, nil
}

// execCount runs a statement in a transaction and returns how many rows
// it changed.
func execCount(ctx context.Context, tx *sql.Tx, query string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// rowsPerInsert keeps a multi-row INSERT well under both databases'
// placeholder limits.
const rowsPerInsert = 500

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

// chunks splits s into pieces of at most n.
func chunks[T any](s []T, n int) iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			k := min(len(s), n)
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// nullable stores an empty string as NULL.
func nullable(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// nullID stores a zero id, no row, as NULL.
func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// unixMilli converts stored milliseconds to a UTC time.
func unixMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
