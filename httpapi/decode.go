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

// object is a request's JSON object: its fields in the order sent, each
// key once and unescaped, each value its raw JSON text without the spaces
// around it. Bodies have a handful of fields, so a lookup is a scan.
type object []field

type field struct {
	key   []byte
	value []byte
}

// get returns the raw value of the field name, if it was sent.
func (o object) get(name string) ([]byte, bool) {
	for _, f := range o {
		if string(f.key) == name {
			return f.value, true
		}
	}
	return nil, false
}

// readObject reads a request body that must be one JSON object, whatever
// Content-Type the client sent (curl -d says form). Fields are kept raw so
// that each can be checked for its type and reported by name.
func (s *Server) readObject(w http.ResponseWriter, r *http.Request) (object, error) {
	return s.readObjectInto(w, r, nil)
}

// readObjectInto is readObject, its fields appended to into as
// decodeObjectInto does.
func (s *Server) readObjectInto(w http.ResponseWriter, r *http.Request, into object) (object, error) {
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	return decodeObjectInto(body, into)
}

// readBody reads a request body of at most MaxBody bytes. A body whose
// length the client declared, as nearly every client does, is read into
// a buffer of that length: io.ReadAll would start at 512 bytes for the
// few dozen a hold sends. A longer declared body, or one of unknown
// length, goes through http.MaxBytesReader, which refuses it when it
// passes MaxBody and closes the connection after the answer.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= s.cfg.MaxBody {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, badRequest("Could not read the request body")
		}
		return body, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		if _, tooLarge := err.(*http.MaxBytesError); tooLarge {
			return nil, errBodyTooLarge
		}
		return nil, badRequest("Could not read the request body")
	}
	return body, nil
}

// Refusals of decodeObject that name nothing of the body.
var (
	errNotObject = badRequest("Malformed JSON: the body must be a JSON object")
	errNotUTF8   = badRequest("Malformed JSON: the body is not valid UTF-8")
	errTrailing  = badRequest("Malformed JSON: unexpected data after the JSON object")
)

// decodeObject parses a body that must be exactly one JSON object, with
// each key once and nothing after it. Go's decoder would quietly keep the
// last of two equal keys and mend invalid UTF-8; a payment or a hold must
// not depend on which of two values was meant. The bodies clients send
// are read by scanFlatObject without encoding/json; whatever it does not
// take, well-formed or not, is read token by token, so that every refusal
// comes from one place.
func decodeObject(body []byte) (object, error) {
	return decodeObjectInto(body, nil)
}

// decodeObjectInto is decodeObject appending the fields of a body the
// flat scan takes to into, which may be nil: a caller whose object does
// not outlive it may pass an array of its own, and save an allocation.
func decodeObjectInto(body []byte, into object) (object, error) {
	if !utf8.Valid(body) {
		return nil, errNotUTF8
	}
	if obj, ok := scanFlatObject(body, into); ok {
		return obj, nil
	}
	return decodeTokens(body)
}

// decodeTokens is decodeObject for any body, with encoding/json's
// tokenizer.
func decodeTokens(body []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errNotObject
	}
	var obj object
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errNotObject
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errNotObject
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errNotObject
		}
		if seen[key] {
			return nil, badRequest("Malformed JSON: the key %q appears more than once", key)
		}
		seen[key] = true
		obj = append(obj, field{key: []byte(key), value: raw})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailing
	}
	return obj, nil
}

// intField reads a required integer of at least min: a JSON integer, or
// a string that spells one the same way (Laravel's integer rule accepts
// "1", and so do clients written against it).
func intField(obj object, name string, min int64, v *validationError) int64 {
	raw, ok := present(obj, name)
	if !ok {
		v.add(name, "The %s field is required.", name)
		return 0
	}
	n, err := strconv.ParseInt(string(integerText(raw)), 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange):
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
func integerText(raw []byte) []byte {
	s, ok := stringValue(raw)
	if !ok || len(s) == 0 || (s[0] == '0' && len(s) > 1) || !digits(s) {
		return raw
	}
	return s
}

func digits(s []byte) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// stringValue is the content of a raw JSON value that is a string,
// unescaped; ok is false for any other value. Most strings have no
// escapes, and their content is their text.
func stringValue(raw []byte) (s []byte, ok bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, false
	}
	if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 {
		return inner, true
	}
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		return nil, false
	}
	return []byte(text), true
}

// requiredString reads a required JSON string as sent; ok is false when
// the field is missing or not a string, which it reports.
func requiredString(obj object, name string, v *validationError) (s string, ok bool) {
	raw, ok := present(obj, name)
	if !ok {
		v.add(name, "The %s field is required.", name)
		return "", false
	}
	text, ok := stringValue(raw)
	if !ok {
		v.add(name, "The %s field must be a string.", name)
		return "", false
	}
	return string(text), true
}

// stringField reads a required JSON string of 1 to max characters, with
// the spaces around it dropped.
func stringField(obj object, name string, max int, v *validationError) string {
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
func moneyField(obj object, name string, v *validationError) flashsale.Money {
	raw, ok := present(obj, name)
	if !ok {
		v.add(name, "The %s field is required.", name)
		return 0
	}
	text := raw
	if raw[0] == '"' {
		if text, ok = stringValue(raw); !ok {
			v.add(name, "The %s field must be a decimal amount.", name)
			return 0
		}
	}
	m, err := flashsale.ParseMoney(strings.TrimSpace(string(text)))
	if err != nil {
		v.add(name, "The %s field must be a non-negative amount with at most two decimal places.", name)
		return 0
	}
	return m
}

// present returns a field's raw value; null counts as absent.
func present(obj object, name string) ([]byte, bool) {
	raw, ok := obj.get(name)
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
