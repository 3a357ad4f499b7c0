package flashsale_test

import (
	"testing"

	"flashsale"
)

// FuzzParseMoney: an accepted amount is non-negative, bounded, and reads
// back the same from its own formatting; money never passes a float.
func FuzzParseMoney(f *testing.F) {
	for _, seed := range []string{"19.99", "5", "0.5", "0", "1.999", "-1", "1e3", "12345678901", ".5", "5.", "０.５", "9999999999.99"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := flashsale.ParseMoney(s)
		if err != nil {
			return
		}
		if m < 0 {
			t.Fatalf("ParseMoney(%q) = %d, negative", s, m)
		}
		again, err := flashsale.ParseMoney(m.String())
		if err != nil || again != m {
			t.Fatalf("ParseMoney(%q) = %s, which reads back as %d, %v", s, m, again, err)
		}
	})
}
