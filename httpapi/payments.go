package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flashsale"
	"net/http"
	"strings"
	"unicode/utf8"
)

// signaturePrefix starts the X-Signature header: sha256=<lowercase hex>.
const signaturePrefix = "sha256="

// PaymentJSON is the answer to a payment webhook that was applied: its
// order's status after it, and the webhook's own key.
type PaymentJSON struct {
	OrderID        int64  `json:"order_id"`
	Status         string `json:"status"`
	IdempotencyKey string `json:"idempotency_key"`
}

type pendingPaymentJSON struct {
	OrderID int64  `json:"order_id"`
	Status  string `json:"status"`
}

// paymentWebhook is POST /api/payments/webhook, the payment provider's
// callback. The signature covers the raw body, so it is checked before
// the body is parsed, and nothing is recorded for a bad one.
func (s *Server) paymentWebhook(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	s.metrics.webhooks.Inc()
	if s.cfg.WebhookSecret != "" && !validSignature(s.cfg.WebhookSecret, body, r.Header.Get("X-Signature")) {
		s.metrics.webhooksBadSigned.Inc()
		return errBadSignature
	}
	obj, err := decodeObject(body)
	if err != nil {
		return err
	}
	var invalid validationError
	key := keyField(obj, "idempotency_key", &invalid)
	orderID := intField(obj, "order_id", 1, &invalid)
	status := flashsale.PaymentStatus(enumField(obj, "status", &invalid,
		string(flashsale.PaymentSuccess), string(flashsale.PaymentFailed), string(flashsale.PaymentCancelled)))
	if err := invalid.err(); err != nil {
		return err
	}
	res, err := s.products.ApplyPayment(r.Context(), key, orderID, status)
	if err != nil {
		return err
	}
	if res.Pending {
		writeJSON(w, http.StatusAccepted, pendingPaymentJSON{OrderID: res.OrderID, Status: "pending"})
		return nil
	}
	writeJSON(w, http.StatusOK, PaymentJSON{OrderID: res.OrderID, Status: string(res.Status), IdempotencyKey: key})
	return nil
}

// validSignature checks header against the HMAC-SHA256 of body keyed with
// secret, in time that does not depend on how much of it matches.
func validSignature(secret string, body []byte, header string) bool {
	return hmac.Equal([]byte(header), []byte(SignWebhook(secret, body)))
}

// SignWebhook is the X-Signature header a payment provider sends with
// body: sha256= and the lowercase hex HMAC-SHA256 of body keyed with secret.
func SignWebhook(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// keyField reads a required idempotency key: a non-empty string of at most
// 255 characters, taken exactly as sent.
func keyField(obj object, name string, v *validationError) string {
	s, ok := requiredString(obj, name, v)
	if !ok {
		return ""
	}
	switch {
	case s == "":
		v.add(name, "The %s field is required.", name)
	case utf8.RuneCountInString(s) > maxKeyLength:
		v.add(name, "The %s field must not be greater than %d characters.", name, maxKeyLength)
	}
	return s
}

// enumField reads a required string that must be one of allowed.
func enumField(obj object, name string, v *validationError, allowed ...string) string {
	raw, ok := present(obj, name)
	if !ok {
		v.add(name, "The %s field is required.", name)
		return ""
	}
	if s, ok := stringValue(raw); ok {
		for _, a := range allowed {
			if string(s) == a {
				return a
			}
		}
	}
	v.add(name, "The selected %s is invalid: it must be one of %s.", name, strings.Join(allowed, ", "))
	return ""
}
