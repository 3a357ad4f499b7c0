package httpapi

import (
	"context"
	"net/http"
	"time"
)

// healthz answers while the process runs.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readiness is what /readyz asks of the products' service besides the
// database: in a cluster, whether this node is a member and takes writes.
type readiness interface {
	Ready() error
}

// readyz answers 200 while the database answers and, in a cluster, while
// this node is a member; 503 otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return err
	}
	if p, ok := s.products.(readiness); ok {
		if err := p.Ready(); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
