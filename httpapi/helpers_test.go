package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flashsale"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"flashsale/actors"
	"flashsale/actors/actorstest"
	"flashsale/httpapi"
	"flashsale/store"
	"flashsale/store/storetest"
)

const adminToken = "test-admin-token"

// testServer is the real API, actors and store behind a real HTTP server.
type testServer struct {
	t      *testing.T
	URL    string
	DB     *store.DB
	client *http.Client
	// webhookSecret is the server's WebhookSecret, for tests that sign.
	webhookSecret string
}

// serverSettings are what a test server is started with.
type serverSettings struct {
	actors actors.Config
	api    httpapi.Config
	log    zerolog.Logger
}

type serverOption func(*serverSettings)

func withHoldTTL(d time.Duration) serverOption {
	return func(s *serverSettings) { s.actors.HoldTTL = d }
}

func withPaymentTTL(d time.Duration) serverOption {
	return func(s *serverSettings) { s.actors.PaymentTTL = d }
}

func withWebhookSecret(secret string) serverOption {
	return func(s *serverSettings) { s.api.WebhookSecret = secret }
}

// withClock gives the actors a clock the test moves.
func withClock(clock func() time.Time) serverOption {
	return func(s *serverSettings) { s.actors.Clock = clock }
}

func withoutAdmin() serverOption {
	return func(s *serverSettings) { s.api.AdminToken = "" }
}

// withMetrics has the API and the actors share one Prometheus registry,
// as the server's do.
func withMetrics(reg *prometheus.Registry) serverOption {
	return func(s *serverSettings) {
		s.api.Metrics = reg
		s.actors.Metrics = actors.NewMetrics(reg)
	}
}

// withLog has the API and the actors log to log.
func withLog(log zerolog.Logger) serverOption {
	return func(s *serverSettings) { s.log = log }
}

func newTestServer(t *testing.T, dialect string, opts ...serverOption) *testServer {
	t.Helper()
	db := storetest.Open(t, dialect)
	if _, err := db.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	set := serverSettings{
		actors: actors.DefaultConfig(),
		api:    httpapi.Config{AdminToken: adminToken, RequestTimeout: 10 * time.Second},
		log:    zerolog.Nop(),
	}
	for _, o := range opts {
		o(&set)
	}
	registry := actorstest.NewLoggedService(t, db, set.actors, set.log)
	srv := httptest.NewServer(httpapi.New(set.api, registry, db, set.log))
	t.Cleanup(srv.Close) // before the actors drain
	transport := &http.Transport{MaxIdleConnsPerHost: 512}
	t.Cleanup(transport.CloseIdleConnections)
	return &testServer{t: t, URL: srv.URL, DB: db, client: &http.Client{Transport: transport, Timeout: 20 * time.Second},
		webhookSecret: set.api.WebhookSecret}
}

// response is a status and a decoded JSON body.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// send makes a request, with header as name, value pairs, and returns
// the answer with its body read, whatever its content type.
func (s *testServer) send(method, path, body string, header ...string) (*http.Response, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewBufferString(body))
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return res, string(raw)
}

// do makes a request whose answer must be JSON.
func (s *testServer) do(method, path, body string, header ...string) response {
	s.t.Helper()
	res, raw := s.send(method, path, body, header...)
	h := res.Header
	r := response{Status: res.StatusCode, Header: h, Raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal([]byte(raw), &r.Body); err != nil {
			s.t.Fatalf("%s %s: body is not a JSON object: %q", method, path, raw)
		}
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		s.t.Fatalf("%s %s: Content-Type %q; want application/json", method, path, ct)
	}
	return r
}

func (s *testServer) admin(method, path, body string) response {
	s.t.Helper()
	return s.do(method, path, body, "Authorization", "Bearer "+adminToken)
}

// createProduct makes a product through the admin API and returns its id.
func (s *testServer) createProduct(stock int) int64 {
	s.t.Helper()
	r := s.admin(http.MethodPost, "/api/admin/products", `{"name":"Test item","price":"10.00","stock":`+itoa(stock)+`}`)
	if r.Status != http.StatusCreated {
		s.t.Fatalf("create product: %d %s", r.Status, r.Raw)
	}
	return int64(r.Body["id"].(float64))
}

// available reads available_stock through the API.
func (s *testServer) available(productID int64) int64 {
	s.t.Helper()
	r := s.do(http.MethodGet, "/api/products/"+itoa(productID), "")
	if r.Status != http.StatusOK {
		s.t.Fatalf("get product %d: %d %s", productID, r.Status, r.Raw)
	}
	return int64(r.Body["available_stock"].(float64))
}

// checkBooks asserts that the API, the product row and its holds and
// orders agree, with wantHeld units held: stock − available = units taken.
func (s *testServer) checkBooks(productID, wantHeld int64) {
	s.t.Helper()
	p := actorstest.CheckBooks(s.t, s.DB, productID).Product
	if api := s.available(productID); p.Held != wantHeld || api != p.Stock-wantHeld {
		s.t.Fatalf("books: row %+v, API available %d; want held %d", p.Counters, api, wantHeld)
	}
}

// awaitHold waits until the database has a hold in the given status.
func (s *testServer) awaitHold(id int64, status flashsale.HoldStatus, within time.Duration) {
	s.t.Helper()
	actorstest.Eventually(s.t, within, func() string {
		h, err := s.DB.Hold(context.Background(), id)
		if err != nil {
			s.t.Fatal(err)
		}
		if h.Status != status {
			return fmt.Sprintf("hold %d is %s in the database; want %s", id, h.Status, status)
		}
		return ""
	})
}

func itoa(n any) string {
	b, _ := json.Marshal(n)
	return string(b)
}
