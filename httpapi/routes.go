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
	// Outermost first: the log line and the request id wrap everything,
	// a panic included; CORS headers are set before a handler writes.
	middleware := []mux.MiddlewareFunc{s.logRequests, s.recoverPanics, s.cors, s.limitTime}
	r.Use(middleware...)
	// Misses skip the router's middleware; they get it here, so that they
	// are logged, counted and carry a request id like any answer. A CORS
	// preflight is such a miss: no route serves OPTIONS.
	r.NotFoundHandler = chain(
		s.handle(func(http.ResponseWriter, *http.Request) error { return errRouteNotFound }), middleware...)
	r.MethodNotAllowedHandler = chain(s.handle(s.methodNotAllowed), middleware...)

	r.Handle("/healthz", s.handle(s.healthz)).Methods(http.MethodGet)
	r.Handle("/readyz", s.handle(s.readyz)).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.HandlerFor(s.cfg.Metrics, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	r.Handle("/openapi.json", s.handle(s.openAPI)).Methods(http.MethodGet)

	r.Handle("/api/products", s.handle(s.listProducts)).Methods(http.MethodGet)
	r.Handle("/api/products/{id}", s.handle(s.getProduct)).Methods(http.MethodGet)

	r.Handle("/api/holds", s.handle(s.createHold)).Methods(http.MethodPost)
	r.Handle("/api/holds/{id}", s.handle(s.getHold)).Methods(http.MethodGet)

	r.Handle("/api/orders", s.handle(s.createOrder)).Methods(http.MethodPost)
	r.Handle("/api/orders/{id}", s.handle(s.getOrder)).Methods(http.MethodGet)

	r.Handle("/api/payments/webhook", s.handle(s.paymentWebhook)).Methods(http.MethodPost)

	r.Handle("/api/admin/products", s.requireAdmin(s.handle(s.createProduct))).Methods(http.MethodPost)
	r.Handle("/api/admin/products/{id}", s.requireAdmin(s.handle(s.patchProduct))).Methods(http.MethodPatch)
	r.Handle("/api/admin/products/{id}/events", s.requireAdmin(s.handle(s.productEvents))).Methods(http.MethodGet)
	r.Handle("/api/admin/cluster", s.requireAdmin(s.handle(s.clusterMembers))).Methods(http.MethodGet)
	r.Handle("/api/admin/cluster/products/{id}", s.requireAdmin(s.handle(s.productOwner))).Methods(http.MethodGet)

	// Profiling, for the admin only: a profile shows what the code does.
	r.Handle("/debug/pprof/cmdline", s.requireAdmin(http.HandlerFunc(pprof.Cmdline)))
	r.Handle("/debug/pprof/profile", s.requireAdmin(http.HandlerFunc(pprof.Profile)))
	r.Handle("/debug/pprof/symbol", s.requireAdmin(http.HandlerFunc(pprof.Symbol)))
	r.Handle("/debug/pprof/trace", s.requireAdmin(http.HandlerFunc(pprof.Trace)))
	r.PathPrefix("/debug/pprof/").Handler(s.requireAdmin(http.HandlerFunc(pprof.Index)))
}
