package flashsale_test

import (
	"crypto/sha256"
	"encoding/hex"
	"flashsale"
	"fmt"
	"testing"
)

// The hash of a hold's payload is kept in its row and compared with the
// hash of a repeat: it must stay the SHA-256 of the canonical text
// however it is computed, remembered or not.
func TestHoldRequestHash(t *testing.T) {
	want := func(productID, qty int64) string {
		sum := sha256.Sum256(fmt.Appendf(nil, "hold:product_id=%d;qty=%d", productID, qty))
		return hex.EncodeToString(sum[:])
	}
	// Each payload twice (hashed, then remembered), and payloads that
	// share a slot (31 × 1 + 0 and 31 × 0 + 31), and others in between.
	payloads := [][2]int64{{1, 1}, {1, 1}, {1, 0}, {0, 31}, {1, 0}, {0, 31}, {7, 3}, {9_223_372_036_854_775_807, 1}, {-5, -2}, {7, 3}}
	for i := int64(1); i < 3000; i += 7 {
		payloads = append(payloads, [2]int64{i, i % 5}, [2]int64{i + 1024, i % 5})
	}
	for _, p := range payloads {
		if got, w := flashsale.HoldRequestHash(p[0], p[1]), want(p[0], p[1]); got != w {
			t.Fatalf("HoldRequestHash(%d, %d) = %s, want %s", p[0], p[1], got, w)
		}
	}
}
