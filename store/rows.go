package store

import (
	"context"
	"database/sql"
	"errors"
	"iter"
	"strconv"
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
		if _, err := tx.ExecContext(ctx, s.query, s.args...); err != nil {
			if isDuplicate(err) {
				return versionConflict(err)
			}
			return err
		}
	}
	return nil
}

// rowsPerInsert keeps a multi-row INSERT well under both databases'
// placeholder limits.
const rowsPerInsert = 500

// inserts returns multi-row INSERTs of items, at most rowsPerInsert rows
// each, row writing the values of one item for columns.
//
// A statement's text is sized from its first row, with an eighth to
// spare, rather than from a guess per value: rows of one table are much
// alike, and a guess that falls short (a hold's 64-character hash) makes
// the text grow by doubling, and one that is long wastes as much.
func inserts[T any](table, columns string, items []T, row func(*sqlValues, T)) []stmt {
	width := strings.Count(columns, ",") + 1
	head := "INSERT INTO " + table + " (" + columns + ") VALUES "
	stmts := make([]stmt, 0, (len(items)+rowsPerInsert-1)/rowsPerInsert)
	for chunk := range chunks(items, rowsPerInsert) {
		var v sqlValues
		v.q.Grow(len(head) + width*valueSize)
		v.q.WriteString(head)
		for i, item := range chunk {
			if i > 0 {
				v.q.WriteString(", ")
			}
			v.q.WriteByte('(')
			v.n = 0 // a row is a list of its own
			row(&v, item)
			v.q.WriteByte(')')
			if i == 0 && len(chunk) > 1 {
				rowSize := v.q.Len() - len(head) + len(", ")
				v.q.Grow(rowSize * (len(chunk) - 1) * 9 / 8)
			}
		}
		stmts = append(stmts, v.stmt())
	}
	return stmts
}

// valueSize is about the bytes of one value in a statement's text: a
// millisecond time or an id, and its separator.
const valueSize = 16

// sqlValues builds a statement's text with its values in it: integers as
// literals, and strings of plain characters quoted, neither of which
// needs escaping; any other string is a placeholder and an argument. So
// a group commit's thousands of values are neither boxed into arguments
// one by one nor converted and escaped by the driver.
type sqlValues struct {
	q       strings.Builder
	args    []any
	scratch [20]byte
	n       int // values written in the current row, for the commas
}

// sep writes the comma before every value but a row's first.
func (v *sqlValues) sep() {
	if v.n > 0 {
		v.q.WriteString(", ")
	}
	v.n++
}

// int writes an integer, the next value of a list.
func (v *sqlValues) int(n int64) {
	v.sep()
	v.lit(n)
}

// lit writes an integer alone, not as a value of a list.
func (v *sqlValues) lit(n int64) { v.q.Write(strconv.AppendInt(v.scratch[:0], n, 10)) }

// str writes a string.
func (v *sqlValues) str(s string) {
	v.sep()
	if plain(s) {
		v.q.WriteByte('\'')
		v.q.WriteString(s)
		v.q.WriteByte('\'')
		return
	}
	v.q.WriteByte('?')
	v.args = append(v.args, s)
}

// nullStr writes a string, NULL when empty.
func (v *sqlValues) nullStr(s string) {
	if s == "" {
		v.sep()
		v.q.WriteString("NULL")
		return
	}
	v.str(s)
}

// keyed writes an idempotency key and the hash of the request that used
// it first, both NULL without a key: the hash is only ever compared with
// a repeat of the key, and retention drops the two together. A hot
// product's holds mostly have no key, and their rows go without 64
// characters of hash each.
func (v *sqlValues) keyed(key, hash string) {
	v.nullStr(key)
	if key == "" {
		hash = ""
	}
	v.nullStr(hash)
}

// nullID writes an id, NULL when zero: no row.
func (v *sqlValues) nullID(id int64) {
	if id == 0 {
		v.sep()
		v.q.WriteString("NULL")
		return
	}
	v.int(id)
}

// cases writes "CASE id WHEN id(0) THEN … END" for n rows, value writing
// the i-th row's value.
func (v *sqlValues) cases(n int, id func(int) int64, value func(int)) {
	v.q.WriteString("CASE id")
	for i := range n {
		v.q.WriteString(" WHEN ")
		v.lit(id(i))
		v.q.WriteString(" THEN ")
		v.n = 0
		value(i)
	}
	v.q.WriteString(" END")
	v.n = 0
}

// whereIDs writes " WHERE id IN (...)" of n ids, id(i) each: the rows an
// UPDATE written with cases changes.
func (v *sqlValues) whereIDs(n int, id func(int) int64) {
	v.q.WriteString(" WHERE id IN (")
	v.n = 0
	for i := range n {
		v.int(id(i))
	}
	v.q.WriteString(")")
	v.n = 0
}

// stmt is the statement written, ready for the next row.
func (v *sqlValues) stmt() stmt {
	v.n = 0
	return stmt{v.q.String(), v.args}
}

// plain reports whether a string may be quoted in a statement as it is:
// letters, digits, '_' and '-', which mean the same to every SQL parser
// and character set.
func plain(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// inIDs returns statements of the form prefix + "1, 2, 3" + suffix, for
// at most rowsPerInsert ids each, with args the arguments of prefix.
// Integer ids are written into the text; others are arguments after args.
func inIDs[T int64 | string](prefix, suffix string, ids []T, args ...any) []stmt {
	if len(ids) == 0 {
		return nil
	}
	stmts := make([]stmt, 0, (len(ids)+rowsPerInsert-1)/rowsPerInsert)
	for chunk := range chunks(ids, rowsPerInsert) {
		v := sqlValues{args: args[:len(args):len(args)]}
		v.q.Grow(len(prefix) + len(suffix) + len(chunk)*valueSize)
		v.q.WriteString(prefix)
		for _, id := range chunk {
			switch id := any(id).(type) {
			case int64:
				v.int(id)
			case string:
				v.str(id)
			}
		}
		v.q.WriteString(suffix)
		stmts = append(stmts, v.stmt())
	}
	return stmts
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

// unixMilli converts stored milliseconds to a UTC time.
func unixMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
