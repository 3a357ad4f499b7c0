package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// NextIDs reserves n consecutive ids of the named sequence ("hold" or
// "order") and returns the first. Callers take blocks, so this row is
// touched once per block, not once per hold.
func (d *DB) NextIDs(ctx context.Context, name string, n int64) (int64, error) {
	var first int64
	err := d.transact(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT next_value FROM sequences WHERE name = ?"+d.forUpdate(), name).Scan(&first)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no sequence named %q", name)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE sequences SET next_value = ? WHERE name = ?", first+n, name)
		return err
	})
	return first, err
}
