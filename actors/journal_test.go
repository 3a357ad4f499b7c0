package actors_test

import (
	"context"
	"flashsale"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"flashsale/actors"
	"flashsale/actors/actorstest"
	"flashsale/store"
	"flashsale/store/storetest"
)

// journalRegistry is product actors whose holds and payment windows last
// about a second, so that expiries happen within a test.
func journalRegistry(t testing.TB, db *store.DB) *actorstest.Service {
	t.Helper()
	return drainable(t, db, time.Second)
}

// drainable is product actors whose holds and payment windows last ttl.
func drainable(t testing.TB, db *store.DB, ttl time.Duration) *actorstest.Service {
	t.Helper()
	cfg := actors.DefaultConfig()
	cfg.HoldTTL = ttl
	cfg.PaymentTTL = ttl
	cfg.IDBlock = 10
	return actorstest.NewService(t, db, cfg)
}

// settled waits until a product has no active hold and no order awaiting
// payment left in the database.
func settled(t testing.TB, db *store.DB, id int64, within time.Duration) {
	t.Helper()
	actorstest.Eventually(t, within, func() string {
		st, err := db.LoadProduct(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.ActiveHolds) > 0 || len(st.UnpaidOrders) > 0 {
			return fmt.Sprintf("product %d has %d active holds and %d pending orders", id, len(st.ActiveHolds), len(st.UnpaidOrders))
		}
		return ""
	})
}

// driveEveryKind takes a product of stock 10 through every kind of
// change: holds, orders, a payment, a failed payment and its late success
// (revived), a payment window running out, a late success after the units
// went (refund required), hold expiries and a stock change. It returns
// when everything has expired and the registry has committed all.
func driveEveryKind(t *testing.T, db *store.DB, r *actorstest.Service, id int64) flashsale.ProductState {
	t.Helper()
	ctx := context.Background()
	hold := func(qty int64, key string) flashsale.Hold {
		t.Helper()
		h, err := r.PlaceHold(ctx, id, qty, key)
		if err != nil {
			t.Fatalf("PlaceHold(%d, %q): %v", qty, key, err)
		}
		return h
	}
	order := func(h flashsale.Hold, key string) flashsale.Order {
		t.Helper()
		o, err := r.CreateOrder(ctx, h.ID, key)
		if err != nil {
			t.Fatalf("CreateOrder(hold %d): %v", h.ID, err)
		}
		return o
	}
	pay := func(o flashsale.Order, key string, status flashsale.PaymentStatus, want flashsale.OrderStatus) {
		t.Helper()
		res, err := r.ApplyPayment(ctx, key, o.ID, status)
		if err != nil || res.Status != want {
			t.Fatalf("ApplyPayment(%q, order %d, %s) = %+v, %v; want %s", key, o.ID, status, res, err, want)
		}
	}

	o1 := order(hold(3, "k1"), "ok1")
	pay(o1, "p1", flashsale.PaymentSuccess, flashsale.OrderPaid) // paid 3
	hold(2, "expires")                                           // held 2, left to expire
	o3 := order(hold(1, ""), "")
	pay(o3, "p3-fail", flashsale.PaymentFailed, flashsale.OrderCancelled)
	pay(o3, "p3-late", flashsale.PaymentSuccess, flashsale.OrderPaid) // revived: paid 4
	if _, err := r.SetStock(ctx, id, 12); err != nil {
		t.Fatal(err)
	}
	order(hold(2, ""), "") // awaits payment until its window ends
	o5 := order(hold(1, ""), "")
	pay(o5, "p5-cancel", flashsale.PaymentCancelled, flashsale.OrderCancelled)
	// Take every unit still available, so that the late success finds
	// none for its order.
	p, err := r.Product(ctx, id)
	if err != nil || p.Available() < 1 {
		t.Fatalf("Product = %+v, %v; want units available", p, err)
	}
	hold(p.Available(), "all-the-rest")
	pay(o5, "p5-late", flashsale.PaymentSuccess, flashsale.OrderRefundRequired)

	settled(t, db, id, 5*time.Second)
	if err := r.Drain(); err != nil {
		t.Fatal(err)
	}
	return actorstest.CheckBooks(t, db, id)
}

