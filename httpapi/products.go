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

func (s *Server) getProduct(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, flashsale.ErrProductNotFound)
	if err != nil {
		return err
	}
	p, err := s.products.Product(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, productBody(p))
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
