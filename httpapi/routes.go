package httpapi

import (
	"net/http"
	"net/http/pprof"

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

	s.route("/healthz", s.handle(s.healthz)).Methods(http.MethodGet)
	s.route("/readyz", s.handle(s.readyz)).Methods(http.MethodGet)
	s.route("/metrics", promhttp.HandlerFor(s.cfg.Metrics, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	s.route("/openapi.json", s.handle(s.openAPI)).Methods(http.MethodGet)

	s.route("/api/products", s.handle(s.listProducts)).Methods(http.MethodGet)
	s.route("/api/products/{id}", s.handle(s.getProduct)).Methods(http.MethodGet)

	s.route("/api/holds", s.handle(s.createHold)).Methods(http.MethodPost)
	s.route("/api/holds/{id}", s.handle(s.getHold)).Methods(http.MethodGet)

	s.route("/api/orders", s.handle(s.createOrder)).Methods(http.MethodPost)
	s.route("/api/orders/{id}", s.handle(s.getOrder)).Methods(http.MethodGet)

	s.route("/api/payments/webhook", s.handle(s.paymentWebhook)).Methods(http.MethodPost)

	s.route("/api/admin/products", s.requireAdmin(s.handle(s.createProduct))).Methods(http.MethodPost)
	s.route("/api/admin/products/{id}", s.requireAdmin(s.handle(s.patchProduct))).Methods(http.MethodPatch)
	s.route("/api/admin/products/{id}/events", s.requireAdmin(s.handle(s.productEvents))).Methods(http.MethodGet)

	// Profiling, for the admin only: a profile shows what the code does.
	s.route("/debug/pprof/cmdline", s.requireAdmin(http.HandlerFunc(pprof.Cmdline)))
	s.route("/debug/pprof/profile", s.requireAdmin(http.HandlerFunc(pprof.Profile)))
	s.route("/debug/pprof/symbol", s.requireAdmin(http.HandlerFunc(pprof.Symbol)))
	s.route("/debug/pprof/trace", s.requireAdmin(http.HandlerFunc(pprof.Trace)))
	const pprofIndex = "/debug/pprof/"
	r.PathPrefix(pprofIndex).Handler(s.wrap(pprofIndex, s.requireAdmin(http.HandlerFunc(pprof.Index))))
}

// route serves the path pattern with h, inside the middleware.
func (s *Server) route(pattern string, h http.Handler) *mux.Route {
	return s.router.Handle(pattern, s.wrap(pattern, h))
}

// unmatched is the route a miss is logged and counted under.
const unmatched = "unmatched"

// wrap puts h inside the middleware every answer gets, outermost first:
// the log line and the request id wrap everything, a panic included; CORS
// headers are set before a handler writes. route is h's pattern, which
// the log and the metrics name instead of the raw path. The chain is
// built once per route: the router's Use would build it for every
// request.
func (s *Server) wrap(route string, h http.Handler) http.Handler {
	return s.logRequests(route, s.recoverPanics(s.cors(s.limitTime(h))))
}
