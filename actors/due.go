package actors

import (
	"container/heap"
	"flashsale"
	"time"
)

// dueItem is a hold or an order with a deadline, kept in a dueHeap.
type dueItem interface {
	due() time.Time
	key() int64 // breaks ties, so that the order is total
	isCommitted() bool
	setIndex(i int)
}

// dueHeap orders items by deadline. Each item knows its index, so that an
// item leaving early (a hold converted, an order paid) is removed in
// O(log n).
type dueHeap[T dueItem] []T

func (h dueHeap[T]) Len() int { return len(h) }
func (h dueHeap[T]) Less(i, j int) bool {
	if di, dj := h[i].due(), h[j].due(); !di.Equal(dj) {
		return di.Before(dj)
	}
	return h[i].key() < h[j].key()
}
func (h dueHeap[T]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].setIndex(i)
	h[j].setIndex(j)
}
func (h *dueHeap[T]) Push(x any) {
	item := x.(T)
	item.setIndex(len(*h))
	*h = append(*h, item)
}
func (h *dueHeap[T]) Pop() any {
	old := *h
	n := len(old)
	item := old[n-1]
	var zero T
	old[n-1] = zero
	*h = old[:n-1]
	item.setIndex(-1)
	return item
}

func (h *dueHeap[T]) push(item T) { heap.Push(h, item) }

func (h *dueHeap[T]) remove(i int) {
	if i >= 0 && i < len(*h) {
		heap.Remove(h, i)
	}
}

// next is the earliest deadline, or zero when there is none.
func (h dueHeap[T]) next() time.Time {
	if len(h) == 0 {
		return time.Time{}
	}
	return h[0].due()
}

// popDue takes out the committed items whose deadline has come. Items not
// committed yet stay.
func popDue[T dueItem](h *dueHeap[T], now time.Time) []T {
	var due, later []T
	for len(*h) > 0 && !now.Before((*h)[0].due()) {
		item := heap.Pop(h).(T)
		if item.isCommitted() {
			due = append(due, item)
		} else {
			later = append(later, item)
		}
	}
	for _, item := range later {
		heap.Push(h, item)
	}
	return due
}

type activeHold struct {
	flashsale.Hold
	committed bool
	index     int // in holdDue, -1 when not there
}

func (h *activeHold) due() time.Time    { return h.ExpiresAt }
func (h *activeHold) key() int64        { return h.ID }
func (h *activeHold) isCommitted() bool { return h.committed }
func (h *activeHold) setIndex(i int)    { h.index = i }

type activeOrder struct {
	flashsale.Order
	committed bool
	index     int // in orderDue while awaiting payment, else -1
}

func (o *activeOrder) due() time.Time    { return o.ExpiresAt }
func (o *activeOrder) key() int64        { return o.ID }
func (o *activeOrder) isCommitted() bool { return o.committed }
func (o *activeOrder) setIndex(i int)    { o.index = i }
