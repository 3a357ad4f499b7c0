package store

import "flashsale"

// writes is the second step: the accepted batches' rows, with one
// statement per kind of row for all of them, in an order that creates
// rows before it changes them.
func (g *group) writes() []stmt {
	ok := g.accepted()
	var all flashsale.Batch
	if len(ok) == 1 {
		// A hot product's group is its one batch: its rows are written
		// from its own lists, not copies of them.
		all = *ok[0]
	} else {
		var size [5]int
		for _, b := range ok {
			size[0] += len(b.NewHolds)
			size[1] += len(b.ExpiredHolds)
			size[2] += len(b.ConvertedHolds)
			size[3] += len(b.NewOrders)
			size[4] += len(b.Events)
		}
		all.NewHolds = make([]flashsale.Hold, 0, size[0])
		all.ExpiredHolds = make([]int64, 0, size[1])
		all.ConvertedHolds = make([]int64, 0, size[2])
		all.NewOrders = make([]flashsale.Order, 0, size[3])
		all.Events = make([]flashsale.Event, 0, size[4])
		for _, b := range ok {
			all.NewHolds = append(all.NewHolds, b.NewHolds...)
			all.ExpiredHolds = append(all.ExpiredHolds, b.ExpiredHolds...)
			all.ConvertedHolds = append(all.ConvertedHolds, b.ConvertedHolds...)
			all.NewOrders = append(all.NewOrders, b.NewOrders...)
			all.Events = append(all.Events, b.Events...)
		}
	}
	moves := g.orderMoves(ok)
	for _, b := range ok {
		if len(b.Payments) > 0 {
			moves = append(moves, paymentWrites(b.Payments, b.At, g.again)...)
		}
	}
	stmts := g.counters(ok)
	if g.fence != nil {
		stmts = append(stmts, pendingFence(all.NewOrders)...)
	}
	stmts = append(stmts, holdInserts(all.NewHolds)...)
	if g.fence != nil {
		stmts = append(stmts, fencedHoldMoves(ok)...)
	} else {
		stmts = append(stmts, holdMoves(all.ExpiredHolds, flashsale.HoldActive, flashsale.HoldExpired)...)
		stmts = append(stmts, holdMoves(all.ConvertedHolds, flashsale.HoldActive, flashsale.HoldConverted)...)
	}
	stmts = append(stmts, dropStale(g.stale)...)
	stmts = append(stmts, orderInserts(all.NewOrders)...)
	stmts = append(stmts, moves...)
	return append(stmts, eventInserts(all.Events)...)
}

// counters writes the counters of the accepted batches' products: each
// product's last batch's counters and time, and the version the checks
// counted up to. MySQL takes one statement with a CASE per column fastest;
// SQLite, in process, one statement per product, since evaluating those
// CASEs costs it time that grows with the square of the group's size.
func (g *group) counters(ok []*flashsale.Batch) []stmt {
	last := make(map[int64]*flashsale.Batch, len(ok))
	ids := make([]int64, 0, len(ok))
	for _, b := range ok {
		if _, seen := last[b.ProductID]; !seen {
			ids = append(ids, b.ProductID)
		}
		last[b.ProductID] = b
	}
	const columns = 6 // stock, held, awaiting_payment, paid, version, updated_at
	value := func(id int64, c int) int64 {
		b := last[id]
		switch c {
		case 0:
			return b.Stock
		case 1:
			return b.Held
		case 2:
			return b.AwaitingPayment
		case 3:
			return b.Paid
		case 4:
			return g.versions[id]
		default:
			return b.At.UnixMilli()
		}
	}
	if g.d.dialect != dialectMySQL {
		stmts := make([]stmt, len(ids))
		for i, id := range ids {
			var v sqlValues
			v.q.WriteString("UPDATE products SET stock = ")
			v.lit(value(id, 0))
			for c, set := range []string{", held = ", ", awaiting_payment = ", ", paid = ", ", version = ", ", updated_at = "} {
				v.q.WriteString(set)
				v.lit(value(id, c+1))
			}
			v.q.WriteString(" WHERE id = ")
			v.lit(id)
			stmts[i] = v.stmt()
		}
		return stmts
	}
	var v sqlValues
	v.q.Grow(64 + columns*(24+len(ids)*(12+2*valueSize)) + len(ids)*valueSize)
	v.q.WriteString("UPDATE products SET ")
	for c, column := range []string{"stock", "held", "awaiting_payment", "paid", "version", "updated_at"} {
		if c > 0 {
			v.q.WriteString(", ")
		}
		v.q.WriteString(column)
		v.q.WriteString(" = ")
		v.cases(len(ids), func(i int) int64 { return ids[i] }, func(i int) {
			if expect, fenced := g.fence[ids[i]]; fenced && column == "version" {
				versionFence(&v, expect, value(ids[i], c))
				return
			}
			v.lit(value(ids[i], c))
		})
	}
	v.whereIDs(len(ids), func(i int) int64 { return ids[i] })
	return []stmt{v.stmt()}
}
