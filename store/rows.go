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

// stmt is one SQL statement and its arguments, built before it is sent:
// a group commit sends many of them at once on MySQL.
type stmt struct {
	query string
	args  []any
}

// read is a query of a group commit's first step, and what takes each
// of its rows.
type read struct {
	stmt
	row func(scanner) error
}

// reads gives every statement the same row function.
func reads(stmts []stmt, row func(scanner) error) []read {
	rs := make([]read, len(stmts))
	for i, s := range stmts {
		rs[i] = read{s, row}
	}
	return rs
}

// queryEach runs reads in a transaction, one at a time.
func queryEach(ctx context.Context, tx *sql.Tx, rs []read) error {
	for _, r := range rs {
		if err := queryRows(ctx, tx, r); err != nil {
			return err
		}
	}
	return nil
}

func queryRows(ctx context.Context, q queryer, r read) error {
	rows, err := q.QueryContext(ctx, r.query, r.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := r.row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// execAll runs statements in a transaction, one at a time. A duplicate
// key means the rows were written before, by another writer: a version
// conflict.
func execAll(ctx context.Context, tx *sql.Tx, stmts []stmt) error {
	for _, s := range stmts {
		_, err := tx.ExecContext(ctx, s.query, s.args...)
		if isDuplicate(err) {
			return versionConflict(err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// rowsPerInsert keeps a multi-row INSERT well under both databases'
// placeholder limits.
const rowsPerInsert = 500

// inserts returns multi-row INSERTs of items, at most rowsPerInsert rows
// each, each row the values of one item for columns.
func inserts[T any](table, columns string, items []T, values func(T) []any) []stmt {
	width := strings.Count(columns, ",") + 1
	row := "(" + placeholders(width) + ")"
	var stmts []stmt
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
		stmts = append(stmts, stmt{q.String(), args})
	}
	return stmts
}

// inIDs returns statements of the form prefix + "?, ?, ?" + suffix, for
// at most rowsPerInsert ids each, with args before the ids.
func inIDs[T any](prefix, suffix string, ids []T, args ...any) []stmt {
	var stmts []stmt
	for chunk := range chunks(ids, rowsPerInsert) {
		all := append(append(make([]any, 0, len(args)+len(chunk)), args...), anys(chunk)...)
		stmts = append(stmts, stmt{prefix + placeholders(len(chunk)) + suffix, all})
	}
	return stmts
}

// anys converts a slice to arguments.
func anys[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
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
