package httpapi

import (
	"flashsale"
	"net/http"
	"time"
)

// OrderJSON is an order as the API shows it.
type OrderJSON struct {
	OrderID   int64  `json:"order_id"`
	HoldID    int64  `json:"hold_id"`
	ProductID int64  `json:"product_id"`
	Qty       int64  `json:"qty"`
	Amount    string `json:"amount"`
	Status    string `json:"status"`
}

func orderBody(o flashsale.Order, status flashsale.OrderStatus) OrderJSON {
	return OrderJSON{OrderID: o.ID, HoldID: o.HoldID, ProductID: o.ProductID, Qty: o.Qty,
		Amount: o.Amount.String(), Status: string(status)}
}

// createOrder is POST /api/orders.
func (s *Server) createOrder(w http.ResponseWriter, r *http.Request) error {
	key, obj, err := s.readKeyed(w, r, nil)
	if err != nil {
		return err
	}
	var invalid validationError
	holdID := intField(obj, "hold_id", 1, &invalid)
	if err := invalid.err(); err != nil {
		return err
	}
	o, err := s.products.CreateOrder(r.Context(), holdID, key)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, orderBody(o, o.Status))
	return nil
}

// getOrder is GET /api/orders/{id}. An order past its payment window shows
// as cancelled even before its cancellation is written.
func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) error {
	return getByID(w, r, flashsale.ErrOrderNotFound, s.store.Order, func(o flashsale.Order) OrderJSON {
		return orderBody(o, o.StatusAt(time.Now()))
	})
}
