package bench

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWire checks the load's HTTP/1.1 client against net/http's server:
// the bodies it sends and the answers it reads, however they are framed.
func TestWire(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/base/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got", r.Method+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("X-Signature"))
		w.WriteHeader(http.StatusCreated)
		w.Write(body)
	})
	mux.HandleFunc("/base/chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first "))
		w.(http.Flusher).Flush() // no Content-Length: chunked
		w.Write([]byte("second"))
	})
	mux.HandleFunc("/base/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write([]byte("bye"))
	})
	mux.HandleFunc("/base/empty", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	w, err := newWire(srv.URL + "/base")
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	cases := []struct {
		method, path, body string
		status             int
		want               string
	}{
		{http.MethodPost, "/echo", `{"product_id":7,"qty":1}`, http.StatusCreated, `{"product_id":7,"qty":1}`},
		{http.MethodGet, "/chunked", "", http.StatusOK, "first second"},
		{http.MethodGet, "/empty", "", http.StatusNoContent, ""},
		{http.MethodGet, "/close", "", http.StatusOK, "bye"},
		{http.MethodGet, "/missing", "", http.StatusNotFound, "404 page not found\n"},
		{http.MethodPost, "/echo", `{}`, http.StatusCreated, `{}`}, // after a close: dials again
	}
	for _, tc := range cases {
		var body []byte
		if tc.body != "" {
			body = []byte(tc.body)
		}
		a := w.do(tc.method, tc.path, body, http.Header{"X-Signature": {"sig"}})
		if a.err != nil || a.status != tc.status || string(a.body) != tc.want {
			t.Errorf("%s %s: %d %q %v; want %d %q", tc.method, tc.path, a.status, a.body, a.err, tc.status, tc.want)
		}
	}

	srv.Close()
	if a := w.do(http.MethodGet, "/echo", nil, nil); a.err == nil {
		t.Errorf("a request to a closed server answered %d; want no answer", a.status)
	}
}

// TestDecodeHold is not parallel: it counts allocations.
func TestDecodeHold(t *testing.T) {
	cases := []struct {
		name, body string
		ok         bool
	}{
		{"compact", `{"hold_id":14,"product_id":1,"qty":1,"status":"active","expires_at":"2026-01-12T10:45:20Z"}` + "\n", true},
		{"spaced, through encoding/json", `{ "hold_id": 14, "product_id": 1, "qty": 1, "status": "active", "expires_at": "2026-01-12T10:45:20Z" }`, true},
		{"reordered", `{"status":"active","qty":1,"expires_at":"2026-01-12T10:45:20Z","product_id":1,"hold_id":14}`, true},
		{"a field missing", `{"hold_id":14,"product_id":1,"qty":1,"status":"active"}`, true},
		{"not JSON", `Created`, false},
	}
	for _, tc := range cases {
		h, ok := decodeHold([]byte(tc.body))
		if ok != tc.ok {
			t.Errorf("%s: ok %v; want %v", tc.name, ok, tc.ok)
			continue
		}
		if ok && (h.HoldID != 14 || h.ProductID != 1 || h.Qty != 1 || string(h.Status) != "active") {
			t.Errorf("%s: %+v", tc.name, h)
		}
		if ok && !strings.Contains(tc.body, "expires_at") != (len(h.ExpiresAt) == 0) {
			t.Errorf("%s: expires_at %q", tc.name, h.ExpiresAt)
		}
	}
	compact := []byte(cases[0].body)
	if n := testing.AllocsPerRun(100, func() { decodeHold(compact) }); n != 0 {
		t.Errorf("decoding a compact hold allocates %v times; want 0", n)
	}
}
