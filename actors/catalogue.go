package actors

import (
	"context"
	"flashsale"
)

// Catalogue lists up to limit products with ids above after, in id order,
// with their exact counters, without waking the actor of any product.
// A product whose actor runs is shown as its actor published it, since
// the actor may have committed since the rows were read; one whose
// snapshot may count a hold or order past its deadline is asked, as
// Product does. Any other product is shown from its committed rows, as of
// now, which the store computes.
func (s *Service) Catalogue(ctx context.Context, after int64, limit int) ([]flashsale.Product, error) {
	now := s.cfg.Clock()
	products, err := s.store.Catalogue(ctx, after, limit, now)
	if err != nil {
		return nil, err
	}
	for i, p := range products {
		snap, ok := s.host.running(p.ID)
		switch {
		case !ok:
		case snap.validAt(now):
			products[i] = snap.Product
		default:
			if products[i], err = s.Product(ctx, p.ID); err != nil {
				return nil, err
			}
		}
	}
	return products, nil
}