// TestReplayOfARealJournal drives a product through every kind of change,
// then replays its journal: untouched, it gives the product row exactly;
// with one event altered, lost or repeated, the replay says where.
func TestReplayOfARealJournal(t *testing.T) {
	storetest.RunParallel(t, func(t *testing.T, dialect string) {
		db := storetest.Open(t, dialect)
		id := storetest.CreateProduct(t, db, 10)
		st := driveEveryKind(t, db, journalRegistry(t, db), id)
		events := actorstest.Journal(t, db, id)

		want := flashsale.Counters{Stock: 12, Held: 0, AwaitingPayment: 0, Paid: 4}
		if got := st.Product.Counters; got != want {
			t.Fatalf("product row %+v; want %+v", got, want)
		}
		replayed, problems := flashsale.Replay(events)
		if len(problems) > 0 {
			t.Fatalf("Replay of an untouched journal reports:\n%s", strings.Join(problems, "\n"))
		}
		if replayed != st.Product.Counters {
			t.Fatalf("Replay = %+v; the product row is %+v", replayed, st.Product.Counters)
		}

		seen := map[flashsale.EventKind]int{}
		for i, e := range events {
			seen[e.Kind]++
			if e.Seq != int64(i+1) || e.ProductID != id {
				t.Errorf("event %d is seq %d of product %d; want seq %d of %d", i, e.Seq, e.ProductID, i+1, id)
			}
			if e.At.Location() != time.UTC || !e.At.Equal(e.At.Truncate(time.Millisecond)) {
				t.Errorf("seq %d at %v: want UTC whole milliseconds", e.Seq, e.At)
			}
			if e.Available() < 0 {
				t.Errorf("seq %d leaves %d available", e.Seq, e.Available())
			}
		}
		wantCounts := map[flashsale.EventKind]int{
			flashsale.EventProductCreated: 1, flashsale.EventStockChanged: 1, flashsale.EventHoldCreated: 6,
			flashsale.EventHoldExpired: 2, flashsale.EventOrderCreated: 4, flashsale.EventOrderPaid: 1,
			flashsale.EventOrderCancelled: 3, flashsale.EventOrderRevived: 1, flashsale.EventRefundRequired: 1,
		}
		for kind, n := range wantCounts {
			if seen[kind] != n {
				t.Errorf("%d %s events; want %d (all: %v)", seen[kind], kind, n, seen)
			}
		}
		if len(events) != 20 {
			t.Errorf("%d events; want 20", len(events))
		}

		// Tampered copies: an event of each kind altered.
		index := func(kind flashsale.EventKind) int {
			i := slices.IndexFunc(events, func(e flashsale.Event) bool { return e.Kind == kind })
			if i < 0 {
				t.Fatalf("no %s event in the journal", kind)
			}
			return i
		}

		cases := []struct {
			name   string
			i      int
			change func(e *flashsale.Event)
		}{
			{"held counter of a hold", index(flashsale.EventHoldCreated), func(e *flashsale.Event) { e.Held++ }},
			{"qty of a hold", index(flashsale.EventHoldCreated), func(e *flashsale.Event) { e.Qty++ }},
			{"qty of an expiry", index(flashsale.EventHoldExpired), func(e *flashsale.Event) { e.Qty-- }},
			{"qty of an order", index(flashsale.EventOrderCreated), func(e *flashsale.Event) { e.Qty++ }},
			{"paid counter of a payment", index(flashsale.EventOrderPaid), func(e *flashsale.Event) { e.Paid-- }},
			{"awaiting counter of a cancellation", index(flashsale.EventOrderCancelled), func(e *flashsale.Event) { e.AwaitingPayment++ }},
			{"qty of a revival", index(flashsale.EventOrderRevived), func(e *flashsale.Event) { e.Qty++ }},
			{"stock of a refund", index(flashsale.EventRefundRequired), func(e *flashsale.Event) { e.Stock++ }},
			{"new stock of a stock change", index(flashsale.EventStockChanged), func(e *flashsale.Event) { e.Qty++ }},
			{"kind of an event", index(flashsale.EventHoldCreated), func(e *flashsale.Event) { e.Kind = flashsale.EventHoldExpired }},
			{"unknown kind", index(flashsale.EventOrderPaid), func(e *flashsale.Event) { e.Kind = "order_teleported" }},
		}
		for _, c := range cases {
			bad := tampered(events, c.i, c.change)
			_, problems := flashsale.Replay(bad)
			if !mentions(problems, events[c.i].Seq) {
				t.Errorf("%s (seq %d): Replay reports %q; want a problem naming seq %d", c.name, events[c.i].Seq, problems, events[c.i].Seq)
			}
		}
		// The unknown kind is named as such.
		_, problems = flashsale.Replay(tampered(events, index(flashsale.EventOrderPaid), func(e *flashsale.Event) { e.Kind = "order_teleported" }))
		if !strings.Contains(strings.Join(problems, "\n"), `unknown event kind "order_teleported"`) {
			t.Errorf("unknown kind: problems %q do not name it", problems)
		}

		// A gap: the first order's event is lost.
		lost := index(flashsale.EventOrderCreated)
		gapped := slices.Delete(slices.Clone(events), lost, lost+1)
		_, problems = flashsale.Replay(gapped)
		gap := fmt.Sprintf("seq %d where %d was due", events[lost].Seq+1, events[lost].Seq)
		if !slices.Contains(problems, gap) {
			t.Errorf("journal without seq %d: Replay reports %q; want %q", events[lost].Seq, problems, gap)
		}
		// A repeated event is a seq out of place too.
		doubled := slices.Insert(slices.Clone(events), lost, events[lost])
		_, problems = flashsale.Replay(doubled)
		if want := fmt.Sprintf("seq %d where %d was due", events[lost].Seq, events[lost].Seq+1); !slices.Contains(problems, want) {
			t.Errorf("journal with seq %d twice: Replay reports %q; want %q", events[lost].Seq, problems, want)
		}
		// A journal missing its last event (an expiry) replays to other
		// counters than the row's: what check compares.
		if short, _ := flashsale.Replay(events[:len(events)-1]); short == st.Product.Counters {
			t.Errorf("a journal missing its last event (%s) still replays to the row", events[len(events)-1].Kind)
		}
	})
}

