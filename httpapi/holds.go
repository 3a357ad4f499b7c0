package httpapi

import (
	"flashsale"
	"net/http"
	"time"
	"unicode/utf8"
)

// maxKeyLength bounds an Idempotency-Key header.
const maxKeyLength = 255

// HoldJSON is a hold as the API shows it.
type HoldJSON struct {
	HoldID    int64  `json:"hold_id"`
	ProductID int64  `json:"product_id"`
	Qty       int64  `json:"qty"`
	Status    string `json:"status"`
	ExpiresAt string `json:"expires_at"`
}

func holdBody(h flashsale.Hold, status flashsale.HoldStatus) HoldJSON {
	return HoldJSON{
		HoldID:    h.ID,
		ProductID: h.ProductID,
		Qty:       h.Qty,
		Status:    string(status),
		ExpiresAt: h.ExpiresAt.UTC().Format(time.RFC3339),
	}
}

// createHold is POST /api/holds.
func (s *Server) createHold(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	obj, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var invalid validationError
	productID := intField(obj, "product_id", 1, &invalid)
	qty := intField(obj, "qty", 1, &invalid)
	if err := invalid.err(); err != nil {
		return err
	}
	h, err := s.products.PlaceHold(r.Context(), productID, qty, key)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, holdBody(h, h.Status))
	return nil
}

// getHold is GET /api/holds/{id}. It reads the committed row; a hold past
// its expiry shows as expired even before its release is written.
func (s *Server) getHold(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, flashsale.ErrHoldNotFound)
	if err != nil {
		return err
	}
	h, err := s.store.Hold(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, holdBody(h, h.StatusAt(time.Now())))
	return nil
}

// idempotencyKey reads the optional Idempotency-Key header.
func idempotencyKey(r *http.Request) (string, error) {
	values := r.Header.Values("Idempotency-Key")
	if len(values) == 0 {
		return "", nil
	}
	key := values[0]
	if len(values) > 1 || key == "" || len(key) > maxKeyLength || !utf8.ValidString(key) {
		return "", badRequest("The Idempotency-Key header must be one value of 1 to %d characters", maxKeyLength)
	}
	return key, nil
}
