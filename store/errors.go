package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"flashsale"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// MySQL error numbers this package acts on.
const (
	mysqlTooManyConnections = 1040 // ER_CON_COUNT_ERROR
	mysqlBadNull            = 1048 // ER_BAD_NULL_ERROR: how a fenced write fails
	mysqlNoReferencedRow    = 1452 // ER_NO_REFERENCED_ROW_2: a foreign key's row is missing
	mysqlServerShutdown     = 1053 // ER_SERVER_SHUTDOWN
	mysqlDuplicateEntry     = 1062 // ER_DUP_ENTRY
	mysqlLockWaitTimeout    = 1205 // ER_LOCK_WAIT_TIMEOUT
	mysqlDeadlock           = 1213 // ER_LOCK_DEADLOCK
	mysqlCheckViolated8     = 3819 // ER_CHECK_CONSTRAINT_VIOLATED, MySQL 8
	mysqlCheckViolated      = 4025 // ER_CONSTRAINT_FAILED, MariaDB
	// The client library's numbers for a server it cannot reach or lost.
	mysqlConnectionError = 2002 // CR_CONNECTION_ERROR
	mysqlConnHostError   = 2003 // CR_CONN_HOST_ERROR
	mysqlServerGone      = 2006 // CR_SERVER_GONE_ERROR
	mysqlServerLost      = 2013 // CR_SERVER_LOST
)

// mysqlCode is the server's error number of err, or 0 for another error.
func mysqlCode(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// sqliteCode is SQLite's extended result code of err, or 0 for another
// error. Its low byte is the primary code (SQLITE_BUSY, SQLITE_CONSTRAINT).
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

// retryable reports whether a transaction failed only because of lock
// contention and may run again from the start.
func retryable(err error) bool {
	switch mysqlCode(err) {
	case mysqlDeadlock, mysqlLockWaitTimeout:
		return true
	}
	return sqliteCode(err)&0xff == sqlite3.SQLITE_BUSY
}

// translate turns driver errors into domain errors. Domain errors pass
// through; connection trouble becomes flashsale.ErrUnavailable so that the
// client hears 503 and may retry. What is left is a bug and stays as it is.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if isDomain(err) {
		return err
	}
	if isUnavailable(err) {
		return fmt.Errorf("%w: %v", flashsale.ErrUnavailable, err)
	}
	if isCheckViolation(err) {
		return versionConflict(err)
	}
	return err
}

// domainErrors are the sentinels of package flashsale: every one of them
// passes translate unchanged.
var domainErrors = []error{
	flashsale.ErrProductNotFound, flashsale.ErrHoldNotFound, flashsale.ErrOrderNotFound, flashsale.ErrPaymentNotFound,
	flashsale.ErrInsufficientStock, flashsale.ErrHoldExpired, flashsale.ErrHoldUsed,
	flashsale.ErrIdempotencyConflict, flashsale.ErrStockBelowCommitted,
	flashsale.ErrUnavailable, flashsale.ErrVersionConflict,
}

func isDomain(err error) bool {
	for _, d := range domainErrors {
		if errors.Is(err, d) {
			return true
		}
	}
	return false
}

func isUnavailable(err error) bool {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn),
		// A connection cut in the middle of a packet leaves the driver
		// out of step with the server.
		errors.Is(err, mysql.ErrMalformPkt), errors.Is(err, mysql.ErrPktSync), errors.Is(err, mysql.ErrPktSyncMul),
		errors.Is(err, mysql.ErrBusyBuffer),
		errors.Is(err, sql.ErrConnDone), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &netErr):
		return true
	}
	switch mysqlCode(err) {
	// Lock contention that outlived the retries, and the server refusing
	// or dropping us.
	case mysqlDeadlock, mysqlLockWaitTimeout, mysqlTooManyConnections, mysqlServerShutdown,
		mysqlConnectionError, mysqlConnHostError, mysqlServerGone, mysqlServerLost:
		return true
	}
	// database/sql does not export its error for a closed *sql.DB, nor the
	// MySQL driver its error for a write that sent nothing (errBadConnNoWrite,
	// which escapes its markBadConn on some paths of a multi-statement packet).
	return sqliteCode(err)&0xff == sqlite3.SQLITE_BUSY || strings.Contains(err.Error(), "sql: database is closed") ||
		anyInChain(err, func(e error) bool { return e.Error() == "bad connection" })
}

// anyInChain reports whether match holds for err or any error it wraps.
func anyInChain(err error, match func(error) bool) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if match(err) {
			return true
		}
	}
	return false
}

func isDuplicate(err error) bool {
	if mysqlCode(err) == mysqlDuplicateEntry {
		return true
	}
	// A rowid or primary key is reported as PRIMARYKEY, a unique index as UNIQUE.
	switch sqliteCode(err) {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}

// fenceFailed reports whether a one-packet group commit failed because a
// row was not as its batches expect (see fence.go): a NULL where a write
// fences, or a row a foreign key names not there (a hold's product), which
// the first step's read of the versions tells as ErrProductNotFound.
func fenceFailed(err error) bool {
	switch mysqlCode(err) {
	case mysqlBadNull, mysqlNoReferencedRow:
		return true
	}
	return false
}

func isCheckViolation(err error) bool {
	switch mysqlCode(err) {
	case mysqlCheckViolated, mysqlCheckViolated8:
		return true
	}
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_CHECK
}

// versionConflict marks err as another writer's doing: the actor reloads.
func versionConflict(err error) error {
	return fmt.Errorf("%w: %v", flashsale.ErrVersionConflict, err)
}
