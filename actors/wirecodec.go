package actors

import (
	"errors"
	"flashsale"
	"fmt"
	"time"

	"flashsale/actors/wire"
)

// encodeCall is a forwarded call as it crosses to its node.
func encodeCall(c *remoteCall) (*wire.Call, error) {
	call := &wire.Call{Id: c.id, ProductId: c.productID, DeadlineUnixNano: c.deadline.UnixNano()}
	switch m := c.msg.(type) {
	case nil:
		call.Request = &wire.Call_Snapshot{Snapshot: &wire.Snapshot{}}
	case *query:
		call.Request = &wire.Call_Query{Query: &wire.Query{}}
	case *setStock:
		call.Request = &wire.Call_SetStock{SetStock: &wire.SetStock{Stock: m.stock}}
	case *placeHold:
		call.Request = &wire.Call_PlaceHold{PlaceHold: &wire.PlaceHold{Qty: m.qty, Key: m.key, Hash: m.hash}}
	case *createOrder:
		call.Request = &wire.Call_CreateOrder{CreateOrder: &wire.CreateOrder{HoldId: m.holdID, Key: m.key, Hash: m.hash}}
	case *applyPayment:
		call.Request = &wire.Call_ApplyPayment{ApplyPayment: &wire.ApplyPayment{Key: m.pay.Key, OrderId: m.pay.OrderID,
			Status: string(m.pay.Status), Hash: m.pay.Hash, CreatedUnixNano: m.pay.CreatedAt.UnixNano()}}
	default:
		return nil, fmt.Errorf("%w: %s cannot be sent to another node", flashsale.ErrUnavailable, m.kind())
	}
	return call, nil
}

// answer gives a forwarded call's reply to its caller.
func (c *remoteCall) answer(r *wire.Reply) {
	err := decodeError(r)
	switch m := c.msg.(type) {
	case nil:
		var snap *Snapshot
		if err == nil {
			snap = snapshotFromWire(r.GetSnapshot())
		}
		c.snap.answer(snap, err)
	case *query:
		m.answer(productFromWire(r.GetProduct()), err)
	case *setStock:
		m.answer(productFromWire(r.GetProduct()), err)
	case *placeHold:
		m.answer(holdFromWire(r.GetHold()), err)
	case *createOrder:
		m.answer(orderFromWire(r.GetOrder()), err)
	case *applyPayment:
		p := r.GetPayment()
		m.answer(paymentAnswer{result: flashsale.PaymentResult{OrderID: p.GetOrderId(),
			Status: flashsale.OrderStatus(p.GetStatus()), Pending: p.GetPending()}, repeat: p.GetRepeat()}, err)
	default:
		m.fail(fmt.Errorf("%w: no answer for %s", flashsale.ErrUnavailable, m.kind()))
	}
}

// wireErrors name the errors that cross between nodes; a more specific
// one comes before the one it wraps.
var wireErrors = []struct {
	code wire.Error
	err  error
}{
	{wire.Error_NOT_OWNER, errNotOwner},
	{wire.Error_OVERLOADED, flashsale.ErrOverloaded},
	{wire.Error_UNAVAILABLE, flashsale.ErrUnavailable},
	{wire.Error_PRODUCT_NOT_FOUND, flashsale.ErrProductNotFound},
	{wire.Error_HOLD_NOT_FOUND, flashsale.ErrHoldNotFound},
	{wire.Error_ORDER_NOT_FOUND, flashsale.ErrOrderNotFound},
	{wire.Error_PAYMENT_NOT_FOUND, flashsale.ErrPaymentNotFound},
	{wire.Error_INSUFFICIENT_STOCK, flashsale.ErrInsufficientStock},
	{wire.Error_HOLD_EXPIRED, flashsale.ErrHoldExpired},
	{wire.Error_HOLD_USED, flashsale.ErrHoldUsed},
	{wire.Error_IDEMPOTENCY_CONFLICT, flashsale.ErrIdempotencyConflict},
	{wire.Error_STOCK_BELOW_COMMITTED, flashsale.ErrStockBelowCommitted},
	{wire.Error_VERSION_CONFLICT, flashsale.ErrVersionConflict},
}

// withError sets r's error to err, if any, and returns r.
func withError(r *wire.Reply, err error) *wire.Reply {
	if err == nil {
		return r
	}
	r.Message = err.Error()
	if used, ok := errors.AsType[*flashsale.HoldUsedError](err); ok {
		r.UsedByOrder = used.OrderID
	}
	r.Error = wire.Error_OTHER
	for _, e := range wireErrors {
		if errors.Is(err, e.err) {
			r.Error = e.code
			break
		}
	}
	return r
}

// remoteError is an error decided on another node: its text, and the
// sentinel it is.
type remoteError struct {
	message  string
	sentinel error
}

