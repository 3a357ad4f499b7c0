// Package migrations holds the schema as SQL files embedded in the binary,
// one set per dialect because MySQL and SQLite spell auto-increment, engines
// and indexes differently. Times are stored as integer Unix milliseconds so
// that no driver sends nanoseconds that defeat an index.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed mysql/*.sql
var mysqlFS embed.FS

//go:embed sqlite/*.sql
var sqliteFS embed.FS

// MySQL returns the migrations for MySQL and MariaDB.
func MySQL() fs.FS { return sub(mysqlFS, "mysql") }

// SQLite returns the migrations for the embedded SQLite store.
func SQLite() fs.FS { return sub(sqliteFS, "sqlite") }

func sub(f embed.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the directory is embedded above; this cannot fail
	}
	return s
}
