// Package storetest gives each test a fresh, migrated database of its own:
// an SQLite file in a temporary directory, or a new MySQL database on the
// server named by FLASHSALE_TEST_MYSQL_DSN, dropped when the test ends.
// MySQL tests skip, saying so, when that variable is unset; CI sets it.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flashsale"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"

	"flashsale/store"
)

// EnvMySQLDSN names the variable holding a go-sql-driver DSN of a MySQL or
// MariaDB server whose user may create databases, such as
// root@tcp(127.0.0.1:3306)/test.
const EnvMySQLDSN = "FLASHSALE_TEST_MYSQL_DSN"

// Dialects are the databases every store-backed test runs against.
var Dialects = []string{"sqlite", "mysql"}

// Run runs f as a subtest once per dialect.
func Run(t *testing.T, f func(t *testing.T, dialect string)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) { f(t, d) })
	}
}

// RunParallel runs f as a parallel subtest once per dialect, in parallel
// with the other parallel tests.
func RunParallel(t *testing.T, f func(t *testing.T, dialect string)) {
	t.Helper()
	t.Parallel()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, d)
		})
	}
}

// URL creates a fresh, empty database and returns its flashsale URL
// (sqlite://PATH or mysql://DSN), for a test that starts the server.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case "sqlite":
		return "sqlite://" + filepath.Join(t.TempDir(), "flashsale.db")
	case "mysql":
		return "mysql://" + freshMySQL(t)
	}
	t.Fatalf("unknown dialect %q", dialect)
	return ""
}

// Open returns a store on a fresh, migrated database.
func Open(t testing.TB, dialect string) *store.DB {
	t.Helper()
	return OpenURL(t, URL(t, dialect))
}

// OpenURL opens and migrates the database at url, closing it when the
// test ends.
func OpenURL(t testing.TB, url string) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, url, zerolog.Nop())
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// CreateProduct adds a product of the given stock to db and returns its id.
func CreateProduct(t testing.TB, db *store.DB, stock int64) int64 {
	t.Helper()
	p, err := db.CreateProduct(context.Background(), flashsale.NewProduct{Name: "item", Price: 100, Stock: stock})
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// MySQLDSN returns the server DSN from the environment, or skips the test.
func MySQLDSN(t testing.TB) string {
	t.Helper()
	dsn := strings.TrimPrefix(os.Getenv(EnvMySQLDSN), "mysql://")
	if dsn == "" {
		t.Skipf("%s is unset: skipping the MySQL variant of this test", EnvMySQLDSN)
	}
	return dsn
}

// freshMySQL creates a database with a random name and drops it after the
// test. It returns the DSN that selects it.
func freshMySQL(t testing.TB) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(MySQLDSN(t))
	if err != nil {
		t.Fatalf("%s: %v", EnvMySQLDSN, err)
	}
	server := cfg.Clone()
	server.DBName = ""
	admin, err := sql.Open("mysql", server.FormatDSN())
	if err != nil {
		t.Fatalf("%s: %v", EnvMySQLDSN, err)
	}
	t.Cleanup(func() { admin.Close() })
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "flashsale_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		t.Fatalf("create test database on %s: %v", server.Addr, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}
