package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"flashsale/actors"
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

type serverOption func(*actors.Config, *httpapi.Config)

func withHoldTTL(d time.Duration) serverOption {
	return func(c *actors.Config, _ *httpapi.Config) { c.HoldTTL = d }
}

func withPaymentTTL(d time.Duration) serverOption {
	return func(c *actors.Config, _ *httpapi.Config) { c.PaymentTTL = d }
}

func withWebhookSecret(secret string) serverOption {
	return func(_ *actors.Config, c *httpapi.Config) { c.WebhookSecret = secret }
}

func withoutAdmin() serverOption {
	return func(_ *actors.Config, c *httpapi.Config) { c.AdminToken = "" }
}

func newTestServer(t *testing.T, dialect string, opts ...serverOption) *testServer {
	t.Helper()
	db := storetest.Open(t, dialect)
	if _, err := db.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	acfg := actors.DefaultConfig()
	hcfg := httpapi.Config{AdminToken: adminToken, RequestTimeout: 10 * time.Second}
	for _, o := range opts {
		o(&acfg, &hcfg)
	}
	registry := actors.NewRegistry(acfg, db, zerolog.Nop())
	srv := httptest.NewServer(httpapi.New(hcfg, registry, db, zerolog.Nop()))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := registry.Drain(ctx); err != nil {
			t.Errorf("drain: %v", err)
		}
	})
	transport := &http.Transport{MaxIdleConnsPerHost: 512}
	t.Cleanup(transport.CloseIdleConnections)
	return &testServer{t: t, URL: srv.URL, DB: db, client: &http.Client{Transport: transport, Timeout: 20 * time.Second},
		webhookSecret: hcfg.WebhookSecret}
}

// response is a status and a decoded JSON body.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (s *testServer) do(method, path, body string, header ...string) response {
	s.t.Helper()
	res, raw := s.send(method, path, body, header...)
	r := response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal([]byte(raw), &r.Body); err != nil {
			s.t.Fatalf("%s %s: body is not a JSON object: %q", method, path, raw)
		}
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		s.t.Fatalf("%s %s: Content-Type %q; want application/json", method, path, ct)
	}
	return r
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

// checkBooks asserts that the API, the product row and the holds table
// agree: stock − available = units in active holds.
func (s *testServer) checkBooks(productID, wantHeld int64) {
	s.t.Helper()
	st, err := s.DB.LoadProduct(context.Background(), productID)
	if err != nil {
		s.t.Fatal(err)
	}
	var sum int64
	for _, h := range st.ActiveHolds {
		sum += h.Qty
	}
	api := s.available(productID)
	if st.Product.Held != wantHeld || sum != wantHeld || api != st.Product.Stock-wantHeld {
		s.t.Fatalf("books: row held %d, active holds sum %d, API available %d of stock %d; want held %d",
			st.Product.Held, sum, api, st.Product.Stock, wantHeld)
	}
}

func itoa(n any) string {
	b, _ := json.Marshal(n)
	return string(b)
}
