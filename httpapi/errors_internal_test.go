package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// TestInternalErrorsLeakNothing: an unexpected error reaches the client as
// a bare "Internal server error"; its detail goes to the log only.
func TestInternalErrorsLeakNothing(t *testing.T) {
	var logs strings.Builder
	s := &Server{log: zerolog.New(&logs)}
	req := httptest.NewRequest(http.MethodGet, "/api/holds/1", nil)
	req = req.WithContext(zerolog.New(&logs).WithContext(req.Context()))
	rec := httptest.NewRecorder()
	s.writeError(rec, req, errors.New("Error 1054: Unknown column 'secret' in 'SELECT * FROM holds WHERE id = 1'"))
	if rec.Code != http.StatusInternalServerError || rec.Body.String() != `{"message":"Internal server error"}`+"\n" {
		t.Fatalf("500 answer = %d %q", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "Unknown column") {
		t.Fatalf("the log lacks the detail: %s", logs.String())
	}
}
