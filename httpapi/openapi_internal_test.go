package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gorilla/mux"
	"github.com/rs/zerolog"
)

// TestEveryRouteIsDocumented fails when a route of the router, or one of
// its methods, is missing from the OpenAPI document, or when the document
// names a route the router does not have. The profiling endpoints are not
// part of the API and the document says so.
func TestEveryRouteIsDocumented(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	s := New(Config{}, nil, nil, zerolog.Nop())
	routed := map[string]bool{}
	err = s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		if strings.HasPrefix(path, "/debug/pprof/") {
			return nil
		}
		methods, err := route.GetMethods()
		if err != nil {
			t.Errorf("route %s answers every method; document which", path)
			return nil
		}
		for _, m := range methods {
			if m == http.MethodOptions {
				continue // CORS preflights are answered for every route; they are not operations
			}
			routed[m+" "+path] = true
			if !documented[m+" "+path] {
				t.Errorf("route %s %s is not in the OpenAPI document", m, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for op := range documented {
		if !routed[op] {
			t.Errorf("the OpenAPI document has %s, which no route serves", op)
		}
	}
	if len(routed) == 0 || !routed[http.MethodGet+" /openapi.json"] {
		t.Fatalf("routes walked: %v; want the API's, /openapi.json among them", routed)
	}
}
