package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"

	"flashsale/migrations"
)

// migrationLockWait bounds how long a process waits for another one's
// migration: a migration that takes longer is stuck, and the caller's
// context may end the wait sooner.
const migrationLockWait = 5 * time.Minute

// Migrate applies the embedded migrations that have not run yet.
//
// On MySQL the whole run holds a named lock of the database, so that
// processes started together on a fresh database migrate one after
// another: the first applies everything, the others wait and then find
// nothing to do. Without it they all create the same tables and all but one
// fail. SQLite needs no lock: a file is not shared between machines.
func (d *DB) Migrate(ctx context.Context) (err error) {
	var (
		gd   goose.Dialect
		fsys fs.FS
	)
	switch d.dialect {
	case dialectMySQL:
		gd, fsys = goose.DialectMySQL, migrations.MySQL()
		unlock, lockErr := d.lockMigrations(ctx)
		if lockErr != nil {
			return lockErr
		}
		defer func() { err = errors.Join(err, unlock()) }()
	default:
		gd, fsys = goose.DialectSQLite3, migrations.SQLite()
	}
	p, err := goose.NewProvider(gd, d.db, fsys)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	for _, r := range results {
		d.log.Info().Str("migration", r.Source.Path).Dur("took", r.Duration).Msg("migration applied")
	}
	return nil
}

// lockMigrations takes MySQL's named lock of the database (GET_LOCK) on a
// connection of its own, which keeps it until unlock. It is not goose's
// session locker (goose v3.29 has one for Postgres only, and a hook for
// others): goose's Up first checks for pending migrations without the lock,
// creating its version table there, and on MySQL a second process can see
// that table before its first row and fail with "missing zero version".
//
// A named lock belongs to the session: a process that dies while holding it
// frees it with its connection, so nobody waits on a dead migrator.
func (d *DB) lockMigrations(ctx context.Context) (unlock func() error, err error) {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", translate(err))
	}
	name, err := migrationLockName(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("migration lock: %w", translate(err))
	}
	// GET_LOCK answers 1 when taken, 0 when the wait ran out, NULL on error.
	var got sql.NullInt64
	err = conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, int64(migrationLockWait.Seconds())).Scan(&got)
	switch {
	case err != nil:
		conn.Close()
		return nil, fmt.Errorf("migration lock %q: %w", name, translate(err))
	case !got.Valid || got.Int64 != 1:
		conn.Close()
		return nil, fmt.Errorf("migration lock %q: not taken within %v: another process is still migrating", name, migrationLockWait)
	}
	return func() error {
		// Released even when ctx has ended: the lock must not outlive the
		// migration.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, "DO RELEASE_LOCK(?)", name); err != nil {
			// The connection may still hold the lock: it must not go
			// back to the pool, where it would keep others waiting.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			conn.Close()
			return fmt.Errorf("migration unlock %q: %w", name, translate(err))
		}
		return conn.Close()
	}, nil
}

// migrationLockName is the lock of the connection's database. Named locks
// are server-wide; one per database lets different databases on one server
// (tests create many) migrate at the same time. MySQL refuses names longer
// than 64 characters, so a long database name is replaced by its hash.
func migrationLockName(ctx context.Context, conn *sql.Conn) (string, error) {
	var database string
	if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&database); err != nil {
		return "", err
	}
	const prefix = "flashsale_migrate."
	if len(prefix)+len(database) > 64 {
		sum := sha256.Sum256([]byte(database))
		database = hex.EncodeToString(sum[:16])
	}
	return prefix + database, nil
}
