package actors

import (
	"context"
	"errors"
	"flashsale"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"flashsale/actors/wire"
)

// crossWire sends a call over the wire and back as the owner decodes it.
func crossWire[T proto.Message](t *testing.T, m T) T {
	t.Helper()
	raw, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	back := m.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(raw, back); err != nil {
		t.Fatal(err)
	}
	return back.(T)
}

// TestRequestsCrossTheWire: every request kind a node forwards reaches the
// owner with its fields, and every answer comes back as it was given.
func TestRequestsCrossTheWire(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pay := flashsale.Payment{Key: "k", OrderID: 9, Status: flashsale.PaymentSuccess, Hash: "h", CreatedAt: now}
	hold := flashsale.Hold{ID: 3, ProductID: 7, Qty: 2, Status: flashsale.HoldActive, ExpiresAt: now.Add(time.Minute),
		CreatedAt: now, IdempotencyKey: "key", RequestHash: "hash"}
	order := flashsale.Order{ID: 4, HoldID: 3, ProductID: 7, Qty: 2, Amount: 199, Status: flashsale.OrderPaid,
		InitialStatus: flashsale.OrderPendingPayment, CancelReason: "", ExpiresAt: now.Add(time.Hour), CreatedAt: now,
		IdempotencyKey: "okey", RequestHash: "ohash"}
	product := flashsale.Product{ID: 7, Name: "Widget", Price: 150, Counters: flashsale.Counters{Stock: 10, Held: 2, AwaitingPayment: 1, Paid: 3}}

	ph := &placeHold{replyTo: newReply[flashsale.Hold](), qty: 2, key: "key", hash: "hash"}
	co := &createOrder{replyTo: newReply[flashsale.Order](), holdID: 3, key: "okey", hash: "ohash"}
	ap := &applyPayment{replyTo: newReply[paymentAnswer](), pay: pay}
	ss := &setStock{replyTo: newReply[flashsale.Product](), stock: 12}
	qu := &query{replyTo: newReply[flashsale.Product]()}
	for _, tc := range []struct {
		msg   request
		check func(*wire.Call) bool
		reply *wire.Reply
		got   func() (any, error)
		want  any
	}{
		{ph, func(c *wire.Call) bool {
			w := c.GetPlaceHold()
			return w.GetQty() == 2 && w.GetKey() == "key" && w.GetHash() == "hash"
		},
			&wire.Reply{Result: &wire.Reply_Hold{Hold: holdToWire(hold)}}, func() (any, error) { a := <-ph.reply; return a.value, a.err }, hold},
		{co, func(c *wire.Call) bool { w := c.GetCreateOrder(); return w.GetHoldId() == 3 && w.GetKey() == "okey" },
			&wire.Reply{Result: &wire.Reply_Order{Order: orderToWire(order)}}, func() (any, error) { a := <-co.reply; return a.value, a.err }, order},
		{ap, func(c *wire.Call) bool { return paymentFromWire(c.GetApplyPayment()) == pay },
			&wire.Reply{Result: &wire.Reply_Payment{Payment: paymentResultToWire(paymentAnswer{result: flashsale.PaymentResult{OrderID: 9, Status: flashsale.OrderPaid}, repeat: true})}},
			func() (any, error) { a := <-ap.reply; return a.value, a.err },
			paymentAnswer{result: flashsale.PaymentResult{OrderID: 9, Status: flashsale.OrderPaid}, repeat: true}},
		{ss, func(c *wire.Call) bool { return c.GetSetStock().GetStock() == 12 },
			&wire.Reply{Result: &wire.Reply_Product{Product: productToWire(product)}}, func() (any, error) { a := <-ss.reply; return a.value, a.err }, product},
		{qu, func(c *wire.Call) bool { return c.GetQuery() != nil },
			&wire.Reply{Result: &wire.Reply_Product{Product: productToWire(product)}}, func() (any, error) { a := <-qu.reply; return a.value, a.err }, product},
	} {
		c := &remoteCall{id: 5, productID: 7, deadline: now.Add(time.Second), ctx: ctx, msg: tc.msg}
		call, err := encodeCall(c)
		if err != nil {
			t.Fatal(err)
		}
		call = crossWire(t, call)
		if call.GetId() != 5 || call.GetProductId() != 7 || !tc.check(call) {
			t.Errorf("%s crossed as %v", tc.msg.kind(), call)
		}
		c.answer(crossWire(t, tc.reply))
		if got, err := tc.got(); err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s answered %+v, %v; want %+v", tc.msg.kind(), got, err, tc.want)
		}
	}
}

// TestErrorsCrossTheWire: an error decided on the owner is the same
// sentinel on the caller, with its text.
func TestErrorsCrossTheWire(t *testing.T) {
	for _, err := range []error{
		flashsale.ErrInsufficientStock, flashsale.ErrHoldExpired, flashsale.ErrIdempotencyConflict,
		flashsale.ErrProductNotFound, flashsale.ErrStockBelowCommitted, flashsale.ErrOverloaded,
		fmt.Errorf("%w: commit timed out", flashsale.ErrUnavailable), &flashsale.HoldUsedError{OrderID: 11},
		errNotOwner, errors.New("something else"),
	} {
		got := decodeError(crossWire(t, withError(&wire.Reply{}, err)))
		if got == nil || got.Error() != err.Error() {
			t.Errorf("%v crossed as %v", err, got)
			continue
		}
		for _, sentinel := range []error{flashsale.ErrUnavailable, flashsale.ErrOverloaded, flashsale.ErrHoldUsed, flashsale.ErrInsufficientStock, errNotOwner} {
			if errors.Is(got, sentinel) != errors.Is(err, sentinel) {
				t.Errorf("%v crossed as %v: errors.Is %v = %v", err, got, sentinel, errors.Is(got, sentinel))
			}
		}
		if used, ok := errors.AsType[*flashsale.HoldUsedError](got); ok && used.OrderID != 11 {
			t.Errorf("HoldUsedError crossed naming order %d", used.OrderID)
		}
	}
}
