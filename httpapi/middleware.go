package httpapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handlerFunc: a returned error is written by writeError.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// statusRecorder remembers the status a handler wrote, for the log, and
// holds the request's log fields.
type statusRecorder struct {
	http.ResponseWriter
	status int
	fields requestFields
}

// requestFields are what every log line of a request says of it. They
// are added to each line as it is written, by a hook of the request's
// logger, rather than to a logger made for each request: zerolog's With
// allocates a 500-byte buffer per logger, which every request would pay
// for, logged or not.
type requestFields struct{ method, route, id string }

// Run adds the fields to a line.
func (f *requestFields) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str("method", f.method).Str("route", f.route).Str("request_id", f.id)
}

func (rec *statusRecorder) WriteHeader(status int) {
	if rec.status == 0 {
		rec.status = status
	}
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *statusRecorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.ResponseWriter.Write(b)
}

// logRequests puts a request logger in the context and bounds the request
// by the configured timeout, echoes the request id, and logs and counts
// one line per request with the route pattern, not the raw path, so that
// lines group and metric labels stay bounded. The logger and the time
// limit share one copy of the request: each copy is a few hundred bytes
// that every request would pay for.
func (s *Server) logRequests(route string, next http.Handler) http.Handler {
	series := s.metrics.route(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := s.requestID(r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w, fields: requestFields{method: r.Method, route: route, id: id}}
		log := s.log.Hook(&rec.fields)
		ctx := log.WithContext(r.Context())
		if s.limits != nil {
			limited := s.limits.start(ctx)
			defer s.limits.end(limited)
			ctx = limited
		}
		next.ServeHTTP(rec, r.WithContext(ctx))
		took := time.Since(start)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		series.observe(rec.status, took)
		log.Info().Int("status", rec.status).Dur("duration", took).Msg("request")
	})
}

// requestID keeps a client's X-Request-Id when it is short and printable,
// and makes one otherwise: this process's random prefix and a counter, 16
// hex digits, unique without a system call per request.
func (s *Server) requestID(given string) string {
	if given != "" && len(given) <= 128 && printable(given) {
		return given
	}
	const digits = "0123456789abcdef"
	var id [16]byte
	copy(id[:8], s.idPrefix)
	for i, n := 15, s.idSeq.Add(1); i >= 8; i, n = i-1, n>>4 {
		id[i] = digits[n&0xf]
	}
	return string(id[:])
}

// newIDPrefix is 8 random hex digits, so that request ids of different
// processes differ.
func newIDPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on supported platforms
	return hex.EncodeToString(b[:])
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// recoverPanics turns a panic into a logged 500 instead of a dropped
// connection. It runs inside logRequests, so the panic is logged with the
// request's fields and the 500 is counted and carries the request id.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				zerolog.Ctx(r.Context()).Error().Interface("panic", v).Str("path", r.URL.Path).Msg("handler panicked")
				writeJSON(w, http.StatusInternalServerError, errorBody{Message: "Internal server error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// requireAdmin lets through requests that carry the admin token. The
// comparison takes the same time however much of the token matches.
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AdminToken == "" {
			s.writeError(w, r, errAdminDisabled)
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.AdminToken)) != 1 {
			s.writeError(w, r, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
