package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"flashsale/httpapi"
	"flashsale/store/storetest"
)

// apiDoc is the server's OpenAPI document, loaded, with a router over it.
type apiDoc struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	seen   map[string]bool // "operationId status" of every answer validated
}

// loadAPIDoc fetches /openapi.json from s and checks that it is a valid
// OpenAPI 3.1 document.
func loadAPIDoc(t *testing.T, s *testServer) *apiDoc {
	t.Helper()
	res, err := s.client.Get(s.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json = %d, %v", res.StatusCode, err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("loading the OpenAPI document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("the document is OpenAPI %s; want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	// The router matches paths on any host: the test servers' addresses
	// are not the document's example server.
	routed := *doc
	routed.Servers = nil
	router, err := gorillamux.NewRouter(&routed)
	if err != nil {
		t.Fatal(err)
	}
	return &apiDoc{t: t, doc: doc, router: router, seen: map[string]bool{}}
}

// call sends a request to s, checks that it is answered with status, and
// validates the answer against the document. It returns the decoded JSON
// body, if any.
func (a *apiDoc) call(s *testServer, status int, method, path, body string, header ...string) map[string]any {
	a.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := s.client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	what := fmt.Sprintf("%s %s", method, path)
	if len(what) > 80 {
		what = what[:80] + "…"
	}
	if res.StatusCode != status {
		a.t.Fatalf("%s = %d %s; want %d", what, res.StatusCode, raw, status)
	}
	route, params, err := a.router.FindRoute(req)
	if err != nil {
		a.t.Fatalf("%s: not in the OpenAPI document: %v", what, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(raw)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		a.t.Fatalf("%s = %d %s: does not match the OpenAPI document: %v", what, res.StatusCode, raw, err)
	}
	a.seen[fmt.Sprintf("%s %d", route.Operation.OperationID, status)] = true
	var v map[string]any
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &v); err != nil {
			a.t.Fatalf("%s: %v", what, err)
		}
	}
	return v
}

// untested lists the documented answers no call produced.
func (a *apiDoc) untested() []string {
	var missing []string
	for path, item := range a.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status := range op.Responses.Map() {
				if !a.seen[op.OperationID+" "+status] {
					missing = append(missing, fmt.Sprintf("%s %s %s (%s)", method, path, status, op.OperationID))
				}
			}
		}
	}
	slices.Sort(missing)
	return missing
}

