package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// On MySQL a group commit's time is mostly round trips, and the database
// is fastest when each transaction is short: so a group commit is sent in
// as few packets of several statements as it can, on connections of their
// own. Most groups are one packet (see fence.go):
//
//	START TRANSACTION; UPDATE products ... IF(version = 7, 8, NULL) ...;
//	INSERT INTO holds ...; ...; COMMIT
//
// each write failing unless the row it changes is as the batches expect.
// Should one fail, or should the group be one that must read first, it is
// sent in two packets:
//
//	START TRANSACTION; SELECT ... FOR UPDATE; SELECT ... FOR UPDATE; ...
//	UPDATE products ...; INSERT INTO holds ...; ...; COMMIT
//
// where every check is made on the rows the first packet read and locked,
// before the second is sent. The server stops at the first statement of a
// packet that fails, so a refused write never reaches the COMMIT. With one
// packet the rows are locked only while the server runs it, not across a
// round trip, and a round trip saved is a wakeup of the database and of
// the writer saved: on a machine busy with requests, each cost a hot
// product's actor, waiting for its commit, about a millisecond.
//
// Only these connections accept several statements in one query, and
// only CommitBatches and LoadProducts use them: a query built from a
// client's input that slipped a quote could otherwise run statements of
// its own. A value is
// written into the text only when it needs no escaping (an integer, a
// string of letters, digits, '_' and '-': see sqlValues); any other is
// sent as an argument, escaped by the driver's interpolateParams.

const (
	// writerConns bounds the writer's connections: each commits one group
	// at a time, and the actors run a few writers.
	writerConns = 8
	// writerLockWait is how long, in seconds, a writer's statement waits
	// for a row lock before MySQL gives up (1205, retried): the locks it
	// meets are held for a round trip or two, unless a writer died between
	// its two packets, and then waiting longer does not help.
	writerLockWait = "2"
	// writerIdle is how long, in seconds, the server keeps a writer's
	// connection that sends nothing: it bounds how long a writer frozen
	// between its two packets keeps its row locks. The pool lets go of
	// idle connections well before that.
	writerIdle     = "60"
	writerIdlePool = 30 * time.Second
	// packetSize bounds the statements sent in one packet, well under
	// MySQL's max_allowed_packet (4 MiB by default before 8.0, 16 MiB on
	// MariaDB); a larger group takes a round trip more per packet.
	packetSize = 1 << 20
)

// openWriter opens the writer's pool on the server and database of cfg.
func openWriter(cfg *mysql.Config) (*sql.DB, error) {
	w := cfg.Clone()
	w.MultiStatements = true
	// Without it the driver would prepare a packet on the server, which
	// cannot take several statements.
	w.InterpolateParams = true
	if w.Params == nil {
		w.Params = map[string]string{}
	}
	for name, value := range map[string]string{"innodb_lock_wait_timeout": writerLockWait, "wait_timeout": writerIdle} {
		if _, set := w.Params[name]; !set {
			w.Params[name] = value
		}
	}
	mode, err := strictMode(w.Params["sql_mode"])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	w.Params["sql_mode"] = mode
	connector, err := mysql.NewConnector(w)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(writerConns)
	db.SetMaxIdleConns(writerConns)
	db.SetConnMaxIdleTime(writerIdlePool)
	db.SetConnMaxLifetime(5 * time.Minute)
	return db, nil
}

// commitPacked commits a group on a writer connection in two round trips,
// or one (commitFenced), retried as transact retries.
func (d *DB) commitPacked(ctx context.Context, g *group) error {
	return retry(ctx, func() error { return d.commitPackedOnce(ctx, g) })
}

func (d *DB) commitPackedOnce(ctx context.Context, g *group) error {
	conn, err := d.writer.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	open := true // a transaction may be open on conn
	defer func() {
		if open {
			abandon(ctx, conn)
		}
	}()
	begin := beginTx
	if g.locked == nil && g.fenceable() {
		err := g.commitFenced(ctx, conn)
		if !errors.Is(err, errFenceFailed) {
			open = err != nil
			return err
		}
		// A row was not as the batches expect: the reads of two packets
		// tell which batch that refuses. The first also rolls back what
		// the failed packet wrote before its fence, saving the round
		// trip of a ROLLBACK of its own.
		begin = "ROLLBACK; " + beginTx
	}
	if err := queryPacked(ctx, conn, begin, g.reads()); err != nil {
		return err
	}
	g.tellLocked()
	if !g.check() {
		return nil
	}
	if err := execPacked(ctx, conn, g.writes()); err != nil {
		return writeRefused(err)
	}
	open = false
	return nil
}

