package actors

import (
	"flashsale"
	"fmt"
	"time"
)

func (a *productActor) placeHold(m *placeHold) {
	if !a.admit(m.ctx, m) {
		return
	}
	id := keyID{scopeHold, m.key}
	if m.key != "" && a.repeat(id, m.hash, m, func(first any, err error) {
		h, _ := first.(flashsale.Hold)
		m.answer(h, err)
	}) {
		return
	}
	if m.qty > a.product.Available() {
		a.refuse(m, flashsale.ErrInsufficientStock, m.qty > a.visible.Available())
		return
	}
	holdID, err := a.host.holdIDs.Next(m.ctx)
	if err != nil {
		m.fail(fmt.Errorf("%w: hold id: %v", flashsale.ErrUnavailable, err))
		return
	}
	now := a.now()
	h := &activeHold{Hold: flashsale.Hold{
		ID:             holdID,
		ProductID:      a.id,
		Qty:            m.qty,
		Status:         flashsale.HoldActive,
		ExpiresAt:      expiryAfter(now, a.cfg.HoldTTL),
		CreatedAt:      now.UTC().Truncate(time.Millisecond),
		IdempotencyKey: m.key,
		RequestHash:    m.hash,
	}}
	put(&a.holds, holdID, h)
	a.holdDue.push(h)
	a.product.Held += m.qty
	a.record(flashsale.EventHoldCreated, m.qty, holdID, 0, m.key, "")

	p := a.writing()
	p.write.NewHolds = append(p.write.NewHolds, h.Hold)
	if m.key != "" { // else remembering would box the hold for nothing
		a.remember(id, m.hash, h.Hold, p)
	}
	p.ops = append(p.ops, op{msg: m, placed: m, hold: h})
	a.flush()
	a.armTimer()
}
