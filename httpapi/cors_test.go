package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"flashsale/httpapi"
	"flashsale/store/storetest"
)

func withCORS(origins ...string) serverOption {
	return func(s *serverSettings) { s.api.CORSOrigins = origins }
}

const shopOrigin = "http://shop.test:3000"

// preflight is what a browser sends before a cross-origin POST of JSON.
func preflight(origin, method string) []string {
	return []string{"Origin", origin, "Access-Control-Request-Method", method,
		"Access-Control-Request-Headers", "content-type,idempotency-key"}
}

// corsHeaders are the Access-Control-* headers of an answer.
func corsHeaders(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = v
		}
	}
	return out
}

// TestCORS: with origins configured, a preflight on any /api/ route is
// answered 204 with what the browser needs, and every /api/ answer, errors
// included, is readable by an allowed origin; other origins, other paths
// and a server with CORS off get no CORS header at all.
func TestCORS(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		listed := newTestServer(t, dialect, withCORS(shopOrigin, "https://other.test"))
		anyOrigin := newTestServer(t, dialect, withCORS("*"))
		off := newTestServer(t, dialect)

		allowHeaders := []string{"Content-Type", "Idempotency-Key", "X-Request-Id", "X-Signature", "Authorization"}
		preflights := []struct {
			name        string
			server      *testServer
			method      string // asked for in Access-Control-Request-Method
			path        string
			allowOrigin string // "" for no CORS header at all
			methods     string // Access-Control-Allow-Methods
			vary        bool
		}{
			{"hold from a listed origin", listed, "POST", "/api/holds", shopOrigin, "POST", true},
			{"product", listed, "GET", "/api/products/1", shopOrigin, "GET", true},
			{"hold by id", listed, "GET", "/api/holds/7", shopOrigin, "GET", true},
			{"order", listed, "POST", "/api/orders", shopOrigin, "POST", true},
			{"webhook", listed, "POST", "/api/payments/webhook", shopOrigin, "POST", true},
			{"admin create", listed, "POST", "/api/admin/products", shopOrigin, "POST", true},
			{"admin patch", listed, "PATCH", "/api/admin/products/1", shopOrigin, "PATCH", true},
			{"admin events", listed, "GET", "/api/admin/products/1/events", shopOrigin, "GET", true},
			{"any origin", anyOrigin, "POST", "/api/holds", "*", "POST", false},
		}
		for _, c := range preflights {
			res, body := c.server.send(http.MethodOptions, c.path, "", preflight(shopOrigin, c.method)...)
			h := res.Header
			if res.StatusCode != http.StatusNoContent || body != "" {
				t.Errorf("%s: preflight = %d %q; want 204 with no body", c.name, res.StatusCode, body)
				continue
			}
			if h.Get("Access-Control-Allow-Origin") != c.allowOrigin || h.Get("Access-Control-Allow-Methods") != c.methods ||
				h.Get("Access-Control-Max-Age") == "" {
				t.Errorf("%s: preflight headers %v; want origin %q, methods %q and a max age", c.name, corsHeaders(h), c.allowOrigin, c.methods)
			}
			for _, want := range allowHeaders {
				if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
					t.Errorf("%s: Access-Control-Allow-Headers %q lacks %s", c.name, h.Get("Access-Control-Allow-Headers"), want)
				}
			}
			if got := strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin"); got != c.vary {
				t.Errorf("%s: Vary %q; want Origin in it: %v", c.name, h.Values("Vary"), c.vary)
			}
		}

		answers := []struct {
			name        string
			server      *testServer
			method      string
			path        string
			origin      string
			status      int
			allowOrigin string // "" for no CORS header at all
		}{
			{"product to a listed origin", listed, "GET", "/api/products/1", shopOrigin, 200, shopOrigin},
			{"the other listed origin", listed, "GET", "/api/products/1", "https://other.test", 200, "https://other.test"},
			{"an error to a listed origin", listed, "POST", "/api/holds", shopOrigin, 400, shopOrigin},
			{"a miss to a listed origin", listed, "GET", "/api/products/999", shopOrigin, 404, shopOrigin},
			{"an admin refusal to a listed origin", listed, "PATCH", "/api/admin/products/1", shopOrigin, 401, shopOrigin},
			{"a wrong method to a listed origin", listed, "DELETE", "/api/holds", shopOrigin, 405, shopOrigin},
			{"an unknown path to a listed origin", listed, "GET", "/api/nothing", shopOrigin, 404, shopOrigin},
			{"product to any origin", anyOrigin, "GET", "/api/products/1", "https://anywhere.test", 200, "*"},
			{"an origin not listed", listed, "GET", "/api/products/1", "https://evil.test", 200, ""},
			{"a listed origin on another port", listed, "GET", "/api/products/1", "http://shop.test:3001", 200, ""},
			{"no origin", listed, "GET", "/api/products/1", "", 200, ""},
			{"not the API", listed, "GET", "/healthz", shopOrigin, 200, ""},
			{"metrics", anyOrigin, "GET", "/metrics", shopOrigin, 200, ""},
			{"CORS off", off, "GET", "/api/products/1", shopOrigin, 200, ""},
		}
		for _, c := range answers {
			var header []string
			if c.origin != "" {
				header = []string{"Origin", c.origin}
			}
			res, body := c.server.send(c.method, c.path, "", header...)
			h := res.Header
			if res.StatusCode != c.status {
				t.Errorf("%s: %s %s = %d %s; want %d", c.name, c.method, c.path, res.StatusCode, body, c.status)
			}
			if c.allowOrigin == "" {
				if len(corsHeaders(h)) > 0 {
					t.Errorf("%s: CORS headers %v; want none", c.name, corsHeaders(h))
				}
				continue
			}
			expose := h.Get("Access-Control-Expose-Headers")
			if h.Get("Access-Control-Allow-Origin") != c.allowOrigin || !strings.Contains(expose, "X-Request-Id") ||
				!strings.Contains(expose, "Retry-After") {
				t.Errorf("%s: CORS headers %v; want origin %q, exposing X-Request-Id and Retry-After", c.name, corsHeaders(h), c.allowOrigin)
			}
		}

		// A preflight that CORS does not answer is the 405 any OPTIONS
		// gets, with no CORS header: the browser keeps the answer from
		// the page.
		for name, c := range map[string]struct {
			server *testServer
			origin string
		}{"an origin not listed": {listed, "https://evil.test"}, "CORS off": {off, shopOrigin}} {
			res, _ := c.server.send(http.MethodOptions, "/api/holds", "", preflight(c.origin, "POST")...)
			if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "POST" || len(corsHeaders(res.Header)) > 0 {
				t.Errorf("%s: preflight = %d, Allow %q, CORS headers %v; want 405, Allow POST, none",
					name, res.StatusCode, res.Header.Get("Allow"), corsHeaders(res.Header))
			}
		}
		// So is an OPTIONS that is no preflight, and a preflight for a path
		// no route serves is a 404.
		if res, _ := listed.send(http.MethodOptions, "/api/holds", "", "Origin", shopOrigin); res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("OPTIONS without Access-Control-Request-Method = %d; want 405", res.StatusCode)
		}
		if res, _ := listed.send(http.MethodOptions, "/api/nothing", "", preflight(shopOrigin, "POST")...); res.StatusCode != http.StatusNotFound {
			t.Errorf("preflight of an unknown path = %d; want 404", res.StatusCode)
		}
		// Preflights took no stock.
		listed.checkBooks(1, 0)
	})
}

