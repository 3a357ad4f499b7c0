package httpapi

import (
	"encoding/json"
	"strconv"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeObject: whatever the body, the decoder answers with an object
// or a 400, and an object it accepts is exactly what the body says: valid
// UTF-8 JSON, one value per key.
func FuzzDecodeObject(f *testing.F) {
	for _, seed := range []string{
		`{"product_id":1,"qty":2}`, `{"qty":1,"qty":2}`, `{"a":{"b":1}} x`, `[1]`, `null`, `{}`, "{\"k\":\"\xff\"}",
		`{"qty":1e400}`, ` {"a" : [1, {"b": null}]} `, `{"a":1}{"b":2}`, `{"a":1,}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, err := decodeObject(body)
		if err != nil {
			if _, ok := err.(*badRequestError); !ok {
				t.Fatalf("error %T %v; want a 400", err, err)
			}
			return
		}
		if !utf8.Valid(body) || !json.Valid(body) {
			t.Fatalf("accepted %q, which is not valid UTF-8 JSON", body)
		}
		var plain map[string]json.RawMessage
		if err := json.Unmarshal(body, &plain); err != nil || len(plain) != len(obj) {
			t.Fatalf("accepted %q as %d keys; encoding/json reads %d (%v)", body, len(obj), len(plain), err)
		}
	})
}

// FuzzIntField: a field is accepted as an integer only when its JSON is
// exactly that integer, within range, at least the minimum.
func FuzzIntField(f *testing.F) {
	for _, seed := range []string{`1`, `1.5`, `"2"`, `-3`, `0`, `1e2`, `99999999999999999999`, `null`, `true`, ` 7`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !json.Valid([]byte(raw)) {
			return // decodeObject refuses the body before any field is read
		}
		var v validationError
		n := intField(map[string]json.RawMessage{"qty": json.RawMessage(raw)}, "qty", 1, &v)
		if v.err() != nil {
			return
		}
		if n < 1 || strconv.FormatInt(n, 10) != raw {
			t.Fatalf("accepted %q as %d", raw, n)
		}
	})
}

// TestSignWebhook: the signature is sha256= and the lowercase hex
// HMAC-SHA256 of the body under the secret, as a known vector shows.
func TestSignWebhook(t *testing.T) {
	const want = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	if got := SignWebhook("key", []byte("The quick brown fox jumps over the lazy dog")); got != want {
		t.Fatalf("SignWebhook = %q; want %q", got, want)
	}
}

// FuzzValidSignature: a webhook passes exactly when its header is the
// signature SignWebhook makes of the body under the secret.
func FuzzValidSignature(f *testing.F) {
	f.Add("secret", []byte(`{"order_id":1}`), "sha256=00")
	f.Add("", []byte{}, "")
	f.Add("k", []byte("x"), "sha256=")
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string) {
		want := SignWebhook(secret, body)
		if got := validSignature(secret, body, header); got != (header == want) {
			t.Fatalf("validSignature(%q, %q, %q) = %v", secret, body, header, got)
		}
		if !validSignature(secret, body, want) {
			t.Fatalf("the right signature %q was refused", want)
		}
	})
}
