package httpapi_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"flashsale/store/storetest"
)

// TestStrayWebhookIsRefused: a webhook for an order id that no server has
// reserved yet cannot be racing its order's creation: it is refused with
// 404, recorded nowhere, and the order that later gets that id is not
// paid by it.
func TestStrayWebhookIsRefused(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		c := newCheckout(t, dialect)
		notFound := messageRaw("Order not found")
		want(t, "stray webhook before any order", c.webhook("stray-1", 1, "success"), http.StatusNotFound, notFound)
		c.noPayment("stray-1")

		o := c.buy(1, 1)
		if o != 1 {
			t.Fatalf("the first order is %d; want 1", o)
		}
		if got := c.orderStatus(o); got != "pending_payment" {
			t.Fatalf("order 1 after a stray webhook is %s; want pending_payment", got)
		}
		// The first order reserved a block of ids (1000 by default): one
		// far past it is still refused, one inside it is kept for a while.
		want(t, "webhook far past any id", c.webhook("stray-far", 99999, "success"), http.StatusNotFound, notFound)
		c.noPayment("stray-far")
		want(t, "webhook inside the block", c.webhook("early-in-block", 1000, "success"), http.StatusAccepted, pendingRaw(1000))
		want(t, "webhook just past the block", c.webhook("stray-1001", 1001, "success"), http.StatusNotFound, notFound)
		c.noPayment("stray-1001")
		// The key of a refused webhook is free: sent again for the real
		// order, it pays it.
		want(t, "the stray key for a real order", c.webhook("stray-1", o, "success"), http.StatusOK, paymentRaw(o, "paid", "stray-1"))
		c.expect(1, books{Paid: 1, Available: 49})
	})
}

// TestEarlyWebhookTTL: a webhook that came before its order pays the order
// created within the early webhook TTL (a minute by default), and not one
// created later: that one is created awaiting payment and the webhook is
// dropped, even though no cleaner ran.
func TestEarlyWebhookTTL(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		var ahead atomic.Int64 // how far the actors' clock is ahead of the wall clock
		advance := func(d time.Duration) { ahead.Add(int64(d)) }
		clock := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
		c := newCheckout(t, dialect, withClock(clock), withPaymentTTL(time.Hour))
		c.DB.SetEarlyWebhookTTL(time.Minute)
		c.buy(1, 1) // reserves a block of order ids

		next := c.lastOrderID() + 1
		want(t, "early webhook", c.webhook("pay-in-time", next, "success"), http.StatusAccepted, pendingRaw(next))
		advance(59 * time.Second)
		h := c.mustHold(1, 2)
		want(t, "order 59s after its webhook", c.order(h), http.StatusCreated, orderRaw(next, h, 1, 2, "99.98", "paid"))

		next = c.lastOrderID() + 1
		want(t, "early webhook", c.webhook("pay-too-early", next, "success"), http.StatusAccepted, pendingRaw(next))
		advance(61 * time.Second)
		h = c.mustHold(1, 3)
		want(t, "order 61s after its webhook", c.order(h), http.StatusCreated, orderRaw(next, h, 1, 3, "149.97", "pending_payment"))
		c.noPayment("pay-too-early")
		if got := c.orderStatus(next); got != "pending_payment" {
			t.Fatalf("order %d is %s; want pending_payment", next, got)
		}
		// Its key is free: the provider's redelivery now pays the order.
		want(t, "redelivery", c.webhook("pay-too-early", next, "success"), http.StatusOK, paymentRaw(next, "paid", "pay-too-early"))
		c.expect(1, books{Awaiting: 1, Paid: 5, Available: 44})
	})
}