// TestMethodNotAllowedNamesTheMethods: every 405 carries Allow with the
// methods its path serves.
func TestMethodNotAllowedNamesTheMethods(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		s := newTestServer(t, dialect)
		cases := []struct{ method, path, allow string }{
			{"GET", "/api/holds", "POST"},
			{"DELETE", "/api/holds/1", "GET"},
			{"POST", "/api/products/1", "GET"},
			{"PUT", "/api/orders", "POST"},
			{"GET", "/api/payments/webhook", "POST"},
			{"GET", "/api/admin/products", "POST"},
			{"PUT", "/api/admin/products/1", "PATCH"},
			{"POST", "/api/admin/products/1/events", "GET"},
			{"OPTIONS", "/api/orders/3", "GET"},
			{"HEAD", "/api/products/1", "GET"},
			{"POST", "/healthz", "GET"},
			{"DELETE", "/metrics", "GET"},
		}
		for _, c := range cases {
			res, body := s.send(c.method, c.path, "")
			if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != c.allow {
				t.Errorf("%s %s = %d, Allow %q; want 405, Allow %q", c.method, c.path, res.StatusCode, res.Header.Get("Allow"), c.allow)
			}
			if c.method != "HEAD" && !strings.Contains(body, "Method not allowed") {
				t.Errorf("%s %s: body %q; want the JSON error", c.method, c.path, body)
			}
		}
	})
}

// TestParseOrigins: the setting takes *, or origins as browsers send them.
func TestParseOrigins(t *testing.T) {
	good := map[string][]string{
		"":   nil,
		"  ": nil,
		"*":  {"*"},
		"https://shop.example, http://127.0.0.1:5173": {"https://shop.example", "http://127.0.0.1:5173"},
		"HTTPS://Shop.Example/":                       {"https://shop.example"},
	}
	for in, want := range good {
		got, err := httpapi.ParseOrigins(in)
		if err != nil || strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("ParseOrigins(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"shop.example", "https://shop.example/checkout", "ftp://shop.example", "*,https://a.example",
		"https://a.example,,https://b.example", "https://user@shop.example", "https://shop.example?x=1", "null"} {
		if got, err := httpapi.ParseOrigins(in); err == nil {
			t.Errorf("ParseOrigins(%q) = %q; want an error", in, got)
		}
	}
}