// tampered copies a journal and changes one event of it.
func tampered(events []flashsale.Event, i int, change func(e *flashsale.Event)) []flashsale.Event {
	c := slices.Clone(events)
	change(&c[i])
	return c
}

// mentions reports whether a problem names seq.
func mentions(problems []string, seq int64) bool {
	for _, p := range problems {
		if strings.HasPrefix(p, fmt.Sprintf("seq %d ", seq)) || strings.HasPrefix(p, fmt.Sprintf("seq %d:", seq)) {
			return true
		}
	}
	return false
}

// TestReplayReportsOverselling: an event whose counters agree with the
// replay but leave more taken than the stock is reported.
func TestReplayReportsOverselling(t *testing.T) {
	at := time.Now().UTC().Truncate(time.Millisecond)
	events := []flashsale.Event{
		{Seq: 1, Kind: flashsale.EventProductCreated, At: at, Qty: 2, Counters: flashsale.Counters{Stock: 2}},
		{Seq: 2, Kind: flashsale.EventHoldCreated, At: at, HoldID: 1, Qty: 2, Counters: flashsale.Counters{Stock: 2, Held: 2}},
		{Seq: 3, Kind: flashsale.EventHoldCreated, At: at, HoldID: 2, Qty: 1, Counters: flashsale.Counters{Stock: 2, Held: 3}},
		{Seq: 4, Kind: flashsale.EventHoldExpired, At: at, HoldID: 2, Qty: 1, Counters: flashsale.Counters{Stock: 2, Held: 2}},
	}
	c, problems := flashsale.Replay(events)
	if len(problems) != 1 || !strings.HasPrefix(problems[0], "seq 3 hold_created:") || !strings.Contains(problems[0], "invariant") {
		t.Fatalf("Replay of an oversold journal reports %q; want one invariant problem at seq 3", problems)
	}
	if want := (flashsale.Counters{Stock: 2, Held: 2}); c != want {
		t.Fatalf("Replay = %+v; want %+v", c, want)
	}
}

