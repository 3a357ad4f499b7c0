package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Books is the check of the books after the run.
type Books struct {
	Checked  bool  `json:"checked"` // false when the scenario changes no stock
	OK       bool  `json:"ok"`
	Products int   `json:"products"`
	Stock    int64 `json:"stock"` // of each product
	// Units the server said it holds for the bench, units taken
	// (Σ stock − available_stock), and units whose answer was ambiguous
	// (no answer, or a 5xx: they may or may not have been taken).
	ToldUnits      int64 `json:"told_units"`
	TakenUnits     int64 `json:"taken_units"`
	AmbiguousUnits int64 `json:"ambiguous_units"`
	// Checkout: orders created, orders the webhook said paid, and the
	// product's paid units per its journal.
	Orders    int64    `json:"orders,omitempty"`
	Paid      int64    `json:"paid,omitempty"`
	PaidUnits int64    `json:"paid_units,omitempty"`
	Problems  []string `json:"problems"`
}

// productCount is one product's numbers after a run.
type productCount struct {
	ID        int64
	Stock     int64
	Available int64
	Told      int64 // units the server said it holds
	Ambiguous int64 // units of ambiguous answers
}

// booksProblems compares each product's taken units, stock −
// available_stock, with the units the bench was told it holds. With no
// ambiguous answers they must be equal; each ambiguous answer may have
// taken a unit, or not.
func booksProblems(products []productCount) []string {
	var problems []string
	for _, p := range products {
		taken := p.Stock - p.Available
		what := fmt.Sprintf("product %d: stock %d − available %d = %d units taken", p.ID, p.Stock, p.Available, taken)
		if prob := rangeProblem(what, "units told held", taken, p.Told, p.Ambiguous); prob != "" {
			problems = append(problems, prob)
		}
		if p.Available < 0 {
			problems = append(problems, fmt.Sprintf("product %d: oversold, available %d", p.ID, p.Available))
		}
	}
	return problems
}

// rangeProblem describes got when it is not told, or, with ambiguous
// answers, not within told … told+ambiguous.
func rangeProblem(what, unit string, got, told, ambiguous int64) string {
	switch {
	case ambiguous == 0 && got != told:
		return fmt.Sprintf("%s; want %d %s", what, told, unit)
	case got < told || got > told+ambiguous:
		return fmt.Sprintf("%s; want %d %s, plus at most %d of ambiguous answers", what, told, unit, ambiguous)
	}
	return ""
}

// checkBooks reads every product of the run and checks the books, with
// the scenario's own checks.
func (r *run) checkBooks(ctx context.Context) Books {
	books := Books{OK: true, Problems: []string{}}
	if len(r.products) == 0 {
		return books
	}
	books.Checked, books.Products, books.Stock = true, len(r.products), r.stock
	got, problems := r.c.readProducts(ctx, r.products)
	counts := make([]productCount, 0, len(got))
	for i, p := range got {
		if p.ID == 0 {
			continue // unreadable: among the problems
		}
		c := productCount{ID: p.ID, Stock: p.Stock, Available: p.AvailableStock, Told: r.told[i].Load(), Ambiguous: r.unsure[i].Load()}
		counts = append(counts, c)
		books.ToldUnits += c.Told
		books.TakenUnits += c.Stock - c.Available
		books.AmbiguousUnits += c.Ambiguous
	}
	problems = append(problems, booksProblems(counts)...)
	if exp := r.firstExpiry.Load(); exp != 0 && !time.Now().Before(time.Unix(exp, 0)) {
		problems = append(problems, fmt.Sprintf("holds began to expire at %s, before the books were read: the server's hold TTL is shorter than the run, so they cannot balance; run shorter",
			time.Unix(exp, 0).UTC().Format(time.RFC3339)))
	}
	if r.scenario.check != nil {
		problems = append(problems, r.scenario.check(r, ctx, &books)...)
	}
	books.Problems = append([]string{}, problems...)
	books.OK = len(problems) == 0
	return books
}

// selloutProblems requires a sellout to have sold exactly its stock.
func selloutProblems(stock, told, ambiguous int64) []string {
	switch {
	case told > stock:
		return []string{fmt.Sprintf("sellout: %d holds succeeded for a stock of %d: oversold", told, stock)}
	case told+ambiguous < stock:
		return []string{fmt.Sprintf("sellout: %d holds succeeded for a stock of %d: the run ended before it sold out (more --duration or --connections)", told, stock)}
	}
	return nil
}

// checkoutProblems checks checkout's orders by status: every order the
// webhook said paid is paid, and the product's paid units are the units
// the bench was told paid.
func (r *run) checkoutProblems(ctx context.Context, books *Books) []string {
	books.Orders, books.Paid = r.orders.Load(), r.paid.Load()
	r.paidMu.Lock()
	paidOrders := slices.Clone(r.paidOrders)
	r.paidMu.Unlock()
	var (
		mu       sync.Mutex
		problems []string
	)
	r.c.each(len(paidOrders), func(i int) {
		a := r.c.do(ctx, http.MethodGet, fmt.Sprintf("/api/orders/%d", paidOrders[i]), nil, nil)
		var o orderJSON
		if a.err != nil || a.status != http.StatusOK || json.Unmarshal(a.body, &o) != nil || o.Status != "paid" {
			mu.Lock()
			problems = append(problems, fmt.Sprintf("order %d was answered paid; now %d %s (%v)", paidOrders[i], a.status, bytes.TrimSpace(a.body), a.err))
			mu.Unlock()
		}
	})
	slices.Sort(problems)

	// The product's counters after its last event say how many units are
	// paid and how many await payment.
	id := r.products[0]
	confirmed := r.told[0].Load() + books.Orders + books.Paid
	last, err := r.c.lastEvent(ctx, id, confirmed)
	if err != nil {
		return append(problems, fmt.Sprintf("product %d: reading its journal: %v", id, err))
	}
	books.PaidUnits = last.Paid
	what := fmt.Sprintf("product %d: journal says %d units paid", id, last.Paid)
	if p := rangeProblem(what, "units told paid", last.Paid, books.Paid, r.paidUnsure.Load()); p != "" {
		problems = append(problems, p)
	}
	what = fmt.Sprintf("product %d: journal says %d units in orders (%d awaiting payment, %d paid)",
		id, last.AwaitingPayment+last.Paid, last.AwaitingPayment, last.Paid)
	if p := rangeProblem(what, "units of orders told created", last.AwaitingPayment+last.Paid, books.Orders, r.ordersUnsure.Load()); p != "" {
		problems = append(problems, p)
	}
	return problems
}
