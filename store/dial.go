// Package store keeps flashsale's state in SQLite (the zero-setup default)
// or MySQL/MariaDB (production). Both dialects share every method; they
// differ only in how a transaction locks the product row: MySQL reads it
// with SELECT ... FOR UPDATE, SQLite takes the database write lock at
// BEGIN IMMEDIATE. On MySQL the actors' group commits also have
// connections of their own, which send many statements per round trip
// (writer.go).
//
// Every write method follows one shape: begin, defer Rollback, small helpers
// that take the transaction, commit. Deadlocks and lock-wait timeouts are
// retried; other driver errors are translated into the domain's errors.
package store

import (
	"context"
	"database/sql"
	"errors"
	"flashsale"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

type dialect int

const (
	dialectSQLite dialect = iota
	dialectMySQL
)

// DB is the store. It is safe for concurrent use.
type DB struct {
	db *sql.DB
	// writer, on MySQL only, is the pool of connections that commit
	// batches, which send many statements at once; see commitPacked.
	writer  *sql.DB
	dialect dialect
	log     zerolog.Logger
	// earlyTTL is how long a webhook recorded before its order stays
	// good for that order; see SetEarlyWebhookTTL.
	earlyTTL time.Duration
}

// ErrBadURL is returned by Open for a database URL it cannot use.
var ErrBadURL = errors.New("bad database URL")

// Open connects to the database named by url: "sqlite://PATH" (so
// "sqlite:///tmp/x.db" is absolute and "sqlite://:memory:" is in memory) or
// "mysql://" followed by a go-sql-driver DSN. A MySQL database that does
// not exist yet is created. Open checks that the database answers.
func Open(ctx context.Context, url string, log zerolog.Logger) (*DB, error) {
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		return openSQLite(ctx, strings.TrimPrefix(url, "sqlite://"), log)
	case strings.HasPrefix(url, "mysql://"):
		return openMySQL(ctx, strings.TrimPrefix(url, "mysql://"), log)
	default:
		return nil, fmt.Errorf("%w: want sqlite://PATH or mysql://DSN", ErrBadURL)
	}
}

func openSQLite(ctx context.Context, path string, log zerolog.Logger) (*DB, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: sqlite:// needs a path", ErrBadURL)
	}
	// WAL with synchronous=FULL: a commit is on disk before the client
	// hears yes. _txlock=immediate makes every transaction take the write
	// lock at BEGIN, SQLite's equivalent of SELECT ... FOR UPDATE.
	// temp_store=MEMORY keeps the statement journals of a group commit's
	// multi-row statements in memory: past 64 KiB SQLite spills them to a
	// temporary file, a write(2) per page (a tenth of the server's CPU
	// under spread), though nothing in them outlives the transaction.
	// The path goes into a URI: a '?' or '#' in it would end the path.
	escaped := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	dsn := "file:" + escaped + "?_txlock=immediate" +
		"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_pragma=temp_store(MEMORY)"
	if path != ":memory:" {
		dsn += "&_pragma=journal_mode(WAL)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	// One connection: SQLite has one writer anyway, and a single
	// connection queues in Go instead of sleeping in busy_timeout. It also
	// keeps a :memory: database alive and shared.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	d := &DB{db: db, dialect: dialectSQLite, log: log}
	if err := d.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

func openMySQL(ctx context.Context, dsn string, log zerolog.Logger) (*DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	if cfg.DBName == "" {
		return nil, fmt.Errorf("%w: the MySQL DSN names no database", ErrBadURL)
	}
	if err := createDatabase(ctx, cfg); err != nil {
		return nil, err
	}
	// Without interpolateParams every statement with arguments is a
	// server-side prepare, execute and close: three round trips where one
	// does, and round trips are most of a batch's time. The driver still
	// escapes every value; a DSN may turn it off.
	if !strings.Contains(dsn, "interpolateParams=") {
		cfg.InterpolateParams = true
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	db := sql.OpenDB(connector)
	// Few connections: each product actor has at most one transaction in
	// flight and batches behind it, and MariaDB allows 151 connections for
	// every process on the server.
	db.SetMaxOpenConns(12)
	db.SetMaxIdleConns(12)
	db.SetConnMaxLifetime(5 * time.Minute)
	writer, err := openWriter(cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	d := &DB{db: db, writer: writer, dialect: dialectMySQL, log: log}
	if err := d.Ping(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// createDatabase creates the DSN's database when it is missing, connected
// to the server without selecting a database.
func createDatabase(ctx context.Context, cfg *mysql.Config) error {
	server := cfg.Clone()
	server.DBName = ""
	connector, err := mysql.NewConnector(server)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	name := strings.ReplaceAll(cfg.DBName, "`", "``")
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+name+"`"); err != nil {
		return fmt.Errorf("%w: create database %q: %v", flashsale.ErrUnavailable, cfg.DBName, err)
	}
	return nil
}

// Ping reports whether the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.db.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", flashsale.ErrUnavailable, err)
	}
	return nil
}

// Close closes the connections.
func (d *DB) Close() error {
	if d.writer != nil {
		d.writer.Close()
	}
	return d.db.Close()
}

// forUpdate is the row-lock suffix of a SELECT inside a write transaction.
// SQLite has none; its transactions start with the write lock taken.
func (d *DB) forUpdate() string {
	if d.dialect == dialectMySQL {
		return " FOR UPDATE"
	}
	return ""
}

// insertKeepingExisting is an INSERT of n values that leaves an existing
// row with the same unique key as it is.
func (d *DB) insertKeepingExisting(table, key, columns string, n int) string {
	insert := "INSERT INTO " + table + " (" + columns + ") VALUES (" + placeholders(n) + ")"
	if d.dialect == dialectMySQL {
		return insert + " ON DUPLICATE KEY UPDATE " + key + " = " + key
	}
	return insert + " ON CONFLICT (" + key + ") DO NOTHING"
}

// transactAttempts bounds the retries of a transaction that lost a lock.
const transactAttempts = 6

// transact runs fn in a transaction: begin, defer Rollback, fn, commit.
// Deadlocks and lock-wait timeouts roll back everything fn did, so the
// whole function is retried, after a short random pause that lets the
// winner finish.
func (d *DB) transact(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return retry(ctx, func() error { return d.transactOnce(ctx, fn) })
}

// retry runs a transaction until it ends otherwise than by losing a lock,
// at most transactAttempts times, and translates its error.
func retry(ctx context.Context, transaction func() error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = transaction()
		if !retryable(err) || attempt == transactAttempts {
			break
		}
		pause := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		select {
		case <-ctx.Done():
			return translate(err)
		case <-time.After(pause):
		}
	}
	return translate(err)
}

func (d *DB) transactOnce(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