// TestCountersApply checks each kind's effect on the counters, which
// Replay relies on: by kind and qty alone, never by the counters recorded.
func TestCountersApply(t *testing.T) {
	before := flashsale.Counters{Stock: 20, Held: 5, AwaitingPayment: 4, Paid: 3}
	cases := []struct {
		kind flashsale.EventKind
		qty  int64
		want flashsale.Counters
	}{
		{flashsale.EventStockChanged, 30, flashsale.Counters{Stock: 30, Held: 5, AwaitingPayment: 4, Paid: 3}},
		{flashsale.EventHoldCreated, 2, flashsale.Counters{Stock: 20, Held: 7, AwaitingPayment: 4, Paid: 3}},
		{flashsale.EventHoldExpired, 2, flashsale.Counters{Stock: 20, Held: 3, AwaitingPayment: 4, Paid: 3}},
		{flashsale.EventOrderCreated, 2, flashsale.Counters{Stock: 20, Held: 3, AwaitingPayment: 6, Paid: 3}},
		{flashsale.EventOrderPaid, 2, flashsale.Counters{Stock: 20, Held: 5, AwaitingPayment: 2, Paid: 5}},
		{flashsale.EventOrderCancelled, 2, flashsale.Counters{Stock: 20, Held: 5, AwaitingPayment: 2, Paid: 3}},
		{flashsale.EventOrderRevived, 2, flashsale.Counters{Stock: 20, Held: 5, AwaitingPayment: 4, Paid: 5}},
		{flashsale.EventRefundRequired, 2, before},
	}
	for _, c := range cases {
		// Recorded counters that are nonsense must not leak into the
		// replay.
		e := flashsale.Event{Kind: c.kind, Qty: c.qty, Counters: flashsale.Counters{Stock: 999, Held: 999, AwaitingPayment: 999, Paid: 999}}
		got, err := before.Apply(e)
		if err != nil || got != c.want {
			t.Errorf("Apply(%s qty %d) = %+v, %v; want %+v", c.kind, c.qty, got, err, c.want)
		}
	}
	start := flashsale.Event{Kind: flashsale.EventProductCreated, Qty: 7, Counters: flashsale.Counters{Stock: 7, Held: 1}}
	if got, err := before.Apply(start); err != nil || got != (flashsale.Counters{Stock: 7, Held: 1}) {
		t.Errorf("Apply(product_created) = %+v, %v; want the counters it records", got, err)
	}
	if _, err := before.Apply(flashsale.Event{Kind: "nonsense", Qty: 1}); err == nil {
		t.Errorf("Apply of an unknown kind succeeded")
	}
}