// readPacked runs reads in one transaction on a writer's connection: the
// reads in one packet, then the COMMIT.
func (d *DB) readPacked(ctx context.Context, rs []read) error {
	conn, err := d.writer.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := queryPacked(ctx, conn, beginTx, rs); err != nil {
		abandon(ctx, conn)
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		abandon(ctx, conn)
		return err
	}
	return nil
}

// abandon ends the transaction a failed or refused group left open on
// conn: rolled back, or, when the connection cannot say that it was, the
// connection is closed, which rolls it back on the server. It must not go
// back to the pool open: the next START TRANSACTION would commit it.
func abandon(ctx context.Context, conn *sql.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // closes it
	}
}

// beginTx begins the transaction of a packet of reads.
const beginTx = "START TRANSACTION; "

// queryPacked runs begin, which begins a transaction, and reads, in as
// few packets as packetSize allows, each read's rows one result set (the
// driver skips the results of begin's statements, which have no rows).
func queryPacked(ctx context.Context, conn *sql.Conn, begin string, rs []read) error {
	stmts := make([]stmt, len(rs))
	for i, r := range rs {
		stmts[i] = r.stmt
	}
	done := 0
	for i, part := range packets(stmts) {
		if i == 0 {
			part.query = begin + part.query
		}
		if err := queryResults(ctx, conn, part.stmt, rs[done:done+part.n]); err != nil {
			return err
		}
		done += part.n
	}
	return nil
}

// queryResults sends one packet of reads and reads its result sets.
func queryResults(ctx context.Context, conn *sql.Conn, packet stmt, rs []read) error {
	rows, err := conn.QueryContext(ctx, packet.query, packet.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for i, r := range rs {
		if i > 0 && !rows.NextResultSet() {
			if err := rows.Err(); err != nil {
				return err
			}
			return fmt.Errorf("a packet of %d reads gave %d result sets", len(rs), i)
		}
		for rows.Next() {
			if err := r.row(rows); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return rows.Close()
}

// execPacked runs writes and commits, in as few packets as packetSize
// allows, the last one ending with the COMMIT.
func execPacked(ctx context.Context, conn *sql.Conn, writes []stmt) error {
	all := packets(append(writes, stmt{query: "COMMIT"}))
	for _, packet := range all {
		if _, err := conn.ExecContext(ctx, packet.query, packet.args...); err != nil {
			return err
		}
	}
	return nil
}

// packet is statements joined into one query, n of them.
type packet struct {
	stmt
	n int
}

// packets joins statements into multi-statement packets of at most
// packetSize bytes, as far as can be told before the driver escapes the
// values; a statement larger than that goes alone.
func packets(stmts []stmt) []packet {
	var (
		all   []packet
		cur   packet
		query strings.Builder
		size  int
		left  int // bytes of the statements not yet in a packet
	)
	for _, s := range stmts {
		left += len(s.query) + 2
	}
	query.Grow(min(left, packetSize))
	flush := func() {
		cur.query = query.String()
		all = append(all, cur)
		cur, size = packet{}, 0
		query = strings.Builder{}
		query.Grow(min(left, packetSize))
	}
	for _, s := range stmts {
		n := stmtSize(s)
		if cur.n > 0 && size+n > packetSize {
			flush()
		}
		if cur.n > 0 {
			query.WriteString("; ")
		}
		query.WriteString(s.query)
		left -= len(s.query) + 2
		cur.args = append(cur.args, s.args...)
		cur.n++
		size += n
	}
	if cur.n > 0 {
		flush()
	}
	return all
}

// stmtSize estimates the bytes of a statement once its values are in it.
func stmtSize(s stmt) int {
	n := len(s.query) + 2
	for _, a := range s.args {
		switch v := a.(type) {
		case string:
			n += 2*len(v) + 2
		case sql.NullString:
			n += 2*len(v.String) + 4
		default:
			n += 24
		}
	}
	return n
}

// strictMode is the sql_mode of the writer's connections: the URL's, or
// the server's, with STRICT_TRANS_TABLES added, under which a NULL written
// to a NOT NULL column fails its statement rather than writing 0, as the
// version fence needs. The driver sends a URL's sql_mode as SQL, so only
// a list of modes, quoted or not, is taken.
func strictMode(given string) (string, error) {
	if given == "" {
		return "CONCAT(@@sql_mode, ',STRICT_TRANS_TABLES')", nil
	}
	modes := strings.Trim(given, "'")
	for _, c := range modes {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_' || c == ',') {
			return "", fmt.Errorf("sql_mode %q: want a list of modes, such as 'ANSI,NO_ZERO_DATE'", given)
		}
	}
	return "'" + modes + ",STRICT_TRANS_TABLES'", nil
}
