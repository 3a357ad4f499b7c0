package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// checkoutPage is a shop's checkout page on another origin: it places a
// hold through fetch, with the JSON body and the Idempotency-Key header
// that make the browser send a preflight first, and shows the answer, or
// the error a refused request gives a page.
const checkoutPage = `<!doctype html>
<html><head><title>checkout</title></head>
<body><pre id="answer">waiting</pre>
<script>
const api = new URLSearchParams(location.search).get("api");
const show = text => { document.getElementById("answer").textContent = text; };
fetch(api + "/api/holds", {
  method: "POST",
  headers: {"Content-Type": "application/json", "Idempotency-Key": "browser-cart-1"},
  body: JSON.stringify({product_id: 1, qty: 2}),
}).then(async res => show(JSON.stringify({
  status: res.status,
  request_id: res.headers.get("X-Request-Id"),
  body: await res.json(),
}))).catch(err => show("refused: " + err));
</script></body></html>`

// TestBrowserPlacesAHoldFromAnotherOrigin drives a real page in headless
// Chromium: a checkout page served from another origin places a hold
// through fetch, and reads the answer and its request id. A page from an
// origin that is not listed is refused by the browser, and takes nothing.
func TestBrowserPlacesAHoldFromAnotherOrigin(t *testing.T) {
	chromium := findChromium(t)
	pages := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, checkoutPage)
	})
	shop := httptest.NewServer(pages)
	t.Cleanup(shop.Close)
	stranger := httptest.NewServer(pages)
	t.Cleanup(stranger.Close)
	s := newTestServer(t, "sqlite", withCORS(shop.URL))

	browser, closeBrowser := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(closeBrowser)
	tab, closeTab := chromedp.NewContext(browser)
	t.Cleanup(closeTab)
	// The first run starts the browser, which lives as long as tab: the
	// deadline goes on each page instead.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}

	// answer opens the page from origin and returns what it shows.
	answer := func(origin string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 60*time.Second)
		defer cancel()
		page := origin + "/checkout?api=" + url.QueryEscape(s.URL)
		if err := chromedp.Do(ctx, chromedp.Navigate(page),
			chromedp.Poll[chromedp.Void](`document.getElementById("answer").textContent !== "waiting"`)); err != nil {
			t.Fatalf("page %s: %v", page, err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("answer")))
		if err != nil {
			t.Fatalf("reading the page %s: %v", page, err)
		}
		t.Logf("the page from %s shows: %s", origin, text)
		return text
	}

	var shown struct {
		Status    int    `json:"status"`
		RequestID string `json:"request_id"`
		Body      struct {
			HoldID    int64  `json:"hold_id"`
			ProductID int64  `json:"product_id"`
			Qty       int64  `json:"qty"`
			Status    string `json:"status"`
		} `json:"body"`
	}
	if text := answer(shop.URL); json.Unmarshal([]byte(text), &shown) != nil || shown.Status != http.StatusCreated ||
		shown.RequestID == "" || shown.Body.HoldID == 0 || shown.Body.ProductID != 1 || shown.Body.Qty != 2 || shown.Body.Status != "active" {
		t.Fatalf("the shop's page shows %q; want a 201 with its request id and an active hold of 2 of product 1", text)
	}
	r := s.do(http.MethodGet, "/api/holds/"+itoa(shown.Body.HoldID), "")
	if r.Status != http.StatusOK || r.Body["qty"] != 2.0 || r.Body["status"] != "active" {
		t.Fatalf("the page's hold %d: %d %s; want it active for 2", shown.Body.HoldID, r.Status, r.Raw)
	}
	s.checkBooks(1, 2)

	if text := answer(stranger.URL); !strings.HasPrefix(text, "refused: ") {
		t.Fatalf("a page from an origin not listed shows %q; want the browser to refuse its request", text)
	}
	s.checkBooks(1, 2)
}

// findChromium returns the path of a Chromium or Chrome binary. Without
// one the test skips, saying so, except in CI, which installs Chromium.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium binary on PATH; CI installs Debian's chromium package")
	}
	t.Skip("no Chromium binary on PATH (apt-get install chromium): the browser test does not run")
	return ""
}
