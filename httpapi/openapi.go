package httpapi

import (
	_ "embed" // the OpenAPI document
	"net/http"
)

// openAPIDocument describes every route of the API in OpenAPI 3.1. It is
// kept by hand next to the handlers; a test sends a request for every
// documented status of every operation, validates each answer against it,
// and fails when a route is missing from it.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPI is GET /openapi.json.
func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument) // the client may have gone; nothing to do
	return nil
}
