package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"flashsale"
	"flashsale/actors/actorstest"
	"flashsale/httpapi"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// webhookSecret is the secret the checkout tests' servers sign with.
const webhookSecret = "test-webhook-secret"

// checkout is a test server that remembers every hold and order the test
// made through it, so that the books can be summed from their rows.
type checkout struct {
	*testServer

	mu     sync.Mutex
	holds  map[int64]map[int64]bool // product id → ids of the holds made
	orders map[int64]map[int64]bool // product id → ids of the orders made
}

func newCheckout(t *testing.T, dialect string, opts ...serverOption) *checkout {
	t.Helper()
	return &checkout{
		testServer: newTestServer(t, dialect, opts...),
		holds:      map[int64]map[int64]bool{},
		orders:     map[int64]map[int64]bool{},
	}
}

func (c *checkout) note(set map[int64]map[int64]bool, productID, id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if set[productID] == nil {
		set[productID] = map[int64]bool{}
	}
	set[productID][id] = true
}

// hold asks for a hold and remembers it when one is made.
func (c *checkout) hold(productID, qty int64, header ...string) response {
	c.t.Helper()
	r := c.do(http.MethodPost, "/api/holds", `{"product_id":`+itoa(productID)+`,"qty":`+itoa(qty)+`}`, header...)
	if r.Status == http.StatusCreated {
		c.note(c.holds, productID, num(r.Body["hold_id"]))
	}
	return r
}

// mustHold makes a hold and returns its id.
func (c *checkout) mustHold(productID, qty int64) int64 {
	c.t.Helper()
	r := c.hold(productID, qty)
	if r.Status != http.StatusCreated {
		c.t.Fatalf("hold %d of product %d: %d %s", qty, productID, r.Status, r.Raw)
	}
	return num(r.Body["hold_id"])
}

// order asks for an order from a hold and remembers it when one is made.
func (c *checkout) order(holdID int64, header ...string) response {
	c.t.Helper()
	r := c.do(http.MethodPost, "/api/orders", `{"hold_id":`+itoa(holdID)+`}`, header...)
	if r.Status == http.StatusCreated {
		c.note(c.orders, num(r.Body["product_id"]), num(r.Body["order_id"]))
	}
	return r
}

// mustOrder makes an order from a hold and returns its id.
func (c *checkout) mustOrder(holdID int64) int64 {
	c.t.Helper()
	r := c.order(holdID)
	if r.Status != http.StatusCreated {
		c.t.Fatalf("order from hold %d: %d %s", holdID, r.Status, r.Raw)
	}
	return num(r.Body["order_id"])
}

// buy holds qty units and orders them; it returns the order id.
func (c *checkout) buy(productID, qty int64) int64 {
	c.t.Helper()
	return c.mustOrder(c.mustHold(productID, qty))
}

// lastOrderID is the highest order id the server has answered with.
func (c *checkout) lastOrderID() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last int64
	for _, ids := range c.orders {
		for id := range ids {
			last = max(last, id)
		}
	}
	return last
}

// getOrder reads an order through the API.
func (c *checkout) getOrder(id int64) response {
	c.t.Helper()
	return c.do(http.MethodGet, "/api/orders/"+itoa(id), "")
}

// orderStatus is an order's status as the API shows it.
func (c *checkout) orderStatus(id int64) string {
	c.t.Helper()
	r := c.getOrder(id)
	if r.Status != http.StatusOK {
		c.t.Fatalf("GET order %d: %d %s", id, r.Status, r.Raw)
	}
	return r.Body["status"].(string)
}

// dbOrder reads an order row.
func (c *checkout) dbOrder(id int64) flashsale.Order {
	c.t.Helper()
	o, err := c.DB.Order(context.Background(), id)
	if err != nil {
		c.t.Fatalf("order %d: %v", id, err)
	}
	return o
}

// payment reads the webhook recorded under key; ok is false when none is.
func (c *checkout) payment(key string) (flashsale.Payment, bool) {
	c.t.Helper()
	p, err := c.DB.PaymentByKey(context.Background(), key)
	switch {
	case errors.Is(err, flashsale.ErrPaymentNotFound):
		return flashsale.Payment{}, false
	case err != nil:
		c.t.Fatalf("payment %q: %v", key, err)
	}
	return p, true
}

// noPayment asserts that nothing is recorded under key.
func (c *checkout) noPayment(key string) {
	c.t.Helper()
	if p, ok := c.payment(key); ok {
		c.t.Fatalf("payment %q recorded: %+v; want nothing", key, p)
	}
}

