package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"flashsale"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/mux"
)

// readObject reads a request body that must be one JSON object, whatever
// Content-Type the client sent (curl -d says form). Fields are kept raw so
// that each can be checked for its type and reported by name.
func (s *Server) readObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, errBodyTooLarge
	case err != nil:
		return nil, badRequest("Could not read the request body")
	}
	return decodeObject(body)
}

// decodeObject parses a body that must be exactly one JSON object, with
// each key once and nothing after it. Go's decoder would quietly keep the
// last of two equal keys and mend invalid UTF-8; a payment or a hold must
// not depend on which of two values was meant.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(body) {
		return nil, badRequest("Malformed JSON: the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	malformed := badRequest("Malformed JSON: the body must be a JSON object")
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, malformed
	}
	obj := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed
		}
		key, ok := tok.(string)
		if !ok {
			return nil, malformed
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, malformed
		}
		if _, dup := obj[key]; dup {
			return nil, badRequest("Malformed JSON: the key %q appears more than once", key)
		}
		obj[key] = raw
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, malformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("Malformed JSON: unexpected data after the JSON object")
	}
	return obj, nil
}

// intField reads a required integer of at least min: a JSON integer, or
// a string that spells one the same way (Laravel's integer rule accepts
// "1", and so do clients written against it).
func intField(obj map[string]json.RawMessage, name string, min int64, v *validationError) int64 {
	raw, ok := present(obj, name)
	if !ok {
		v.add(name, "The %s field is required.", name)
		return 0
	}
	n, err := strconv.ParseInt(integerText(raw), 10, 64)
	var numErr *strconv.NumError
	switch {
	case errors.As(err, &numErr) && errors.Is(numErr.Err, strconv.ErrRange):
		v.add(name, "The %s field is out of range.", name)
		return 0
	case err != nil:
		v.add(name, "The %s field must be an integer.", name)
		return 0
	case n < min:
		v.add(name, "The %s field must be at least %d.", name, min)
		return 0
	}
	return n
}

// integerText is the text of an integer field: a JSON number as it is, or
// the content of a string of decimal digits without a leading zero, the
// spelling a JSON number has. Anything else is returned as it is, for
// ParseInt to refuse: a sign, spaces, a fraction or an exponent inside
// the quotes is not the plain integer such a client means to send.
func integerText(raw json.RawMessage) string {
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return string(raw)
	}
	if s == "" || (s[0] == '0' && len(s) > 1) || strings.Trim(s, "0123456789") != "" {
		return string(raw)
	}
	return s
}

// requiredString reads a required JSON string as sent; ok is false when
// the field is missing or not a string, which it reports.
func requiredString(obj map[string]json.RawMessage, name string, v *validationError) (s string, ok bool) {
	raw, ok := present(obj, name)
	if !ok {
		v.add(name, "The %s field is required.", name)
		return "", false
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		v.add(name, "The %s field must be a string.", name)
		return "", false
	}
	return s, true
}

// stringField reads a required JSON string of 1 to max characters, with
// the spaces around it dropped.
func stringField(obj map[string]json.RawMessage, name string, max int, v *validationError) string {
	s, ok := requiredString(obj, name, v)
	if !ok {
		return ""
	}
	switch s = strings.TrimSpace(s); {
	case s == "":
		v.add(name, "The %s field is required.", name)
	case len([]rune(s)) > max:
		v.add(name, "The %s field must not be greater than %d characters.", name, max)
	}
	return s
}

// moneyField reads a required amount given as a decimal string or number.
func moneyField(obj map[string]json.RawMessage, name string, v *validationError) flashsale.Money {
	raw, ok := present(obj, name)
	if !ok {
		v.add(name, "The %s field is required.", name)
		return 0
	}
	text := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			v.add(name, "The %s field must be a decimal amount.", name)
			return 0
		}
	}
	m, err := flashsale.ParseMoney(strings.TrimSpace(text))
	if err != nil {
		v.add(name, "The %s field must be a non-negative amount with at most two decimal places.", name)
		return 0
	}
	return m
}

// present returns a field's raw value; null counts as absent.
func present(obj map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	raw, ok := obj[name]
	if !ok || len(raw) == 0 || string(raw) == "null" {
		return nil, false
	}
	return raw, true
}

// pathID reads the {id} of a route. Anything but a positive integer names
// nothing that exists.
func pathID(r *http.Request, notFound error) (int64, error) {
	id, err := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	if err != nil || id < 1 {
		return 0, notFound
	}
	return id, nil
}

// writeJSON writes v with a status. Every API response is JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone; nothing to do
}
