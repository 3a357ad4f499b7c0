package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
)

// TestPanicIsLoggedAndCountedWithItsRequest: a handler that panics gets a
// 500 that carries the request id (and CORS headers, so that a page can
// read it), and the panic and the request are logged with that id and
// counted under the route like any answer.
func TestPanicIsLoggedAndCountedWithItsRequest(t *testing.T) {
	var logs bytes.Buffer
	s := New(Config{CORSOrigins: []string{"*"}}, nil, nil, zerolog.New(&logs))
	s.route("/api/test/panic", s.handle(func(http.ResponseWriter, *http.Request) error {
		panic("boom")
	}), http.MethodPost)

	req := httptest.NewRequest(http.MethodPost, "/api/test/panic", nil)
	req.Header.Set("X-Request-Id", "panic-req-1")
	req.Header.Set("Origin", "http://shop.test")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)

	if rec.Code != http.StatusInternalServerError || rec.Body.String() != `{"message":"Internal server error"}`+"\n" {
		t.Fatalf("panic answer = %d %q; want 500 Internal server error", rec.Code, rec.Body.String())
	}
	if got := rec.Header().Get("X-Request-Id"); got != "panic-req-1" {
		t.Errorf("panic answer X-Request-Id = %q; want panic-req-1", got)
	}
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("panic answer Access-Control-Allow-Origin = %q; want *", got)
	}

	var panicked, logged bool
	for _, line := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
		var e map[string]any
		if len(line) == 0 {
			continue
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if e["request_id"] != "panic-req-1" || e["route"] != "/api/test/panic" {
			t.Errorf("log line without the request's id and route: %s", line)
		}
		switch e["message"] {
		case "handler panicked":
			panicked = e["panic"] == "boom" && e["level"] == "error"
		case "request":
			logged = e["status"] == 500.0
		}
	}
	if !panicked || !logged {
		t.Errorf("want an error line for the panic and a request line with status 500; the log:\n%s", logs.String())
	}
	var counted dto.Metric
	if err := s.metrics.requests.WithLabelValues("/api/test/panic", "500").Write(&counted); err != nil {
		t.Fatal(err)
	}
	if n := counted.GetCounter().GetValue(); n != 1 {
		t.Errorf("flashsale_http_requests_total{route=/api/test/panic,status=500} = %v; want 1", n)
	}
}

// TestStaticRoutes: the routes without variables are found without the
// router, with their methods only; the others are left to it.
func TestStaticRoutes(t *testing.T) {
	s := New(Config{}, nil, nil, zerolog.Nop())
	for _, r := range []staticRoute{{http.MethodPost, "/api/holds"}, {http.MethodPost, "/api/orders"},
		{http.MethodPost, "/api/payments/webhook"}, {http.MethodGet, "/healthz"}, {http.MethodPost, "/api/admin/products"}} {
		if _, ok := s.static[r]; !ok {
			t.Errorf("%s %s is not served without the router", r.method, r.path)
		}
	}
	for _, r := range []staticRoute{{http.MethodGet, "/api/holds"}, {http.MethodGet, "/api/holds/{id}"},
		{http.MethodGet, "/debug/pprof/profile"}, {http.MethodOptions, "/api/holds"}} {
		if _, ok := s.static[r]; ok {
			t.Errorf("%s %s is served without the router", r.method, r.path)
		}
	}
}
