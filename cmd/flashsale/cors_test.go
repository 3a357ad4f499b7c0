package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"flashsale/store/storetest"
)

// TestCORSOriginsSetting: the program answers a browser's preflight for
// any origin by default, for the listed origins only when given a list,
// not at all when the list is empty, and refuses a list it cannot read.
func TestCORSOriginsSetting(t *testing.T) {
	t.Parallel()
	const shop = "https://shop.example"
	cases := []struct {
		name  string
		args  []string
		env   []string
		from  string
		allow string // Access-Control-Allow-Origin; "" for a refused preflight
	}{
		{"default", nil, nil, "https://anyone.example", "*"},
		{"listed in the environment", nil, []string{"FLASHSALE_CORS_ORIGINS=" + shop + ", http://127.0.0.1:5173"}, shop, shop},
		{"not listed", nil, []string{"FLASHSALE_CORS_ORIGINS=" + shop}, "https://anyone.example", ""},
		{"turned off by the flag", []string{"--cors-origins="}, []string{"FLASHSALE_CORS_ORIGINS=" + shop}, shop, ""},
		{"turned off by the environment", nil, []string{"FLASHSALE_CORS_ORIGINS="}, shop, ""},
	}
	c := newClient(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startServer(t, "server", serverArgs("serve", storetest.URL(t, "sqlite"), tc.args...), tc.env...)
			req, err := http.NewRequest(http.MethodOptions, p.base+"/api/holds", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", tc.from)
			req.Header.Set("Access-Control-Request-Method", "POST")
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			got := res.Header.Get("Access-Control-Allow-Origin")
			switch {
			case tc.allow != "" && (res.StatusCode != http.StatusNoContent || got != tc.allow):
				t.Errorf("preflight from %s = %d, Allow-Origin %q; want 204, %q", tc.from, res.StatusCode, got, tc.allow)
			case tc.allow == "" && (res.StatusCode != http.StatusMethodNotAllowed || got != ""):
				t.Errorf("preflight from %s = %d, Allow-Origin %q; want 405 without it", tc.from, res.StatusCode, got)
			}
			p.terminate(t)
		})
	}

	args := serverArgs("serve", storetest.URL(t, "sqlite"), "--cors-origins", "shop.example/checkout")
	if code, stderr, _ := runToExit(t, 20*time.Second, args); code != 2 || !strings.Contains(stderr, "flashsale: --cors-origins:") {
		t.Errorf("a bad origin: exit code %d; want 2 naming --cors-origins; stderr:\n%s", code, stderr)
	}
}
