package store

import (
	"context"
	"database/sql"
	"errors"
	"flashsale"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Every sentinel the root package declares passes translate unchanged,
// so a new one cannot be left out of domainErrors.
func TestDomainErrorsAreEverySentinel(t *testing.T) {
	files, err := filepath.Glob("../*.go")
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			spec, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range spec.Names {
				if !strings.HasPrefix(name.Name, "Err") || i >= len(spec.Values) {
					continue
				}
				call, ok := spec.Values[i].(*ast.CallExpr)
				if !ok || len(call.Args) != 1 {
					continue
				}
				if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					msg, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					declared = append(declared, msg)
				}
			}
			return true
		})
	}
	var listed []string
	for _, e := range domainErrors {
		listed = append(listed, e.Error())
		if translate(e) != e {
			t.Errorf("translate(%v) changed it", e)
		}
	}
	slices.Sort(declared)
	slices.Sort(listed)
	if len(declared) == 0 || !slices.Equal(declared, listed) {
		t.Fatalf("package flashsale declares the sentinels %q; domainErrors lists %q", declared, listed)
	}
}

// SQLite's busy database is told by its result code: retried, and
// unavailable once the retries are spent.
func TestSQLiteBusyIsRetryable(t *testing.T) {
	ctx := context.Background()
	dsn := "file:" + filepath.Join(t.TempDir(), "busy.db") + "?_txlock=immediate&_pragma=busy_timeout(0)"
	var conns [2]*sql.DB
	for i := range conns {
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		conns[i] = db
	}
	tx, err := conns[0].BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // the test only needs the lock
	_, err = conns[1].BeginTx(ctx, nil)
	if err == nil {
		t.Fatal("a second writer began while the first held the lock")
	}
	if !retryable(err) || !errors.Is(translate(err), flashsale.ErrUnavailable) {
		t.Fatalf("%v: retryable %v, translated to %v; want retryable and unavailable", err, retryable(err), translate(err))
	}
}

// The MySQL driver answers a connection it could not write its first
// packet to (while it sets a new connection up, reading
// max_allowed_packet) with an unexported error, not driver.ErrBadConn:
// it is the database being unreachable, a 503, not a 500.
func TestDriverNoWriteErrorIsUnavailable(t *testing.T) {
	for _, err := range []error{errors.New("bad connection"), fmt.Errorf("connect: %w", errors.New("bad connection"))} {
		if got := translate(err); !errors.Is(got, flashsale.ErrUnavailable) {
			t.Errorf("translate(%v) = %v, want unavailable", err, got)
		}
	}
	if got := translate(errors.New("bad connection string")); errors.Is(got, flashsale.ErrUnavailable) {
		t.Errorf("translate matched an error that only begins with the driver's text: %v", got)
	}
}
