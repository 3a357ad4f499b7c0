package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"flashsale/actors"
	"flashsale/actors/actorstest"
	"flashsale/httpapi"
	"flashsale/store/storetest"
)

// clustered are a test server's products as a node of a cluster shows
// them: the cluster endpoints need a node id, which a single process has
// not. The cluster itself runs in real processes (cmd/flashsale).
type clustered struct{ httpapi.Products }

func (clustered) ClusterNode() (string, []string) {
	return "127.0.0.1:7101", []string{"127.0.0.1:7101", "127.0.0.1:7102"}
}
func (clustered) ClusterOwner(int64) string { return "127.0.0.1:7102" }

func newClusterTestServer(t *testing.T, dialect string) *testServer {
	t.Helper()
	db := storetest.Open(t, dialect)
	service := actorstest.NewLoggedService(t, db, actors.DefaultConfig(), zerolog.Nop())
	srv := httptest.NewServer(httpapi.New(httpapi.Config{AdminToken: adminToken, RequestTimeout: 10 * time.Second},
		clustered{service}, db, zerolog.Nop()))
	t.Cleanup(srv.Close)
	return &testServer{t: t, URL: srv.URL, DB: db, client: &http.Client{Timeout: 20 * time.Second}}
}

// TestClusterEndpoints: a node says who it is, whom it sees and where a
// product lives; a single process has no such endpoints.
func TestClusterEndpoints(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newClusterTestServer(t, dialect)
		admin := []string{"Authorization", "Bearer " + adminToken}
		r := c.do("GET", "/api/admin/cluster", "", admin...)
		if r.Status != http.StatusOK || r.Body["node"] != "127.0.0.1:7101" || len(r.Body["members"].([]any)) != 2 {
			t.Fatalf("GET /api/admin/cluster = %d %v", r.Status, r.Body)
		}
		r = c.do("GET", "/api/admin/cluster/products/7", "", admin...)
		if r.Status != http.StatusOK || r.Body["owner"] != "127.0.0.1:7102" || r.Body["product_id"] != float64(7) {
			t.Fatalf("GET /api/admin/cluster/products/7 = %d %v", r.Status, r.Body)
		}
		single := newTestServer(t, dialect)
		if r := single.do("GET", "/api/admin/cluster", "", admin...); r.Status != http.StatusNotFound {
			t.Fatalf("a single process: GET /api/admin/cluster = %d; want 404", r.Status)
		}
	})
}
