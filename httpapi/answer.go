package httpapi

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
)

// Header values every answer of a kind carries. Each list is shared by
// those answers, so that setting it costs no allocation: it must never be
// written to, and its capacity is its length, so that an Add copies it.
var (
	jsonContentType = []string{"application/json"}[:1:1]
	retryAfter      = []string{"1"}[:1:1]
	corsAnyOrigin   = []string{"*"}[:1:1]
	corsExposeList  = []string{corsExposeHeaders}[:1:1]
)

// writeJSON writes v with a status. Every API response is JSON. The
// busiest answers write their own JSON (jsonAnswer); any other v goes
// through encoding/json.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	a, ok := v.(jsonAnswer)
	if !ok {
		_ = json.NewEncoder(w).Encode(v) // the client may have gone; nothing to do
		return
	}
	writeAnswerBody(w, a)
}

// writeAnswer is writeJSON for an answer that writes its own JSON, taken
// as it is rather than boxed in an interface: an allocation less on the
// busiest answers.
func writeAnswer[A jsonAnswer](w http.ResponseWriter, status int, a A) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	writeAnswerBody(w, a)
}

func writeAnswerBody[A jsonAnswer](w http.ResponseWriter, a A) {
	buf := answerBuffers.Get().(*[]byte)
	*buf = append(a.appendJSON((*buf)[:0]), '\n')
	_, _ = w.Write(*buf)
	answerBuffers.Put(buf)
}

// answerBuffers hold answers while they are written.
var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// jsonAnswer is an answer that appends its own JSON: byte for byte what
// encoding/json writes for it (a test holds them to that), without
// reflection.
type jsonAnswer interface {
	appendJSON(b []byte) []byte
}

func (h HoldJSON) appendJSON(b []byte) []byte {
	b = appendInt(b, `{"hold_id":`, h.HoldID)
	b = appendInt(b, `,"product_id":`, h.ProductID)
	b = appendInt(b, `,"qty":`, h.Qty)
	b = appendString(b, `,"status":`, h.Status)
	b = appendString(b, `,"expires_at":`, h.ExpiresAt)
	return append(b, '}')
}

func (o OrderJSON) appendJSON(b []byte) []byte {
	b = appendInt(b, `{"order_id":`, o.OrderID)
	b = appendInt(b, `,"hold_id":`, o.HoldID)
	b = appendInt(b, `,"product_id":`, o.ProductID)
	b = appendInt(b, `,"qty":`, o.Qty)
	b = appendString(b, `,"amount":`, o.Amount)
	b = appendString(b, `,"status":`, o.Status)
	return append(b, '}')
}

func (p PaymentJSON) appendJSON(b []byte) []byte {
	b = appendInt(b, `{"order_id":`, p.OrderID)
	b = appendString(b, `,"status":`, p.Status)
	b = appendString(b, `,"idempotency_key":`, p.IdempotencyKey)
	return append(b, '}')
}

func (p pendingPaymentJSON) appendJSON(b []byte) []byte {
	b = appendInt(b, `{"order_id":`, p.OrderID)
	b = appendString(b, `,"status":`, p.Status)
	return append(b, '}')
}

func (e errorBody) appendJSON(b []byte) []byte {
	b = appendString(b, `{"message":`, e.Message)
	if len(e.Errors) > 0 {
		b = append(b, `,"errors":`...)
		sep := byte('{') // encoding/json writes a map's keys in order
		for _, name := range slices.Sorted(maps.Keys(e.Errors)) {
			b = appendString(append(b, sep), "", name)
			b = appendStrings(append(b, ':'), e.Errors[name])
			sep = ','
		}
		b = append(b, '}')
	}
	if e.OrderID != 0 {
		b = appendInt(b, `,"order_id":`, e.OrderID)
	}
	return append(b, '}')
}

// appendInt appends prefix and n.
func appendInt(b []byte, prefix string, n int64) []byte {
	return strconv.AppendInt(append(b, prefix...), n, 10)
}

// appendStrings appends list as a JSON array, or null for nil.
func appendStrings(b []byte, list []string) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, "", s)
	}
	return append(b, ']')
}

// appendString appends prefix and s as a JSON string. A string with
// nothing to escape is copied; any other is left to encoding/json, which
// escapes quotes, controls, <, >, & and invalid UTF-8 its own way.
func appendString(b []byte, prefix string, s string) []byte {
	b = append(b, prefix...)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(s) // a string always marshals
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
