package bench

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// holdAnswer is what the books need of a hold's answer. Its byte slices
// point into the answer's body.
type holdAnswer struct {
	HoldID, ProductID, Qty int64
	Status, ExpiresAt      []byte
}

// decodeHold reads a hold's answer. A hold is the answer the load gets
// most, so the compact form the server writes is read in place, without
// reflection or allocation; any other form goes through encoding/json.
func decodeHold(body []byte) (holdAnswer, bool) {
	var h holdAnswer
	seen := 0
	flat := scanFlat(body, func(key, value []byte, quoted bool) {
		var n *int64
		switch string(key) {
		case "hold_id":
			n = &h.HoldID
		case "product_id":
			n = &h.ProductID
		case "qty":
			n = &h.Qty
		case "status":
			h.Status, seen = value, seen+1
		case "expires_at":
			h.ExpiresAt, seen = value, seen+1
		}
		if n != nil && !quoted {
			if v, err := strconv.ParseInt(string(value), 10, 64); err == nil {
				*n, seen = v, seen+1
			}
		}
	})
	if flat && seen == 5 {
		return h, true
	}
	var j holdJSON
	if json.Unmarshal(body, &j) != nil {
		return holdAnswer{}, false
	}
	return holdAnswer{HoldID: j.HoldID, ProductID: j.ProductID, Qty: j.Qty,
		Status: []byte(j.Status), ExpiresAt: []byte(j.ExpiresAt)}, true
}

// scanFlat calls f with each member of a compact JSON object whose values
// are strings without escapes or bare literals (numbers, true, false,
// null). It returns false, maybe after some calls, when body is not one.
func scanFlat(body []byte, f func(key, value []byte, quoted bool)) bool {
	b := bytes.TrimSpace(body)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	b = b[1 : len(b)-1]
	for len(b) > 0 {
		key, rest, ok := quotedPrefix(b)
		if !ok || len(rest) == 0 || rest[0] != ':' {
			return false
		}
		rest = rest[1:]
		var value []byte
		quoted := len(rest) > 0 && rest[0] == '"'
		if quoted {
			if value, rest, ok = quotedPrefix(rest); !ok {
				return false
			}
		} else {
			end := bytes.IndexByte(rest, ',')
			if end < 0 {
				end = len(rest)
			}
			value, rest = rest[:end], rest[end:]
			if len(value) == 0 || bytes.ContainsAny(value, "{}[]\" \t\r\n") {
				return false
			}
		}
		f(key, value, quoted)
		switch {
		case len(rest) == 0:
			return true
		case rest[0] == ',':
			b = rest[1:]
		default:
			return false
		}
	}
	return true
}

// quotedPrefix splits a leading string without escapes off b.
func quotedPrefix(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, b, false
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 || bytes.IndexByte(b[1:1+end], '\\') >= 0 {
		return nil, b, false
	}
	return b[1 : 1+end], b[2+end:], true
}