// TestOpenAPIDocumentMatchesTheAPI sends a request for every documented
// answer of every operation, success and error, and validates what comes
// back against the document served at /openapi.json, so that the two
// cannot drift apart. Routes missing from the document are caught by
// TestEveryRouteIsDocumented.
func TestOpenAPIDocumentMatchesTheAPI(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect, withWebhookSecret(webhookSecret))
		m := c.testServer
		noAdmin := newTestServer(t, dialect, withoutAdmin())
		down := newTestServer(t, dialect)
		if err := down.DB.Close(); err != nil { // every request that needs the database: 503
			t.Fatal(err)
		}
		a := loadAPIDoc(t, m)
		admin := []string{"Authorization", "Bearer " + adminToken}
		big := `{"pad":"` + strings.Repeat("x", 70<<10) + `"}`
		signed := func(body string) []string {
			return []string{"X-Signature", httpapi.SignWebhook(webhookSecret, []byte(body))}
		}
		id := func(v map[string]any, field string) string { return itoa(num(v[field])) }

		a.call(m, 200, "GET", "/openapi.json", "")
		a.call(m, 200, "GET", "/healthz", "")
		a.call(m, 200, "GET", "/readyz", "")
		a.call(m, 200, "GET", "/metrics", "")

		a.call(m, 200, "GET", "/api/products/1", "")
		a.call(m, 404, "GET", "/api/products/999999", "")

		hold := a.call(m, 201, "POST", "/api/holds", `{"product_id":1,"qty":1}`, "Idempotency-Key", "hold-1")
		a.call(m, 400, "POST", "/api/holds", `{"product_id":1,`)
		a.call(m, 404, "POST", "/api/holds", `{"product_id":999999,"qty":1}`)
		a.call(m, 409, "POST", "/api/holds", `{"product_id":1,"qty":1000}`)
		a.call(m, 413, "POST", "/api/holds", big)
		a.call(m, 422, "POST", "/api/holds", `{"product_id":1,"qty":0}`)
		a.call(m, 200, "GET", "/api/holds/"+id(hold, "hold_id"), "")
		a.call(m, 404, "GET", "/api/holds/999999", "")

		order := a.call(m, 201, "POST", "/api/orders", `{"hold_id":`+id(hold, "hold_id")+`}`, "Idempotency-Key", "order-1")
		o := id(order, "order_id")
		a.call(m, 409, "POST", "/api/orders", `{"hold_id":`+id(hold, "hold_id")+`}`)
		a.call(m, 400, "POST", "/api/orders", `[]`)
		a.call(m, 404, "POST", "/api/orders", `{"hold_id":999999}`)
		a.call(m, 413, "POST", "/api/orders", big)
		a.call(m, 422, "POST", "/api/orders", `{"hold_id":"x"}`)
		a.call(m, 200, "GET", "/api/orders/"+o, "")
		a.call(m, 404, "GET", "/api/orders/999999", "")

		webhook := func(status int, body string, header ...string) {
			t.Helper()
			a.call(m, status, "POST", "/api/payments/webhook", body, header...)
		}
		paid := `{"idempotency_key":"pay-1","order_id":` + o + `,"status":"success"}`
		webhook(200, paid, signed(paid)...)
		early := `{"idempotency_key":"pay-early","order_id":` + itoa(num(order["order_id"])+1) + `,"status":"success"}`
		webhook(202, early, signed(early)...)
		webhook(401, paid)
		stray := `{"idempotency_key":"pay-stray","order_id":999999,"status":"success"}`
		webhook(404, stray, signed(stray)...)
		reused := `{"idempotency_key":"pay-1","order_id":` + o + `,"status":"failed"}`
		webhook(409, reused, signed(reused)...)
		webhook(400, `{`, signed(`{`)...)
		webhook(413, big, signed(big)...)
		invalid := `{"idempotency_key":"","order_id":0,"status":"paid"}`
		webhook(422, invalid, signed(invalid)...)

		product := a.call(m, 201, "POST", "/api/admin/products", `{"name":"Widget","price":"1.50","stock":5}`, admin...)
		p := id(product, "id")
		a.call(m, 400, "POST", "/api/admin/products", `{`, admin...)
		a.call(m, 401, "POST", "/api/admin/products", `{"name":"Widget","price":"1.50","stock":5}`)
		a.call(noAdmin, 403, "POST", "/api/admin/products", `{"name":"Widget","price":"1.50","stock":5}`)
		a.call(m, 413, "POST", "/api/admin/products", big, admin...)
		a.call(m, 422, "POST", "/api/admin/products", `{"name":"","price":"1.555","stock":-1}`, admin...)

		a.call(m, 200, "PATCH", "/api/admin/products/"+p, `{"stock":7}`, admin...)
		a.call(m, 400, "PATCH", "/api/admin/products/"+p, `{`, admin...)
		a.call(m, 401, "PATCH", "/api/admin/products/"+p, `{"stock":7}`, "Authorization", "Bearer wrong")
		a.call(noAdmin, 403, "PATCH", "/api/admin/products/1", `{"stock":7}`)
		a.call(m, 404, "PATCH", "/api/admin/products/999999", `{"stock":7}`, admin...)
		a.call(m, 409, "PATCH", "/api/admin/products/1", `{"stock":0}`, admin...)
		a.call(m, 413, "PATCH", "/api/admin/products/"+p, big, admin...)
		a.call(m, 422, "PATCH", "/api/admin/products/"+p, `{"stock":-1}`, admin...)

		a.call(m, 200, "GET", "/api/admin/products/1/events?after=0&limit=10", "", admin...)
		a.call(m, 401, "GET", "/api/admin/products/1/events", "")
		a.call(noAdmin, 403, "GET", "/api/admin/products/1/events", "")
		a.call(m, 404, "GET", "/api/admin/products/999999/events", "", admin...)
		a.call(m, 422, "GET", "/api/admin/products/1/events?limit=0", "", admin...)

		clustered := newClusterTestServer(t, dialect)
		for _, path := range []string{"/api/admin/cluster", "/api/admin/cluster/products/7"} {
			a.call(clustered, 200, "GET", path, "", admin...)
			a.call(m, 401, "GET", path, "")
			a.call(noAdmin, 403, "GET", path, "")
			a.call(m, 404, "GET", path, "", admin...) // not a cluster
		}

		if page := a.call(m, 200, "GET", "/api/products?limit=1", ""); page["next_after"] == nil {
			t.Fatalf("the first of two pages has next_after null")
		}
		if page := a.call(m, 200, "GET", "/api/products?after=1", ""); page["next_after"] != nil {
			t.Fatalf("the last page has next_after %v; want null", page["next_after"])
		}
		a.call(m, 422, "GET", "/api/products?after=x&limit=501", "")

		// With the database gone, every operation that needs it says so.
		a.call(down, 503, "GET", "/readyz", "")
		a.call(down, 503, "GET", "/api/products", "")
		a.call(down, 503, "GET", "/api/products/1", "")
		a.call(down, 503, "POST", "/api/holds", `{"product_id":1,"qty":1}`)
		a.call(down, 503, "GET", "/api/holds/1", "")
		a.call(down, 503, "POST", "/api/orders", `{"hold_id":1}`)
		a.call(down, 503, "GET", "/api/orders/1", "")
		a.call(down, 503, "POST", "/api/payments/webhook", `{"idempotency_key":"k","order_id":1,"status":"success"}`)
		a.call(down, 503, "POST", "/api/admin/products", `{"name":"Widget","price":"1.50","stock":5}`, admin...)
		a.call(down, 503, "PATCH", "/api/admin/products/1", `{"stock":7}`, admin...)
		a.call(down, 503, "GET", "/api/admin/products/1/events", "", admin...)

		if missing := a.untested(); len(missing) > 0 {
			t.Fatalf("documented answers no request of this test produced:\n%s", strings.Join(missing, "\n"))
		}
	})
}
