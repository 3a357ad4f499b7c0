package bench

import (
	"slices"
	"testing"
)

func TestRoundTicks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		top  float64
		want []float64
	}{
		{10500, []float64{0, 5000, 10000, 15000}},
		{10000, []float64{0, 2500, 5000, 7500, 10000}},
		{37.2, []float64{0, 10, 20, 30, 40}},
		{0, []float64{0, 0.25, 0.5, 0.75, 1}},
	}
	for _, tc := range cases {
		ticks, top := roundTicks(tc.top)
		var got []float64
		for _, tk := range ticks {
			got = append(got, tk.at)
		}
		if !slices.Equal(got, tc.want) || top != tc.want[len(tc.want)-1] {
			t.Errorf("roundTicks(%v) = %v up to %v; want %v", tc.top, got, top, tc.want)
		}
	}
}

func TestNinesLabel(t *testing.T) {
	t.Parallel()
	for n, want := range []string{"0%", "90%", "99%", "99.9%", "99.99%"} {
		if got := ninesLabel(n); got != want {
			t.Errorf("ninesLabel(%d) = %q; want %q", n, got, want)
		}
	}
}
