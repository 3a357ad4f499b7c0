package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeObject: whatever the body, the decoder answers with an object
// or a 400, and an object it accepts is exactly what the body says: valid
// UTF-8 JSON, one value per key. Its fast path answers as encoding/json's
// tokenizer alone does: the same fields, the same refusals.
func FuzzDecodeObject(f *testing.F) {
	for _, seed := range []string{
		`{"product_id":1,"qty":2}`, `{"qty":1,"qty":2}`, `{"a":{"b":1}} x`, `[1]`, `null`, `{}`, "{\"k\":\"\xff\"}",
		`{"qty":1e400}`, ` {"a" : [1, {"b": null}]} `, `{"a":1}{"b":2}`, `{"a":1,}`,
		` { } `, `{"a" : -0.5e+3 , "b":true,"c":false,"d":null}`, `{"a":01}`, `{"a":tru}`, `{"a":1.}`, `{"a":-}`,
		`{"a\u0062":1,"ab":2}`, `{"a":"\u00e9\n\/"}`, `{"a":"\x"}`, "{\"a\":\"\x01\"}", `{"a":1,"a":[}`,
		`{"a":"\ud800"}`, `{"a":1 "b":2}`, `{"a":1}]`, "{\"a\":1}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, err := decodeObject(body)
		if utf8.Valid(body) {
			ref, refErr := decodeTokens(body)
			if !reflect.DeepEqual(fieldStrings(obj), fieldStrings(ref)) || fmt.Sprint(err) != fmt.Sprint(refErr) {
				t.Fatalf("%q: decodeObject = %q, %v; the tokenizer reads %q, %v",
					body, fieldStrings(obj), err, fieldStrings(ref), refErr)
			}
		}
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
		for _, f := range obj {
			if v, ok := plain[string(f.key)]; !ok || !bytes.Equal(v, f.value) {
				t.Fatalf("accepted %q with %s = %s; encoding/json reads %s", body, f.key, f.value, v)
			}
		}
	})
}

// fieldStrings shows an object's fields as key, value pairs.
func fieldStrings(obj object) [][2]string {
	var pairs [][2]string
	for _, f := range obj {
		pairs = append(pairs, [2]string{string(f.key), string(f.value)})
	}
	return pairs
}

// FuzzIntField: a field is accepted as an integer only when its JSON is
// exactly that integer, or a string that spells it exactly so, within
// range, at least the minimum; and such a string is read as the number.
func FuzzIntField(f *testing.F) {
	for _, seed := range []string{`1`, `1.5`, `"2"`, `-3`, `0`, `1e2`, `99999999999999999999`, `null`, `true`, ` 7`,
		`"1.5"`, `"-3"`, `""`, `" 1"`, `"007"`, `"two"`, `"\u0031"`, `"99999999999999999999"`, `"+1"`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, sent string) {
		// The field as the handlers get it: decodeObject's raw value,
		// without the spaces around it.
		obj, err := decodeObject([]byte(`{"qty":` + sent + `}`))
		if err != nil {
			return
		}
		var v validationError
		n := intField(obj, "qty", 1, &v)
		raw, _ := obj.get("qty")
		text := string(raw)
		if json.Unmarshal(raw, &text) != nil {
			text = string(raw)
		}
		want, err := strconv.ParseInt(text, 10, 64)
		canonical := err == nil && strconv.FormatInt(want, 10) == text && want >= 1
		if v.err() != nil {
			if canonical {
				t.Fatalf("refused %q: %v", raw, v.fields)
			}
			return
		}
		if !canonical || n != want {
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
