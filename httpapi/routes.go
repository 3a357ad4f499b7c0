package httpapi

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes lists every route of the API, grouped by resource. Routes sit on
// the one router rather than on subrouters, because a gorilla subrouter
// answers a wrong method with 404 instead of 405.
func (s *Server) routes() {
	r := s.router
	// Misses get the middleware too, so that they are logged, counted
	// and carry a request id like any answer. A CORS preflight is such a
	// miss: no route serves OPTIONS.
	r.NotFoundHandler = s.wrap(unmatched, s.handle(func(http.ResponseWriter, *http.Request) error { return errRouteNotFound }))
	r.MethodNotAllowedHandler = s.wrap(unmatched, s.handle(s.methodNotAllowed))

	s.route("/healthz", s.handle(s.healthz), http.MethodGet)
	s.route("/readyz", s.handle(s.readyz), http.MethodGet)
	s.route("/metrics", promhttp.HandlerFor(s.cfg.Metrics, promhttp.HandlerOpts{}), http.MethodGet)
	s.route("/openapi.json", s.handle(s.openAPI), http.MethodGet)

	s.route("/api/products", s.handle(s.listProducts), http.MethodGet)
	s.route("/api/products/{id}", s.handle(s.getProduct), http.MethodGet)

	s.route("/api/holds", s.handle(s.createHold), http.MethodPost)
	s.route("/api/holds/{id}", s.handle(s.getHold), http.MethodGet)

	s.route("/api/orders", s.handle(s.createOrder), http.MethodPost)
	s.route("/api/orders/{id}", s.handle(s.getOrder), http.MethodGet)

	s.route("/api/payments/webhook", s.handle(s.paymentWebhook), http.MethodPost)

	s.route("/api/admin/products", s.requireAdmin(s.handle(s.createProduct)), http.MethodPost)
	s.route("/api/admin/products/{id}", s.requireAdmin(s.handle(s.patchProduct)), http.MethodPatch)
	s.route("/api/admin/products/{id}/events", s.requireAdmin(s.handle(s.productEvents)), http.MethodGet)
	s.route("/api/admin/cluster", s.requireAdmin(s.handle(s.clusterMembers)), http.MethodGet)
	s.route("/api/admin/cluster/products/{id}", s.requireAdmin(s.handle(s.productOwner)), http.MethodGet)

	// Profiling, for the admin only: a profile shows what the code does.
	s.route("/debug/pprof/cmdline", s.requireAdmin(http.HandlerFunc(pprof.Cmdline)))
	s.route("/debug/pprof/profile", s.requireAdmin(http.HandlerFunc(pprof.Profile)))
	s.route("/debug/pprof/symbol", s.requireAdmin(http.HandlerFunc(pprof.Symbol)))
	s.route("/debug/pprof/trace", s.requireAdmin(http.HandlerFunc(pprof.Trace)))
	const pprofIndex = "/debug/pprof/"
	r.PathPrefix(pprofIndex).Handler(s.wrap(pprofIndex, s.requireAdmin(http.HandlerFunc(pprof.Index))))
}

// route serves the path pattern with h, inside the middleware, to the
// methods given, or to any when none is. A pattern without variables
// asked with one of its methods is found in a map, before the router:
// gorilla's matching tries each route's regular expression in turn and
// copies the request twice to carry what it found, which such a route
// does not use. It goes in the map only if the router itself matches it
// to this route, so that the map answers as the router would.
func (s *Server) route(pattern string, h http.Handler, methods ...string) {
	h = s.wrap(pattern, h)
	route := s.router.Handle(pattern, h)
	if len(methods) == 0 {
		return
	}
	route.Methods(methods...)
	if strings.Contains(pattern, "{") {
		return
	}
	for _, m := range methods {
		var match mux.RouteMatch
		if req, err := http.NewRequest(m, pattern, nil); err == nil && s.router.Match(req, &match) && match.Route == route {
			s.static[staticRoute{method: m, path: pattern}] = h
		}
	}
}

// staticRoute is a method and a path that a route without variables
// serves.
type staticRoute struct{ method, path string }

// unmatched is the route a miss is logged and counted under.
const unmatched = "unmatched"

// wrap puts h inside the middleware every answer gets, outermost first:
// the log line, the request id and the time limit wrap everything, a
// panic included; CORS headers are set before a handler writes. route is
// h's pattern, which the log and the metrics name instead of the raw
// path. The chain is built once per route: the router's Use would build
// it for every request.
func (s *Server) wrap(route string, h http.Handler) http.Handler {
	return s.logRequests(route, s.recoverPanics(s.cors(h)))
}
