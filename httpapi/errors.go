package httpapi

import (
	"errors"
	"flashsale"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/rs/zerolog"
)

// Errors of the HTTP layer itself.
var (
	errRouteNotFound    = errors.New("route not found")
	errMethodNotAllowed = errors.New("method not allowed")
	errUnauthorized     = errors.New("missing or wrong admin token")
	errAdminDisabled    = errors.New("admin API disabled")
	errBodyTooLarge     = errors.New("request body too large")
	errBadSignature     = errors.New("missing or wrong webhook signature")
)

// statusOf is the one table from error to HTTP status and the message a
// client may see. An error not in it is a 500 whose detail only the log
// gets.
var statusOf = []struct {
	err     error
	status  int
	message string
}{
	{flashsale.ErrProductNotFound, http.StatusNotFound, "Product not found"},
	{flashsale.ErrHoldNotFound, http.StatusNotFound, "Hold not found"},
	{flashsale.ErrOrderNotFound, http.StatusNotFound, "Order not found"},
	{errRouteNotFound, http.StatusNotFound, "Not found"},
	{errMethodNotAllowed, http.StatusMethodNotAllowed, "Method not allowed"},
	{errUnauthorized, http.StatusUnauthorized, "Unauthenticated"},
	{errBadSignature, http.StatusUnauthorized, "Invalid signature"},
	{errAdminDisabled, http.StatusForbidden, "Admin API disabled: no admin token is configured"},
	{errBodyTooLarge, http.StatusRequestEntityTooLarge, "Request body too large"},
	{flashsale.ErrInsufficientStock, http.StatusConflict, "Insufficient stock"},
	{flashsale.ErrHoldExpired, http.StatusConflict, "Hold expired"},
	{flashsale.ErrHoldUsed, http.StatusConflict, "Hold already used"},
	{flashsale.ErrIdempotencyConflict, http.StatusConflict, "Idempotency key reused with a different payload"},
	{flashsale.ErrStockBelowCommitted, http.StatusConflict, "Stock cannot be set below the units already held or ordered"},
	{flashsale.ErrUnavailable, http.StatusServiceUnavailable, "Service unavailable, try again shortly"},
}

// badRequestError is a request that could not be read: 400.
type badRequestError struct{ message string }

func (e *badRequestError) Error() string { return e.message }

func badRequest(format string, args ...any) error {
	return &badRequestError{message: fmt.Sprintf(format, args...)}
}

// validationError lists what is wrong with each field: 422.
type validationError struct{ fields map[string][]string }

func (e *validationError) Error() string {
	names := make([]string, 0, len(e.fields))
	for name := range e.fields {
		names = append(names, name)
	}
	sort.Strings(names)
	return "invalid " + strings.Join(names, ", ")
}

func (e *validationError) add(field, format string, args ...any) {
	if e.fields == nil {
		e.fields = map[string][]string{}
	}
	e.fields[field] = append(e.fields[field], fmt.Sprintf(format, args...))
}

// err returns nil when nothing was added. It returns a copy, so that a
// handler's validationError, which most requests leave empty, stays on
// its stack.
func (e *validationError) err() error {
	if len(e.fields) == 0 {
		return nil
	}
	return &validationError{fields: e.fields}
}

type errorBody struct {
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors,omitempty"`
	OrderID int64               `json:"order_id,omitempty"` // the order a used hold became
}

// writeError answers with the status and message the table gives err.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		bad     *badRequestError
		invalid *validationError
		used    *flashsale.HoldUsedError
	)
	status, body := http.StatusInternalServerError, errorBody{Message: "Internal server error"}
	switch {
	case errors.As(err, &bad):
		status, body.Message = http.StatusBadRequest, bad.message
	case errors.As(err, &invalid):
		status, body.Message, body.Errors = http.StatusUnprocessableEntity, "The given data was invalid.", invalid.fields
	default:
		for _, e := range statusOf {
			if errors.Is(err, e.err) {
				status, body.Message = e.status, e.message
				break
			}
		}
		if errors.As(err, &used) {
			body.OrderID = used.OrderID
		}
	}
	log := zerolog.Ctx(r.Context())
	switch {
	case status >= 500:
		log.Error().Err(err).Int("status", status).Msg("request failed")
	default:
		log.Debug().Err(err).Int("status", status).Msg("request rejected")
	}
	if status == http.StatusServiceUnavailable {
		w.Header()["Retry-After"] = retryAfter
	}
	writeJSON(w, status, body)
}
