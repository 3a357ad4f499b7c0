package httpapi

import (
	"net/http"
)

// routes lists every route of the API, grouped by resource.
func (s *Server) routes() {
	r := s.router
	r.Use(s.recoverPanics, s.logRequests, s.limitTime)
	r.NotFoundHandler = s.handle(func(http.ResponseWriter, *http.Request) error { return errRouteNotFound })
	r.MethodNotAllowedHandler = s.handle(func(http.ResponseWriter, *http.Request) error { return errMethodNotAllowed })

	r.Handle("/healthz", s.handle(s.healthz)).Methods(http.MethodGet)
	r.Handle("/readyz", s.handle(s.readyz)).Methods(http.MethodGet)

	api := r.PathPrefix("/api").Subrouter()
	api.Handle("/products/{id}", s.handle(s.getProduct)).Methods(http.MethodGet)
	api.Handle("/holds", s.handle(s.createHold)).Methods(http.MethodPost)
	api.Handle("/holds/{id}", s.handle(s.getHold)).Methods(http.MethodGet)

	admin := api.PathPrefix("/admin").Subrouter()
	admin.Use(s.requireAdmin)
	admin.Handle("/products", s.handle(s.createProduct)).Methods(http.MethodPost)
	admin.Handle("/products/{id}", s.handle(s.patchProduct)).Methods(http.MethodPatch)
}