func (e *remoteError) Error() string { return e.message }
func (e *remoteError) Unwrap() error { return e.sentinel }

func decodeError(r *wire.Reply) error {
	switch {
	case r.GetError() == wire.Error_OK:
		return nil
	case r.GetError() == wire.Error_HOLD_USED && r.GetUsedByOrder() != 0:
		return &flashsale.HoldUsedError{OrderID: r.GetUsedByOrder()}
	}
	for _, e := range wireErrors {
		if e.code != r.GetError() {
			continue
		}
		if r.GetMessage() == e.err.Error() {
			return e.err
		}
		return &remoteError{message: r.GetMessage(), sentinel: e.err}
	}
	return errors.New(r.GetMessage())
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func timeOf(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func snapshotToWire(s *Snapshot) *wire.SnapshotResult {
	if s == nil {
		return nil
	}
	return &wire.SnapshotResult{Product: productToWire(s.Product), ValidUntilUnixNano: unixNano(s.ValidUntil)}
}

func snapshotFromWire(s *wire.SnapshotResult) *Snapshot {
	return &Snapshot{Product: productFromWire(s.GetProduct()), ValidUntil: timeOf(s.GetValidUntilUnixNano())}
}

func productToWire(p flashsale.Product) *wire.Product {
	return &wire.Product{Id: p.ID, Name: p.Name, Price: int64(p.Price), Stock: p.Stock, Held: p.Held,
		AwaitingPayment: p.AwaitingPayment, Paid: p.Paid}
}

func productFromWire(p *wire.Product) flashsale.Product {
	return flashsale.Product{ID: p.GetId(), Name: p.GetName(), Price: flashsale.Money(p.GetPrice()),
		Counters: flashsale.Counters{Stock: p.GetStock(), Held: p.GetHeld(), AwaitingPayment: p.GetAwaitingPayment(), Paid: p.GetPaid()}}
}

func holdToWire(h flashsale.Hold) *wire.Hold {
	return &wire.Hold{Id: h.ID, ProductId: h.ProductID, Qty: h.Qty, Status: string(h.Status),
		ExpiresUnixNano: unixNano(h.ExpiresAt), CreatedUnixNano: unixNano(h.CreatedAt),
		IdempotencyKey: h.IdempotencyKey, RequestHash: h.RequestHash}
}

func holdFromWire(h *wire.Hold) flashsale.Hold {
	return flashsale.Hold{ID: h.GetId(), ProductID: h.GetProductId(), Qty: h.GetQty(), Status: flashsale.HoldStatus(h.GetStatus()),
		ExpiresAt: timeOf(h.GetExpiresUnixNano()), CreatedAt: timeOf(h.GetCreatedUnixNano()),
		IdempotencyKey: h.GetIdempotencyKey(), RequestHash: h.GetRequestHash()}
}

func orderToWire(o flashsale.Order) *wire.Order {
	return &wire.Order{Id: o.ID, HoldId: o.HoldID, ProductId: o.ProductID, Qty: o.Qty, Amount: int64(o.Amount),
		Status: string(o.Status), InitialStatus: string(o.InitialStatus), CancelReason: string(o.CancelReason),
		ExpiresUnixNano: unixNano(o.ExpiresAt), CreatedUnixNano: unixNano(o.CreatedAt),
		IdempotencyKey: o.IdempotencyKey, RequestHash: o.RequestHash}
}

func orderFromWire(o *wire.Order) flashsale.Order {
	return flashsale.Order{ID: o.GetId(), HoldID: o.GetHoldId(), ProductID: o.GetProductId(), Qty: o.GetQty(),
		Amount: flashsale.Money(o.GetAmount()), Status: flashsale.OrderStatus(o.GetStatus()),
		InitialStatus: flashsale.OrderStatus(o.GetInitialStatus()), CancelReason: flashsale.CancelReason(o.GetCancelReason()),
		ExpiresAt: timeOf(o.GetExpiresUnixNano()), CreatedAt: timeOf(o.GetCreatedUnixNano()),
		IdempotencyKey: o.GetIdempotencyKey(), RequestHash: o.GetRequestHash()}
}

func paymentFromWire(p *wire.ApplyPayment) flashsale.Payment {
	return flashsale.Payment{Key: p.GetKey(), OrderID: p.GetOrderId(), Status: flashsale.PaymentStatus(p.GetStatus()),
		Hash: p.GetHash(), CreatedAt: timeOf(p.GetCreatedUnixNano())}
}

func paymentResultToWire(a paymentAnswer) *wire.PaymentResult {
	return &wire.PaymentResult{OrderId: a.result.OrderID, Status: string(a.result.Status), Pending: a.result.Pending, Repeat: a.repeat}
}
