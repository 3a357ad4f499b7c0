package httpapi

import (
	"flashsale"
	"net/http"
	"strconv"
)

// Bounds of GET /api/admin/products/{id}/events.
const (
	defaultEventLimit = 100
	maxEventLimit     = 1000
)

// EventJSON is a journal event as the API and `flashsale events --json`
// show it.
type EventJSON struct {
	Seq             int64  `json:"seq"`
	Kind            string `json:"kind"`
	At              string `json:"at"`
	HoldID          int64  `json:"hold_id,omitempty"`
	OrderID         int64  `json:"order_id,omitempty"`
	IdempotencyKey  string `json:"idempotency_key,omitempty"`
	Qty             int64  `json:"qty"`
	Reason          string `json:"reason,omitempty"`
	Stock           int64  `json:"stock"`
	AvailableStock  int64  `json:"available_stock"`
	Held            int64  `json:"held"`
	AwaitingPayment int64  `json:"awaiting_payment"`
	Paid            int64  `json:"paid"`
	// Node is the cluster node that decided the event; always present,
	// empty outside a cluster.
	Node string `json:"node"`
}

// EventBody shapes an event for JSON.
func EventBody(e flashsale.Event) EventJSON {
	return EventJSON{
		Seq: e.Seq, Kind: string(e.Kind), At: e.At.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		HoldID: e.HoldID, OrderID: e.OrderID, IdempotencyKey: e.IdempotencyKey, Qty: e.Qty, Reason: e.Reason,
		Stock: e.Stock, AvailableStock: e.Available(), Held: e.Held, AwaitingPayment: e.AwaitingPayment, Paid: e.Paid,
		Node: e.Node,
	}
}

// EventsJSON is a page of a product's journal as the API shows it.
type EventsJSON struct {
	ProductID int64       `json:"product_id"`
	Events    []EventJSON `json:"events"`
	NextAfter int64       `json:"next_after"`
}

// productEvents is GET /api/admin/products/{id}/events?after=SEQ&limit=N.
func (s *Server) productEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, flashsale.ErrProductNotFound)
	if err != nil {
		return err
	}
	var invalid validationError
	after := queryInt(r, "after", 0, 0, 1<<62, &invalid)
	limit := queryInt(r, "limit", defaultEventLimit, 1, maxEventLimit, &invalid)
	if err := invalid.err(); err != nil {
		return err
	}
	events, err := s.store.Events(r.Context(), id, after, int(limit))
	if err != nil {
		return err
	}
	if len(events) == 0 {
		if _, err := s.products.Product(r.Context(), id); err != nil {
			return err
		}
	}
	body := EventsJSON{ProductID: id, Events: make([]EventJSON, 0, len(events)), NextAfter: after}
	for _, e := range events {
		body.Events = append(body.Events, EventBody(e))
		body.NextAfter = e.Seq
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// queryInt reads an optional integer query parameter within [min, max].
func queryInt(r *http.Request, name string, def, min, max int64, v *validationError) int64 {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	switch {
	case err != nil:
		v.add(name, "The %s parameter must be an integer.", name)
	case n < min || n > max:
		v.add(name, "The %s parameter must be between %d and %d.", name, min, max)
	default:
		return n
	}
	return def
}
