package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gorilla/mux"
)

// CORS lets a checkout page served from another origin call the API from
// a browser. Only /api/ answers carry it: /metrics, the probes and
// profiling are for operators, not for pages.
const (
	corsAllowHeaders  = "Content-Type, Idempotency-Key, X-Request-Id, X-Signature, Authorization"
	corsExposeHeaders = "X-Request-Id, Retry-After"
	corsMaxAge        = "600" // seconds a browser may reuse a preflight's answer
)

// ParseOrigins reads a comma-separated list of origins allowed to call the
// API from a browser: "*" for any, or scheme://host[:port] each, as a
// browser sends them in Origin. An empty list turns CORS off.
func ParseOrigins(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var origins []string
	for _, o := range strings.Split(list, ",") {
		o = strings.TrimSpace(o)
		if o == "*" {
			origins = append(origins, o)
			continue
		}
		// A trailing slash is a common slip when copying a site's address.
		u, err := url.Parse(strings.TrimSuffix(o, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			return nil, fmt.Errorf("%q is not an origin: want * or scheme://host[:port], such as https://shop.example", o)
		}
		origins = append(origins, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	if len(origins) > 1 && slices.Contains(origins, "*") {
		return nil, fmt.Errorf("%q: * allows every origin and stands alone", list)
	}
	return origins, nil
}

// corsPolicy is which origins may call the API from a browser.
type corsPolicy struct {
	any     bool            // "*": every origin, answered with *
	origins map[string]bool // else these, each answered with itself
}

func newCORSPolicy(origins []string) corsPolicy {
	p := corsPolicy{origins: map[string]bool{}}
	for _, o := range origins {
		if o == "*" {
			p.any = true
		}
		p.origins[strings.ToLower(o)] = true
	}
	return p
}

func (p corsPolicy) off() bool { return len(p.origins) == 0 }

// allowOrigin is the Access-Control-Allow-Origin a request from origin
// gets; ok is false for an origin not allowed.
func (p corsPolicy) allowOrigin(origin string) (allow string, ok bool) {
	switch {
	case origin == "":
		return "", false
	case p.any:
		return "*", true
	case p.origins[strings.ToLower(origin)]:
		return origin, true
	}
	return "", false
}

// cors answers the preflight a browser sends before a cross-origin request
// that carries JSON or our headers, and marks /api/ answers readable by
// the allowed origins. A preflight never reaches a handler: no /api/
// route serves OPTIONS, so without this it would be a 405. An origin not
// allowed gets no CORS header, and its preflight is the 405 any OPTIONS
// gets, so that its browser keeps the answer from the page.
func (s *Server) cors(next http.Handler) http.Handler {
	if s.origins.off() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		if !s.origins.any {
			// The answer names the origin, so a cache must keep one per origin.
			h.Add("Vary", "Origin")
		}
		allow, ok := s.origins.allowOrigin(r.Header.Get("Origin"))
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if allow == "*" {
			h["Access-Control-Allow-Origin"] = corsAnyOrigin
		} else {
			h.Set("Access-Control-Allow-Origin", allow)
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if methods := s.allowedMethods(r); len(methods) > 0 {
				h.Set("Access-Control-Allow-Methods", strings.Join(methods, ", "))
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				h.Set("Access-Control-Max-Age", corsMaxAge)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		h["Access-Control-Expose-Headers"] = corsExposeList
		next.ServeHTTP(w, r)
	})
}

// allowedMethods lists, sorted, the methods the router's routes serve at
// r's path: what a 405 names in Allow and a preflight in
// Access-Control-Allow-Methods.
func (s *Server) allowedMethods(r *http.Request) []string {
	var methods []string
	_ = s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		// A route matches the path when it matches the request outright
		// or fails on the method alone.
		var match mux.RouteMatch
		if !route.Match(r, &match) && match.MatchErr != mux.ErrMethodMismatch {
			return nil
		}
		if ms, err := route.GetMethods(); err == nil {
			methods = append(methods, ms...)
		}
		return nil
	})
	slices.Sort(methods)
	return slices.Compact(methods)
}

// methodNotAllowed answers a known path asked with a method it does not
// serve, naming those it does.
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) error {
	if methods := s.allowedMethods(r); len(methods) > 0 {
		w.Header().Set("Allow", strings.Join(methods, ", "))
	}
	return errMethodNotAllowed
}
