package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"flashsale/store/storetest"
)

func TestAdminProducts(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		s := newTestServer(t, dialect)
		body := `{"name":"Limited sneaker","price":"19.99","stock":100}`
		if r := s.do(http.MethodPost, "/api/admin/products", body); r.Status != http.StatusUnauthorized {
			t.Fatalf("no token: %d; want 401", r.Status)
		}
		if r := s.do(http.MethodPost, "/api/admin/products", body, "Authorization", "Bearer wrong"); r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong token: %d; want 401", r.Status)
		}
		r := s.admin(http.MethodPost, "/api/admin/products", body)
		if r.Status != http.StatusCreated || r.Body["name"] != "Limited sneaker" || r.Body["price"] != "19.99" ||
			r.Body["stock"] != 100.0 || r.Body["available_stock"] != 100.0 {
			t.Fatalf("create = %d %s", r.Status, r.Raw)
		}
		id := itoa(r.Body["id"])
		if got := s.do(http.MethodGet, "/api/products/"+id, ""); got.Raw != r.Raw {
			t.Fatalf("GET after create = %s; want %s", got.Raw, r.Raw)
		}

		prices := map[string]string{`5`: "5.00", `"0.5"`: "0.50", `12.3`: "12.30", `"7.05"`: "7.05", `0`: "0.00"}
		for in, want := range prices {
			r := s.admin(http.MethodPost, "/api/admin/products", `{"name":"p","price":`+in+`,"stock":1}`)
			if r.Status != http.StatusCreated || r.Body["price"] != want {
				t.Errorf("price %s: %d %s; want %s", in, r.Status, r.Raw, want)
			}
		}
		for _, bad := range []string{
			`{"name":"p","price":"1.999","stock":1}`, `{"name":"p","price":-1,"stock":1}`, `{"name":"p","price":"abc","stock":1}`,
			`{"name":"","price":"1","stock":1}`, `{"price":"1","stock":1}`, `{"name":"p","price":"1","stock":-1}`,
			`{"name":"p","price":"1","stock":1.5}`, `{"name":"p","stock":1}`, `{"name":5,"price":"1","stock":1}`,
		} {
			if r := s.admin(http.MethodPost, "/api/admin/products", bad); r.Status != http.StatusUnprocessableEntity {
				t.Errorf("%s: %d %s; want 422", bad, r.Status, r.Raw)
			}
		}

		// Restock and cut, through the product's actor.
		if r := s.admin(http.MethodPost, "/api/holds", `{"product_id":`+id+`,"qty":30}`); r.Status != http.StatusCreated {
			t.Fatalf("hold: %d %s", r.Status, r.Raw)
		}
		r = s.admin(http.MethodPatch, "/api/admin/products/"+id, `{"stock":120}`)
		if r.Status != http.StatusOK || r.Body["stock"] != 120.0 || r.Body["available_stock"] != 90.0 {
			t.Fatalf("restock = %d %s; want stock 120, available 90", r.Status, r.Raw)
		}
		if r := s.admin(http.MethodPatch, "/api/admin/products/"+id, `{"stock":29}`); r.Status != http.StatusConflict {
			t.Fatalf("cut below held = %d %s; want 409", r.Status, r.Raw)
		}
		r = s.admin(http.MethodPatch, "/api/admin/products/"+id, `{"stock":30}`)
		if r.Status != http.StatusOK || r.Body["available_stock"] != 0.0 {
			t.Fatalf("cut to held = %d %s; want available 0", r.Status, r.Raw)
		}
		if r := s.admin(http.MethodPatch, "/api/admin/products/999", `{"stock":1}`); r.Status != http.StatusNotFound {
			t.Fatalf("patch unknown = %d; want 404", r.Status)
		}
		if r := s.admin(http.MethodPatch, "/api/admin/products/"+id, `{"stock":"many"}`); r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("patch bad stock = %d; want 422", r.Status)
		}
		if r := s.do(http.MethodPatch, "/api/admin/products/"+id, `{"stock":1}`); r.Status != http.StatusUnauthorized {
			t.Fatalf("patch without token = %d; want 401", r.Status)
		}
		s.checkBooks(mustInt(t, id), 30)
	})
}

func TestAdminDisabledWithoutToken(t *testing.T) {
	s := newTestServer(t, "sqlite", withoutAdmin())
	r := s.do(http.MethodPost, "/api/admin/products", `{"name":"x","price":"1","stock":1}`, "Authorization", "Bearer anything")
	if r.Status != http.StatusForbidden {
		t.Fatalf("admin without a configured token = %d %s; want 403", r.Status, r.Raw)
	}
}

func TestHealth(t *testing.T) {
	s := newTestServer(t, "sqlite")
	if r := s.do(http.MethodGet, "/healthz", ""); r.Status != http.StatusOK {
		t.Fatalf("healthz = %d", r.Status)
	}
	if r := s.do(http.MethodGet, "/readyz", ""); r.Status != http.StatusOK {
		t.Fatalf("readyz = %d", r.Status)
	}
	s.DB.Close()
	r := s.do(http.MethodGet, "/readyz", "")
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("readyz with the database closed = %d %v; want 503 with Retry-After", r.Status, r.Header)
	}
	if r := s.do(http.MethodGet, "/nope", ""); r.Status != http.StatusNotFound {
		t.Fatalf("unknown route = %d; want 404", r.Status)
	}
	if r := s.do(http.MethodDelete, "/api/holds", ""); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE /api/holds = %d; want 405", r.Status)
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	for _, c := range s {
		n = n*10 + int64(c-'0')
	}
	return n
}

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
