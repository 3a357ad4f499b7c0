package main

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"flashsale/store/storetest"
)

// TestSlowClientCannotHoldAConnection: a client that trickles its headers
// is cut off by the server's header deadline instead of holding the
// connection forever.
func TestSlowClientCannotHoldAConnection(t *testing.T) {
	t.Parallel()
	p := startServer(t, "server", serverArgs("serve", storetest.URL(t, "sqlite")))
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	closed := make(chan time.Duration, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			if _, err := conn.Read(buf); err != nil {
				closed <- time.Since(start)
				return
			}
		}
	}()
	// One header byte a second, never the blank line that ends them.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case took := <-closed:
			t.Logf("the server closed the trickling connection after %v", took.Round(time.Millisecond))
			return
		case <-tick.C:
			if time.Since(start) > 20*time.Second {
				t.Fatalf("a client trickling headers still holds its connection after %v", time.Since(start))
			}
			_, _ = conn.Write([]byte("X"))
		}
	}
}

// TestAdminTokenNeverLogged: the admin token is masked in the logged
// configuration and appears in no request line, even at debug level.
func TestAdminTokenNeverLogged(t *testing.T) {
	t.Parallel()
	const token = "tok-never-in-logs-8c1f"
	args := serverArgs("serve", storetest.URL(t, "sqlite"), "--admin-token", token)
	args = append(args, "--log-level", "debug")
	p := startServer(t, "server", args)
	c := newClient(t)
	for _, tok := range []string{token, "wrong-" + token} {
		if _, _, err := call(c, http.MethodPost, p.base+"/api/admin/products", tok,
			map[string]any{"name": "x", "price": "1.00", "stock": 1}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := call(c, http.MethodPatch, p.base+"/api/admin/products/1", tok, map[string]any{"stock": 60}); err != nil {
			t.Fatal(err)
		}
	}
	p.terminate(t)
	if logs := p.log.tail(1 << 20); strings.Contains(logs, token) {
		t.Fatalf("the admin token appears in the log:\n%s", logs)
	} else if !strings.Contains(logs, `"admin_token":"***"`) {
		t.Fatalf("the logged configuration does not show the token as set and masked:\n%s", logs)
	}
}
