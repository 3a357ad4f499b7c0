package httpapi

import (
	"bytes"
	"context"
	"flashsale"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// placedHolds answers every hold at once, so that a benchmark measures
// the HTTP layer alone: the actors have benchmarks of their own.
type placedHolds struct{ Products }

func (placedHolds) PlaceHold(_ context.Context, productID, qty int64, key string) (flashsale.Hold, error) {
	return flashsale.Hold{ID: 12345, ProductID: productID, Qty: qty, Status: flashsale.HoldActive,
		ExpiresAt: time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC), IdempotencyKey: key}, nil
}

// benchWriter is the least a ResponseWriter does.
type benchWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *benchWriter) Header() http.Header         { return w.header }
func (w *benchWriter) WriteHeader(status int)      { w.status = status }
func (w *benchWriter) Write(b []byte) (int, error) { return w.body.Write(b) }

// BenchmarkCreateHold is POST /api/holds through the router and every
// middleware, configured as the server is by default (CORS for any
// origin, a time limit of 5 s) but logging at warn, as load tests run
// it: at info every request writes a line.
func BenchmarkCreateHold(b *testing.B) {
	s := New(Config{RequestTimeout: 5 * time.Second, CORSOrigins: []string{"*"}}, placedHolds{}, nil,
		zerolog.New(io.Discard).Level(zerolog.WarnLevel))
	const body = `{"product_id":1,"qty":1}`
	req, err := http.NewRequest(http.MethodPost, "/api/holds", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = int64(len(body)) // as a client declares it
	w := &benchWriter{header: http.Header{}}
	var r strings.Reader
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(body)
		req.Body = io.NopCloser(&r)
		clear(w.header)
		w.body.Reset()
		s.ServeHTTP(w, req)
	}
	if w.status != http.StatusCreated {
		b.Fatalf("status %d: %s", w.status, w.body.String())
	}
}

// BenchmarkDecodeObject decodes a hold's body.
func BenchmarkDecodeObject(b *testing.B) {
	body := []byte(`{"product_id":1,"qty":1}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeObject(body); err != nil {
			b.Fatal(err)
		}
	}
}
