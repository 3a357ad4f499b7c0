package actors

import (
	"context"
	"time"
)

// wakeDue starts, every cfg.WakeDue, the actors of the products this node
// owns that have holds or unpaid orders past their time but no actor
// running: products whose node died, or that this process has not touched
// since it started. Loading an actor releases at once what is due, so
// the rows follow the clock without anybody asking for the product.
func (h *Host) wakeDue(stop <-chan struct{}) {
	tick := time.NewTicker(h.cfg.WakeDue)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.CommitTimeout)
		ids, err := h.store.DueProducts(ctx, h.cfg.Clock())
		if err != nil {
			h.log.Warn().Err(err).Msg("finding products with something due failed")
		}
		for _, id := range ids {
			if _, running := h.products.Load(id); running || (h.owns != nil && !h.owns(id)) {
				continue
			}
			if _, err := h.snapshot(ctx, id); err != nil {
				h.log.Warn().Err(err).Int64("product_id", id).Msg("waking a product with something due failed")
			}
		}
		cancel()
	}
}
