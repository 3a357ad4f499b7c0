package httpapi

import (
	"flashsale"
	"net/http"
)

// ProductJSON is a product as the API shows it.
type ProductJSON struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	Price          string `json:"price"`
	Stock          int64  `json:"stock"`
	AvailableStock int64  `json:"available_stock"`
}

func productBody(p flashsale.Product) ProductJSON {
	return ProductJSON{ID: p.ID, Name: p.Name, Price: p.Price.String(), Stock: p.Stock, AvailableStock: p.Available()}
}

// getProduct is GET /api/products/{id}, from its actor's snapshot.
func (s *Server) getProduct(w http.ResponseWriter, r *http.Request) error {
	return getByID(w, r, flashsale.ErrProductNotFound, s.products.Product, productBody)
}

// Bounds of GET /api/products.
const (
	defaultCatalogueLimit = 50
	maxCatalogueLimit     = 500
)

type catalogueJSON struct {
	Products []ProductJSON `json:"products"`
	// NextAfter is the after of the next page, or null when this page is
	// the last: a client pages until it is null.
	NextAfter *int64 `json:"next_after"`
}

// listProducts is GET /api/products?after=ID&limit=N, the catalogue in id
// order. One more product than asked for is read, to tell whether a next
// page exists.
func (s *Server) listProducts(w http.ResponseWriter, r *http.Request) error {
	var invalid validationError
	after := queryInt(r, "after", 0, 0, 1<<62, &invalid)
	limit := queryInt(r, "limit", defaultCatalogueLimit, 1, maxCatalogueLimit, &invalid)
	if err := invalid.err(); err != nil {
		return err
	}
	products, err := s.products.Catalogue(r.Context(), after, int(limit)+1)
	if err != nil {
		return err
	}
	body := catalogueJSON{Products: make([]ProductJSON, 0, min(len(products), int(limit)))}
	if len(products) > int(limit) {
		products = products[:limit]
		last := products[len(products)-1].ID
		body.NextAfter = &last
	}
	for _, p := range products {
		body.Products = append(body.Products, productBody(p))
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// createProduct is POST /api/admin/products.
func (s *Server) createProduct(w http.ResponseWriter, r *http.Request) error {
	obj, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var invalid validationError
	np := flashsale.NewProduct{
		Name:  stringField(obj, "name", 255, &invalid),
		Price: moneyField(obj, "price", &invalid),
		Stock: intField(obj, "stock", 0, &invalid),
	}
	if err := invalid.err(); err != nil {
		return err
	}
	p, err := s.store.CreateProduct(r.Context(), np)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, productBody(p))
	return nil
}

// patchProduct is PATCH /api/admin/products/{id}: a restock or a cut,
// made by the product's actor like every other change.
func (s *Server) patchProduct(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, flashsale.ErrProductNotFound)
	if err != nil {
		return err
	}
	obj, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var invalid validationError
	stock := intField(obj, "stock", 0, &invalid)
	if err := invalid.err(); err != nil {
		return err
	}
	p, err := s.products.SetStock(r.Context(), id, stock)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, productBody(p))
	return nil
}