// webhook sends a payment webhook, signed when the server has a secret.
func (c *checkout) webhook(key string, orderID int64, status string) response {
	c.t.Helper()
	return c.signedWebhook(webhookBody(key, orderID, status))
}

// signedWebhook sends a raw webhook body, signed when the server has a
// secret.
func (s *testServer) signedWebhook(body string) response {
	s.t.Helper()
	var header []string
	if s.webhookSecret != "" {
		header = []string{"X-Signature", httpapi.SignWebhook(s.webhookSecret, []byte(body))}
	}
	return s.do(http.MethodPost, "/api/payments/webhook", body, header...)
}

func webhookBody(key string, orderID any, status string) string {
	b, err := json.Marshal(struct {
		Key     string `json:"idempotency_key"`
		OrderID any    `json:"order_id"`
		Status  string `json:"status"`
	}{key, orderID, status})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Expected response bodies, exactly as the API writes them.

func orderRaw(orderID, holdID, productID, qty int64, amount, status string) string {
	return fmt.Sprintf(`{"order_id":%d,"hold_id":%d,"product_id":%d,"qty":%d,"amount":%q,"status":%q}`+"\n",
		orderID, holdID, productID, qty, amount, status)
}

func paymentRaw(orderID int64, status, key string) string {
	b, _ := json.Marshal(key)
	return fmt.Sprintf(`{"order_id":%d,"status":%q,"idempotency_key":%s}`+"\n", orderID, status, b)
}

func pendingRaw(orderID int64) string {
	return fmt.Sprintf(`{"order_id":%d,"status":"pending"}`+"\n", orderID)
}

func messageRaw(message string) string {
	return fmt.Sprintf(`{"message":%q}`+"\n", message)
}

func holdUsedRaw(orderID int64) string {
	return fmt.Sprintf(`{"message":"Hold already used","order_id":%d}`+"\n", orderID)
}

const keyReusedMessage = "Idempotency key reused with a different payload"

// want asserts a response's status and exact body.
func want(t *testing.T, what string, r response, status int, raw string) {
	t.Helper()
	if r.Status != status || r.Raw != raw {
		t.Fatalf("%s = %d %s; want %d %s", what, r.Status, strings.TrimSpace(r.Raw), status, strings.TrimSpace(raw))
	}
}

func num(v any) int64 {
	f, ok := v.(float64)
	if !ok {
		panic(fmt.Sprintf("%v is not a JSON number", v))
	}
	return int64(f)
}

// books are a product's units by where they are.
type books struct {
	Held, Awaiting, Paid, Available int64
}

// expect checks the books (see check) and that they are want.
func (c *checkout) expect(productID int64, want books) {
	c.t.Helper()
	if got := c.check(productID); got != want {
		c.t.Fatalf("product %d books %+v; want %+v", productID, got, want)
	}
}

// check asserts the invariant of a product and returns its books:
//
//	available_stock (API) = stock − Σ qty(active holds) − Σ qty(orders pending_payment or paid) ≥ 0
//
// with the sums taken over the rows of every hold and order the test made,
// and the product row's counters equal to those sums. Cancelled and
// refund_required orders take no stock. It must be called when no request
// is in flight; a hold or order reaching its expiry while it reads is
// waited for, so that only settled states are judged.
func (c *checkout) check(productID int64) books {
	c.t.Helper()
	var b books
	actorstest.Eventually(c.t, 5*time.Second, func() string {
		var settling, problem string
		b, settling, problem = c.readBooks(productID)
		switch {
		case problem != "":
			c.t.Fatalf("product %d: %s", productID, problem)
		case settling != "":
			return fmt.Sprintf("product %d: %s", productID, settling)
		}
		return ""
	})
	return b
}

// readBooks reads the books once. settling says why they may be in flux;
// problem says what is wrong with settled books.
func (c *checkout) readBooks(productID int64) (b books, settling, problem string) {
	ctx := context.Background()
	before, err := c.DB.LoadProduct(ctx, productID)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	holdIDs := sortedKeys(c.holds[productID])
	orderIDs := sortedKeys(c.orders[productID])
	c.mu.Unlock()

	var problems []string
	holdStatus := map[int64]flashsale.HoldStatus{}
	var active []int64
	var expiring []string
	// A row this close to its deadline may change while the books are
	// read.
	dueSoon := func(at time.Time, format string, id int64) {
		if time.Until(at) < 100*time.Millisecond {
			expiring = append(expiring, fmt.Sprintf(format, id))
		}
	}
	for _, id := range holdIDs {
		h, err := c.DB.Hold(ctx, id)
		if err != nil {
			c.t.Fatalf("hold %d: %v", id, err)
		}
		holdStatus[id] = h.Status
		switch h.Status {
		case flashsale.HoldActive:
			b.Held += h.Qty
			active = append(active, id)
			dueSoon(h.ExpiresAt, "hold %d active at its expiry", id)
		case flashsale.HoldExpired, flashsale.HoldConverted:
		default:
			problems = append(problems, fmt.Sprintf("hold %d has status %q", id, h.Status))
		}
	}
	var pending []int64
	orderOfHold := map[int64]int64{}
	for _, id := range orderIDs {
		o, err := c.DB.Order(ctx, id)
		if err != nil {
			c.t.Fatalf("order %d: %v", id, err)
		}
		orderOfHold[o.HoldID] = id
		if st := holdStatus[o.HoldID]; st != flashsale.HoldConverted {
			problems = append(problems, fmt.Sprintf("order %d's hold %d is %q, not converted", id, o.HoldID, st))
		}
		if o.Qty < 1 || o.ProductID != productID {
			problems = append(problems, fmt.Sprintf("order %d: %+v", id, o))
		}
		switch o.Status {
		case flashsale.OrderPendingPayment:
			b.Awaiting += o.Qty
			pending = append(pending, id)
			dueSoon(o.ExpiresAt, "order %d pending at the end of its payment window", id)
		case flashsale.OrderPaid:
			b.Paid += o.Qty
		case flashsale.OrderCancelled, flashsale.OrderRefundRequired:
		default:
			problems = append(problems, fmt.Sprintf("order %d has status %q", id, o.Status))
		}
	}
	for _, id := range holdIDs {
		if _, ok := orderOfHold[id]; holdStatus[id] == flashsale.HoldConverted && !ok {
			problems = append(problems, fmt.Sprintf("hold %d is converted, but into no order the test knows", id))
		}
	}
	api := c.available(productID)
	after, err := c.DB.LoadProduct(ctx, productID)
	if err != nil {
		c.t.Fatal(err)
	}
	switch {
	case before.Version != after.Version:
		return b, "being written", ""
	case len(expiring) > 0:
		return b, strings.Join(expiring, ", "), ""
	}

	p := after.Product
	b.Available = p.Stock - b.Held - b.Awaiting - b.Paid
	if p.Held != b.Held || p.AwaitingPayment != b.Awaiting || p.Paid != b.Paid {
		problems = append(problems, fmt.Sprintf("row counters held %d, awaiting %d, paid %d; the rows sum to %d, %d, %d",
			p.Held, p.AwaitingPayment, p.Paid, b.Held, b.Awaiting, b.Paid))
	}
	if got := idsOf(after.ActiveHolds, func(h flashsale.Hold) int64 { return h.ID }); !slices.Equal(got, active) {
		problems = append(problems, fmt.Sprintf("active holds loaded %v; the test's active holds are %v", got, active))
	}
	if got := idsOf(after.UnpaidOrders, func(o flashsale.Order) int64 { return o.ID }); !slices.Equal(got, pending) {
		problems = append(problems, fmt.Sprintf("pending orders loaded %v; the test's pending orders are %v", got, pending))
	}
	if api != b.Available || b.Available < 0 {
		problems = append(problems, fmt.Sprintf("API available_stock %d; stock %d − held %d − awaiting %d − paid %d = %d",
			api, p.Stock, b.Held, b.Awaiting, b.Paid, b.Available))
	}
	return b, "", strings.Join(problems, "; ")
}

func sortedKeys(m map[int64]bool) []int64 { return slices.Sorted(maps.Keys(m)) }

// idsOf lists the ids of rows, sorted.
func idsOf[T any](rows []T, id func(T) int64) []int64 {
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, id(r))
	}
	slices.Sort(ids)
	return ids
}

// parallel runs f(0) … f(n−1) at once and waits for them all.
func parallel(n int, f func(i int)) {
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			f(i)
		}()
	}
	start.Done()
	wg.Wait()
}

// tally counts answers, "status body" each, and lists them sorted.
type tally map[string]int

func (t tally) String() string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %d× %s", t[k], strings.TrimSpace(k))
	}
	return b.String()
}

// answer is a response as one comparable string.
func answer(r response) string { return itoa(r.Status) + " " + r.Raw }
