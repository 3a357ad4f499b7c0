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
)

// MySQL server error numbers this package acts on.
const (
	mysqlDuplicateEntry  = 1062
	mysqlLockWaitTimeout = 1205
	mysqlDeadlock        = 1213
	mysqlCheckViolated   = 4025 // MariaDB; MySQL says 3819
	mysqlCheckViolated8  = 3819
)

// retryable reports whether a transaction failed only because of lock
// contention and may run again from the start.
func retryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == mysqlDeadlock || me.Number == mysqlLockWaitTimeout
	}
	return err != nil && strings.Contains(err.Error(), "SQLITE_BUSY")
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
	var me *mysql.MySQLError
	if errors.As(err, &me) && (me.Number == mysqlCheckViolated || me.Number == mysqlCheckViolated8) {
		return versionConflict(err)
	}
	if strings.Contains(err.Error(), "CHECK constraint failed") {
		return versionConflict(err)
	}
	return err
}

func isDomain(err error) bool {
	for _, d := range []error{
		flashsale.ErrProductNotFound, flashsale.ErrHoldNotFound, flashsale.ErrInsufficientStock,
		flashsale.ErrIdempotencyConflict, flashsale.ErrStockBelowCommitted,
		flashsale.ErrUnavailable, flashsale.ErrVersionConflict,
	} {
		if errors.Is(err, d) {
			return true
		}
	}
	return false
}

func isUnavailable(err error) bool {
	var (
		me     *mysql.MySQLError
		netErr net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn),
		errors.Is(err, sql.ErrConnDone), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &netErr):
		return true
	case errors.As(err, &me):
		// Lock contention that outlived the retries, and the server
		// refusing or dropping us.
		return me.Number == mysqlDeadlock || me.Number == mysqlLockWaitTimeout ||
			me.Number == 1040 || me.Number == 1053 || me.Number == 2002 || me.Number == 2003 ||
			me.Number == 2006 || me.Number == 2013
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked") ||
		strings.Contains(msg, "sql: database is closed")
}

func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == mysqlDuplicateEntry
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// versionConflict marks err as another writer's doing: the actor reloads.
func versionConflict(err error) error {
	return fmt.Errorf("%w: %v", flashsale.ErrVersionConflict, err)
}