// TestJournalStaysGaplessUnderVersionConflicts: two registries write one
// product, so batches are refused by the version check and decided again.
// The journal keeps no event of a refused batch, has no gap, and replays
// to the product row.
func TestJournalStaysGaplessUnderVersionConflicts(t *testing.T) {
	storetest.RunParallel(t, func(t *testing.T, dialect string) {
		db := storetest.Open(t, dialect)
		const stock = 60
		id := storetest.CreateProduct(t, db, stock)
		regs := []*actorstest.Service{drainable(t, db, time.Hour), drainable(t, db, time.Hour)}
		holds, _, _ := holdThroughEach(t, id, 120, regs...)
		for _, r := range regs {
			if err := r.Drain(); err != nil {
				t.Fatal(err)
			}
		}
		if len(holds) == 0 {
			t.Fatal("no hold was acknowledged")
		}
		st, err := db.LoadProduct(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		events := actorstest.Journal(t, db, id)
		replayed, problems := flashsale.Replay(events)
		if len(problems) > 0 {
			t.Fatalf("Replay reports:\n%s", strings.Join(problems, "\n"))
		}
		if replayed != st.Product.Counters {
			t.Fatalf("Replay = %+v; the row is %+v", replayed, st.Product.Counters)
		}
		// One hold_created event per hold in the table, for exactly the
		// acknowledged holds.
		journalled := map[int64]int64{}
		for _, e := range events[1:] {
			if e.Kind != flashsale.EventHoldCreated {
				t.Errorf("seq %d is %s; only holds were placed", e.Seq, e.Kind)
				continue
			}
			if _, twice := journalled[e.HoldID]; twice {
				t.Errorf("hold %d journalled twice", e.HoldID)
			}
			journalled[e.HoldID] = e.Qty
		}
		for hid, qty := range holds {
			if journalled[hid] != qty {
				t.Errorf("acknowledged hold %d of %d is journalled with qty %d", hid, qty, journalled[hid])
			}
		}
		if len(journalled) != len(st.ActiveHolds) || int64(len(holds)) != st.Product.Held {
			t.Errorf("%d holds journalled, %d active in the table, %d acknowledged, row holds %d",
				len(journalled), len(st.ActiveHolds), len(holds), st.Product.Held)
		}
	})
}

// TestJournalOfAWebhookBeforeItsOrder: a payment recorded before its order
// existed is applied in the order's own transaction, after a refused
// first attempt. The journal has the order and its payment in turn, and
// nothing of the refused batch.
func TestJournalOfAWebhookBeforeItsOrder(t *testing.T) {
	storetest.RunParallel(t, func(t *testing.T, dialect string) {
		db := storetest.Open(t, dialect)
		id := storetest.CreateProduct(t, db, 5)
		r := drainable(t, db, time.Hour)
		ctx := context.Background()
		h1, err := r.PlaceHold(ctx, id, 1, "")
		if err != nil {
			t.Fatal(err)
		}
		h, err := r.PlaceHold(ctx, id, 2, "")
		if err != nil {
			t.Fatal(err)
		}
		// A fresh database's first order is order 1; it reserves the block
		// of ids that order 2, the one the early webhook is for, comes from.
		if o1, err := r.CreateOrder(ctx, h1.ID, ""); err != nil || o1.ID != 1 {
			t.Fatalf("first CreateOrder = %+v, %v; want order 1", o1, err)
		}
		early, err := r.ApplyPayment(ctx, "early-pay", 2, flashsale.PaymentSuccess)
		if err != nil || !early.Pending {
			t.Fatalf("webhook before its order = %+v, %v; want pending", early, err)
		}
		o, err := r.CreateOrder(ctx, h.ID, "")
		if err != nil || o.ID != 2 || o.Status != flashsale.OrderPaid {
			t.Fatalf("CreateOrder = %+v, %v; want order 2, paid by the early webhook", o, err)
		}
		if err := r.Drain(); err != nil {
			t.Fatal(err)
		}
		events := actorstest.Journal(t, db, id)
		var kinds []string
		for _, e := range events {
			kinds = append(kinds, string(e.Kind))
		}
		want := "product_created hold_created hold_created order_created order_created order_paid"
		if got := strings.Join(kinds, " "); got != want {
			t.Fatalf("journal %s; want %s", got, want)
		}
		if e := events[5]; e.OrderID != 2 || e.HoldID != h.ID || e.IdempotencyKey != "early-pay" || e.Qty != 2 || e.Paid != 2 || e.AwaitingPayment != 1 {
			t.Errorf("order_paid event %+v", e)
		}
		st, err := db.LoadProduct(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		replayed, problems := flashsale.Replay(events)
		if len(problems) > 0 || replayed != st.Product.Counters {
			t.Fatalf("Replay = %+v, %q; the row is %+v", replayed, problems, st.Product.Counters)
		}
	})
}

// TestEventsRecordTheirNode: every event an actor decides carries the node
// of its configuration; the product_created event, which the store writes
// itself, carries none.
func TestEventsRecordTheirNode(t *testing.T) {
	storetest.RunParallel(t, func(t *testing.T, dialect string) {
		db := storetest.Open(t, dialect)
		id := storetest.CreateProduct(t, db, 10)
		cfg := actors.DefaultConfig()
		cfg.Node = "127.0.0.1:7101"
		r := actorstest.NewService(t, db, cfg)
		ctx := context.Background()
		h, err := r.PlaceHold(ctx, id, 2, "node-hold")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.CreateOrder(ctx, h.ID, "node-order"); err != nil {
			t.Fatal(err)
		}
		if err := r.Drain(); err != nil {
			t.Fatal(err)
		}
		events := actorstest.Journal(t, db, id)
		if len(events) != 3 {
			t.Fatalf("%d events; want product_created, hold_created, order_created", len(events))
		}
		for _, e := range events {
			want := cfg.Node
			if e.Kind == flashsale.EventProductCreated {
				want = ""
			}
			if e.Node != want {
				t.Errorf("seq %d %s: node %q; want %q", e.Seq, e.Kind, e.Node, want)
			}
		}
	})
}
