package httpapi

import (
	"context"
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
	var fields [4]field // the body's fields: the object does not outlive the call
	key, obj, err := s.readKeyed(w, r, fields[:0])
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
	writeAnswer(w, http.StatusCreated, holdBody(h, h.Status))
	return nil
}

// getHold is GET /api/holds/{id}. It reads the committed row; a hold past
// its expiry shows as expired even before its release is written.
func (s *Server) getHold(w http.ResponseWriter, r *http.Request) error {
	return getByID(w, r, flashsale.ErrHoldNotFound, s.store.Hold, func(h flashsale.Hold) HoldJSON {
		return holdBody(h, h.StatusAt(time.Now()))
	})
}

// readKeyed reads what a request that creates something carries: its
// optional Idempotency-Key header and its JSON object, its fields
// appended to into as decodeObjectInto does.
func (s *Server) readKeyed(w http.ResponseWriter, r *http.Request, into object) (key string, obj object, err error) {
	values := r.Header.Values("Idempotency-Key")
	if len(values) > 0 {
		key = values[0]
		// Characters, not bytes, as for a webhook's idempotency_key.
		if len(values) > 1 || key == "" || !utf8.ValidString(key) || utf8.RuneCountInString(key) > maxKeyLength {
			return "", nil, badRequest("The Idempotency-Key header must be one value of 1 to %d characters", maxKeyLength)
		}
	}
	obj, err = s.readObjectInto(w, r, into)
	return key, obj, err
}

// getByID answers a GET of one resource by the id in its path, read by
// read and shown by show; an id that is not a positive integer is
// notFound, as an unknown one is.
func getByID[T, J any](w http.ResponseWriter, r *http.Request, notFound error,
	read func(context.Context, int64) (T, error), show func(T) J) error {
	id, err := pathID(r, notFound)
	if err != nil {
		return err
	}
	v, err := read(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, show(v))
	return nil
}
