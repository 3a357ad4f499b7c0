package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"flashsale/store/storetest"
)

// TestCatalogue: GET /api/products pages through every product in id order,
// each exactly as GET /api/products/{id} shows it, and next_after is null
// on the last page.
func TestCatalogue(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		s := newTestServer(t, dialect)
		ids := []int64{1} // the seeded product
		for range 4 {
			ids = append(ids, s.createProduct(10))
		}
		for _, h := range []struct{ product, qty int64 }{{1, 3}, {ids[2], 10}} {
			if r := s.do(http.MethodPost, "/api/holds", `{"product_id":`+itoa(h.product)+`,"qty":`+itoa(h.qty)+`}`); r.Status != http.StatusCreated {
				t.Fatalf("hold: %d %s", r.Status, r.Raw)
			}
		}
		type page struct {
			Products  []json.RawMessage `json:"products"`
			NextAfter *int64            `json:"next_after"`
		}
		get := func(query string) page {
			t.Helper()
			r := s.do(http.MethodGet, "/api/products"+query, "")
			if r.Status != http.StatusOK {
				t.Fatalf("GET /api/products%s = %d %s", query, r.Status, r.Raw)
			}
			var p page
			if err := json.Unmarshal([]byte(r.Raw), &p); err != nil {
				t.Fatal(err)
			}
			return p
		}
		one := func(id int64) string {
			r := s.do(http.MethodGet, "/api/products/"+itoa(id), "")
			return r.Raw[:len(r.Raw)-1] // without the newline
		}
		var all []string
		for _, id := range ids {
			all = append(all, one(id))
		}
		raws := func(p page) []string {
			out := []string{}
			for _, m := range p.Products {
				out = append(out, string(m))
			}
			return out
		}
		if p := get(""); !slices.Equal(raws(p), all) || p.NextAfter != nil {
			t.Fatalf("default page = %q, next_after %v; want %q and null", raws(p), p.NextAfter, all)
		}
		for _, limit := range []int{1, 2, 4, 5} {
			var got []string
			after, pages := int64(0), 0
			for {
				p := get("?limit=" + itoa(limit) + "&after=" + itoa(after))
				pages++
				got = append(got, raws(p)...)
				if p.NextAfter == nil {
					break
				}
				if len(p.Products) != limit || *p.NextAfter != ids[len(got)-1] {
					t.Fatalf("limit %d: a page of %d products with next_after %d; want %d and %d", limit, len(p.Products), *p.NextAfter, limit, ids[len(got)-1])
				}
				after = *p.NextAfter
			}
			if !slices.Equal(got, all) || pages != (len(ids)+limit-1)/limit {
				t.Fatalf("limit %d: %d pages of %q; want %q", limit, pages, got, all)
			}
		}
		if p := get("?after=" + itoa(ids[len(ids)-1])); len(p.Products) != 0 || p.NextAfter != nil || p.Products == nil {
			t.Fatalf("past the last product = %+v; want an empty list and null", p)
		}
		for _, c := range []struct{ query, field string }{
			{"?after=-1", "after"}, {"?after=abc", "after"}, {"?after=1.5", "after"}, {"?after=99999999999999999999", "after"},
			{"?limit=0", "limit"}, {"?limit=501", "limit"}, {"?limit=x", "limit"}, {"?limit=-5", "limit"},
		} {
			r := s.do(http.MethodGet, "/api/products"+c.query, "")
			errs, _ := r.Body["errors"].(map[string]any)
			if r.Status != http.StatusUnprocessableEntity || len(errs) != 1 || errs[c.field] == nil {
				t.Fatalf("GET /api/products%s = %d %s; want 422 naming %s", c.query, r.Status, r.Raw, c.field)
			}
		}
		if p := get("?limit=500"); len(p.Products) != len(ids) {
			t.Fatalf("limit 500 = %d products; want %d", len(p.Products), len(ids))
		}
	})
}
