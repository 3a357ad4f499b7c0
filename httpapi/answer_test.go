package httpapi

import (
	"encoding/json"
	"testing"
)

// FuzzAnswerJSON: an answer that writes its own JSON writes what
// encoding/json writes for it, whatever its strings and numbers.
func FuzzAnswerJSON(f *testing.F) {
	f.Add(int64(1), int64(2), "active", "2026-12-01T04:00:00Z", "key-1", "qty")
	f.Add(int64(0), int64(-9), "", "<&>\"\\\n\t\x01\x7f", "\xff\u2028é", "")
	f.Fuzz(func(t *testing.T, n, m int64, s1, s2, s3, s4 string) {
		answers := []jsonAnswer{
			HoldJSON{HoldID: n, ProductID: m, Qty: n ^ m, Status: s1, ExpiresAt: s2},
			OrderJSON{OrderID: n, HoldID: m, ProductID: -n, Qty: -m, Amount: s1, Status: s2},
			PaymentJSON{OrderID: n, Status: s1, IdempotencyKey: s3},
			pendingPaymentJSON{OrderID: m, Status: s2},
			errorBody{Message: s1},
			errorBody{Message: s2, OrderID: n},
			errorBody{Message: s3, Errors: map[string][]string{s4: {s1, s2}, s3: nil, s1 + "x": {}}, OrderID: m},
		}
		for _, a := range answers {
			want, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.appendJSON([]byte("prefix")); string(got) != "prefix"+string(want) {
				t.Errorf("%T appends %s; encoding/json writes %s", a, got[len("prefix"):], want)
			}
		}
	})
}
