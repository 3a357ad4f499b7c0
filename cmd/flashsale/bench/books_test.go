package bench

import "testing"

func TestBooksProblems(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		products []productCount
		problems int
	}{
		{"balanced", []productCount{{ID: 1, Stock: 100, Available: 60, Told: 40}, {ID: 2, Stock: 5, Available: 5}}, 0},
		{"a unit taken that nobody was told", []productCount{{ID: 1, Stock: 100, Available: 59, Told: 40}}, 1},
		{"a unit told but not taken", []productCount{{ID: 1, Stock: 100, Available: 61, Told: 40}}, 1},
		{"one bad product of two", []productCount{{ID: 1, Stock: 10, Available: 0, Told: 10}, {ID: 2, Stock: 10, Available: 3, Told: 6}}, 1},
		{"ambiguous answers that took units", []productCount{{ID: 1, Stock: 100, Available: 58, Told: 40, Ambiguous: 2}}, 0},
		{"ambiguous answers that did not", []productCount{{ID: 1, Stock: 100, Available: 60, Told: 40, Ambiguous: 2}}, 0},
		{"more taken than even ambiguous answers explain", []productCount{{ID: 1, Stock: 100, Available: 57, Told: 40, Ambiguous: 2}}, 1},
		{"fewer taken than told, despite ambiguous answers", []productCount{{ID: 1, Stock: 100, Available: 61, Told: 40, Ambiguous: 2}}, 1},
		{"oversold", []productCount{{ID: 1, Stock: 10, Available: -1, Told: 11}}, 1},
	}
	for _, tc := range cases {
		if got := booksProblems(tc.products); len(got) != tc.problems {
			t.Errorf("%s: problems %q; want %d", tc.name, got, tc.problems)
		}
	}
	if got := booksProblems([]productCount{{ID: 7, Stock: 100, Available: 59, Told: 40}}); len(got) != 1 ||
		got[0] != "product 7: stock 100 − available 59 = 41 units taken; want 40 units told held" {
		t.Errorf("problem %q; want it to say what was taken and what was told", got)
	}

	sellouts := []struct {
		stock, told, ambiguous int64
		ok                     bool
	}{
		{1000, 1000, 0, true},
		{1000, 999, 0, false},
		{1000, 1001, 0, false},
		{1000, 998, 2, true},
		{1000, 997, 2, false},
	}
	for _, tc := range sellouts {
		if got := selloutProblems(tc.stock, tc.told, tc.ambiguous); (len(got) == 0) != tc.ok {
			t.Errorf("sellout of %d, %d told, %d ambiguous: problems %q; want ok %v", tc.stock, tc.told, tc.ambiguous, got, tc.ok)
		}
	}
}
