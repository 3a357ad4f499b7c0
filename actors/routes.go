package actors

import "sync/atomic"

// routeSlots is how many recent holds, and how many recent orders, a
// service remembers the product of: ids are handed out one after another,
// so this is about the last 65,536 of each.
const routeSlots = 1 << 16

// routes remembers the product of the holds and orders this service made,
// so that the order of a hold, and the webhook of an order, go to their
// product's actor without a read of the database first (a checkout is
// three requests; these reads were two of its five round trips outside the
// group commits). A hold's or an order's product never changes, so an
// entry is never wrong, only missing: a miss takes the way through the
// database, which knows every hold and order.
type routes struct {
	holds, orders routeTable
}

// routeTable is direct-mapped by id: a newer id takes the slot of the one
// 65,536 before it. Each slot is one pointer, so that a reader sees an id
// and its product together, without a lock.
type routeTable struct {
	slots [routeSlots]atomic.Pointer[route]
}

type route struct{ id, productID int64 }

func (t *routeTable) put(id, productID int64) {
	t.slots[uint64(id)%routeSlots].Store(&route{id: id, productID: productID})
}

// product returns the product of id, if id is remembered.
func (t *routeTable) product(id int64) (int64, bool) {
	r := t.slots[uint64(id)%routeSlots].Load()
	if r == nil || r.id != id {
		return 0, false
	}
	return r.productID, true
}
