package store_test

import (
	"context"
	"errors"
	"flashsale"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"flashsale/store"
	"flashsale/store/storetest"
)

// holdBatch is a batch of product pid at version that creates holds of one
// unit with ids from first on, taking the product from held to held+n, and
// journals them from seq on.
func holdBatch(pid, version, stock, held int64, first int64, n int, seq int64, now time.Time) *flashsale.Batch {
	b := &flashsale.Batch{ProductID: pid, Version: version, Counters: flashsale.Counters{Stock: stock, Held: held + int64(n)}, At: now}
	for i := range n {
		id := first + int64(i)
		b.NewHolds = append(b.NewHolds, flashsale.Hold{ID: id, ProductID: pid, Qty: 1, Status: flashsale.HoldActive,
			ExpiresAt: now.Add(time.Minute), CreatedAt: now, IdempotencyKey: fmt.Sprintf("k-%d", id), RequestHash: "h"})
		b.Events = append(b.Events, flashsale.Event{ProductID: pid, Seq: seq + int64(i), Kind: flashsale.EventHoldCreated, At: now,
			HoldID: id, Qty: 1, Counters: flashsale.Counters{Stock: stock, Held: held + int64(i) + 1}})
	}
	return b
}

func mustLoad(t *testing.T, db *store.DB, id int64) flashsale.ProductState {
	t.Helper()
	st, err := db.LoadProduct(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Every check of a group commit refuses its batch alone: the batches
// beside it commit, and nothing of the refused is written. On MySQL a
// group whose batches apply no webhook recorded early makes its checks
// with its writes, in one packet (fence.go), and one that does with reads
// first: both are tried, with a batch that changes an order that is not
// there in place of the one that applies a webhook, and the batches
// committed one by one.
func TestCommitBatchesRefusesEachKindAlone(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		for _, applyEarly := range []bool{true, false} {
			t.Run(fmt.Sprintf("apply early webhook %v", applyEarly), func(t *testing.T) {
				refusesEachKindAlone(t, dialect, applyEarly)
			})
		}
	})
}

func refusesEachKindAlone(t *testing.T, dialect string, applyEarly bool) {
	ctx := context.Background()
	db := storetest.Open(t, dialect)
	now := storedNow()
	// Each product gets a hold and an order awaiting payment.
	const products = 8
	pids := make([]int64, products)
	var setup []*flashsale.Batch
	for i := range pids {
		pids[i] = storetest.CreateProduct(t, db, 10)
		b := holdBatch(pids[i], 0, 10, 0, int64(100*i+1), 2, 2, now)
		b.Held, b.AwaitingPayment = 1, 1
		b.ConvertedHolds = []int64{int64(100*i + 2)}
		b.NewOrders = []flashsale.Order{{ID: int64(100*i + 2), HoldID: int64(100*i + 2), ProductID: pids[i], Qty: 1, Amount: 100,
			Status: flashsale.OrderPendingPayment, InitialStatus: flashsale.OrderPendingPayment, ExpiresAt: now.Add(time.Hour), CreatedAt: now}}
		setup = append(setup, b)
	}
	for i, err := range db.CommitBatches(ctx, setup) {
		if err != nil {
			t.Fatalf("setup batch %d: %v", i, err)
		}
	}
	if _, err := db.NextIDs(ctx, "order", 10_000); err != nil { // early webhooks need their id reserved
		t.Fatal(err)
	}
	early := func(key string, order int64) flashsale.Payment {
		p := flashsale.Payment{Key: key, OrderID: order, Status: flashsale.PaymentSuccess, Hash: "x", CreatedAt: now}
		if _, _, err := db.RecordEarlyPayment(ctx, p); err != nil {
			t.Fatal(err)
		}
		p.Early = true
		return p
	}
	unknown := early("unknown-early", 9001)
	early("pending", 9002)

	// next is a good batch of product i: it expires the product's hold.
	next := func(i int) *flashsale.Batch {
		return &flashsale.Batch{ProductID: pids[i], Version: 1, Counters: flashsale.Counters{Stock: 10, AwaitingPayment: 1}, At: now,
			ExpiredHolds: []int64{int64(100*i + 1)},
			Events: []flashsale.Event{{ProductID: pids[i], Seq: 4, Kind: flashsale.EventHoldExpired, At: now, HoldID: int64(100*i + 1),
				Qty: 1, Counters: flashsale.Counters{Stock: 10, AwaitingPayment: 1}}}}
	}
	group := make([]*flashsale.Batch, products)
	for i := range group {
		group[i] = next(i)
	}
	group[1].Version = 0                 // another writer's version
	group[2].Held = 11                   // counters beyond the stock
	group[3].ExpiredHolds = []int64{701} // another product's hold, active
	group[4].OrderChanges = []flashsale.OrderChange{{OrderID: 402, From: flashsale.OrderPaid, To: flashsale.OrderCancelled}}
	if applyEarly {
		group[5].Payments = []flashsale.Payment{{Key: "nowhere", OrderID: 502, Status: flashsale.PaymentSuccess, Hash: "x", Early: true, Result: flashsale.OrderPaid}}
	} else {
		group[5].OrderChanges = []flashsale.OrderChange{{OrderID: 99_999, From: flashsale.OrderPendingPayment, To: flashsale.OrderPaid}}
	}
	// A new order with a webhook recorded before it that the batch does not apply.
	group[6].NewHolds = []flashsale.Hold{{ID: 9001, ProductID: pids[6], Qty: 1, Status: flashsale.HoldActive, ExpiresAt: now.Add(time.Minute), CreatedAt: now}}
	group[6].ConvertedHolds = []int64{9001}
	group[6].AwaitingPayment = 2
	group[6].NewOrders = []flashsale.Order{{ID: 9001, HoldID: 9001, ProductID: pids[6], Qty: 1, Amount: 100,
		Status: flashsale.OrderPendingPayment, InitialStatus: flashsale.OrderPendingPayment, ExpiresAt: now.Add(time.Hour), CreatedAt: now}}
	// The last one stays good.

	errs := make([]error, len(group))
	if applyEarly {
		errs = db.CommitBatches(ctx, group)
	} else {
		// Each alone, so that the fence of its own kind refuses it: in a
		// group, the stale version's fence would fail first.
		for i, b := range group {
			errs[i] = commit(ctx, db, b)
		}
	}
	for i, err := range errs {
		switch i {
		case 0, 7:
			if err != nil {
				t.Errorf("batch %d: %v; want it committed", i, err)
			}
		default:
			if !errors.Is(err, flashsale.ErrVersionConflict) {
				t.Errorf("batch %d: %v; want ErrVersionConflict", i, err)
			}
		}
	}
	var ep *flashsale.EarlyPaymentsError
	if !errors.As(errs[6], &ep) || len(ep.Payments) != 1 || ep.Payments[0].Key != unknown.Key {
		t.Errorf("batch 6: %v; want the early payment %q", errs[6], unknown.Key)
	}
	for i, pid := range pids {
		st := mustLoad(t, db, pid)
		want := flashsale.ProductState{Version: 1, LastSeq: 3}
		if i == 0 || i == 7 {
			want = flashsale.ProductState{Version: 2, LastSeq: 4}
		}
		if st.Version != want.Version || st.LastSeq != want.LastSeq || len(st.ActiveHolds) != int(2-want.Version) {
			t.Errorf("product %d: version %d, seq %d, %d active holds; want %d, %d, %d",
				i, st.Version, st.LastSeq, len(st.ActiveHolds), want.Version, want.LastSeq, 2-want.Version)
		}
	}
	if _, err := db.Hold(ctx, 9001); !errors.Is(err, flashsale.ErrHoldNotFound) {
		t.Errorf("the refused batch's hold: %v; want it unwritten", err)
	}
	if p, err := db.PaymentByKey(ctx, "pending"); err != nil || !p.Early {
		t.Errorf("an early payment no batch applied: %+v, %v; want it pending", p, err)
	}
}

// A write the checks cannot foresee (a hold id written before) refuses
// its batch alone too: the group is written again batch by batch.
func TestCommitBatchesRefusesAWriteAlone(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		now := storedNow()
		a, b, c := storetest.CreateProduct(t, db, 10), storetest.CreateProduct(t, db, 10), storetest.CreateProduct(t, db, 10)
		if err := commit(ctx, db, holdBatch(a, 0, 10, 0, 1, 1, 2, now)); err != nil {
			t.Fatal(err)
		}
		group := []*flashsale.Batch{holdBatch(a, 1, 10, 1, 10, 3, 3, now), holdBatch(b, 0, 10, 0, 1, 3, 2, now), holdBatch(c, 0, 10, 0, 20, 3, 2, now)}
		errs := db.CommitBatches(ctx, group)
		if errs[0] != nil || !errors.Is(errs[1], flashsale.ErrVersionConflict) || errs[2] != nil {
			t.Fatalf("CommitBatches = %v; want only the second refused", errs)
		}
		for _, want := range []struct {
			pid           int64
			version, held int64
		}{{a, 2, 4}, {b, 0, 0}, {c, 1, 3}} {
			st := mustLoad(t, db, want.pid)
			if st.Version != want.version || st.Product.Held != want.held || int64(len(st.ActiveHolds)) != want.held {
				t.Errorf("product %d: version %d, held %d, %d holds; want %d, %d", want.pid, st.Version, st.Product.Held, len(st.ActiveHolds), want.version, want.held)
			}
		}
	})
}

// Two batches of one product in one group commit in order, the second on
// the version the first writes; when the first is refused, so is the
// second, which expects it.
func TestCommitBatchesOfOneProductInOrder(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		now := storedNow()
		pid := storetest.CreateProduct(t, db, 10)
		first := holdBatch(pid, 0, 10, 0, 1, 2, 2, now)
		second := holdBatch(pid, 1, 10, 2, 3, 1, 4, now)
		second.ExpiredHolds = []int64{1} // created by the first
		second.Held = 2
		for i, err := range db.CommitBatches(ctx, []*flashsale.Batch{first, second}) {
			if err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
		}
		st := mustLoad(t, db, pid)
		if st.Version != 2 || st.Product.Held != 2 || len(st.ActiveHolds) != 2 || st.LastSeq != 4 {
			t.Fatalf("after both: %+v; want version 2, two holds held, seq 4", st)
		}

		// Another writer bumps the version once: the first batch expects
		// the version before, the second the version the first would write.
		stale := holdBatch(pid, 1, 10, 2, 10, 1, 5, now)
		after := holdBatch(pid, 2, 10, 3, 11, 1, 6, now)
		errs := db.CommitBatches(ctx, []*flashsale.Batch{stale, after})
		if !errors.Is(errs[0], flashsale.ErrVersionConflict) || !errors.Is(errs[1], flashsale.ErrVersionConflict) {
			t.Fatalf("CommitBatches = %v; want both refused", errs)
		}
		if got := mustLoad(t, db, pid); got.Version != 2 || got.LastSeq != 4 {
			t.Fatalf("after the refusal: version %d, seq %d; want 2, 4", got.Version, got.LastSeq)
		}
	})
}

// A group too large for one packet is sent in several; a write refused in
// the last leaves nothing of the earlier ones.
func TestCommitBatchesLargerThanAPacket(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		now := storedNow()
		const n = 4000
		pid := storetest.CreateProduct(t, db, n)
		b := holdBatch(pid, 0, n, 0, 1, n, 2, now)
		for i := range b.NewHolds {
			b.NewHolds[i].IdempotencyKey = fmt.Sprintf("%0400d", i) // 4000 keys of 400 bytes: some MiB
		}
		c := storetest.CreateProduct(t, db, 1)
		dup := holdBatch(c, 0, 1, 0, n, 1, 2, now) // the last hold's id again
		errs := db.CommitBatches(ctx, []*flashsale.Batch{b, dup})
		if errs[0] != nil || !errors.Is(errs[1], flashsale.ErrVersionConflict) {
			t.Fatalf("CommitBatches = %v; want the second refused", errs)
		}
		if st := mustLoad(t, db, pid); len(st.ActiveHolds) != n || st.LastSeq != n+1 {
			t.Fatalf("%d holds, seq %d; want %d, %d", len(st.ActiveHolds), st.LastSeq, n, n+1)
		}
		if st := mustLoad(t, db, c); st.Version != 0 || st.LastSeq != 1 {
			t.Fatalf("the refused product: version %d, seq %d; want nothing written", st.Version, st.LastSeq)
		}

		// Alone, the large batch is refused in its last packet.
		pid2 := storetest.CreateProduct(t, db, n)
		b2 := holdBatch(pid2, 0, n, 0, n+1, n, 2, now)
		b2.Events[n-1].Seq = 1 // the product's creation event again
		if err := commit(ctx, db, b2); !errors.Is(err, flashsale.ErrVersionConflict) {
			t.Fatalf("a journal seq written before: %v; want ErrVersionConflict", err)
		}
		if st := mustLoad(t, db, pid2); st.Version != 0 || len(st.ActiveHolds) != 0 || st.LastSeq != 1 {
			t.Fatalf("after the refusal: version %d, %d holds, seq %d; want nothing written", st.Version, len(st.ActiveHolds), st.LastSeq)
		}
		// The refused transaction ended there: the next commit, on the same
		// connection, does not take its first packets' rows along.
		for range 3 {
			if err := commit(ctx, db, holdBatch(c, 5, 1, 0, 3*n, 1, 2, now)); !errors.Is(err, flashsale.ErrVersionConflict) {
				t.Fatalf("a batch at a stale version: %v; want ErrVersionConflict", err)
			}
		}
		if err := commit(ctx, db, holdBatch(pid2, 0, n, 0, 2*n+1, 1, 2, now)); err != nil {
			t.Fatal(err)
		}
		if st := mustLoad(t, db, pid2); st.Version != 1 || len(st.ActiveHolds) != 1 || st.LastSeq != 2 {
			t.Fatalf("after a good batch: version %d, %d holds, seq %d; want 1, 1, 2", st.Version, len(st.ActiveHolds), st.LastSeq)
		}
	})
}

// On MySQL a group commit is one round trip, its checks made by its
// writes, however many batches and rows it carries; when a check fails,
// the group is rolled back and sent again in two, whose reads tell which
// batch is refused.
func TestCommitBatchesRoundTrips(t *testing.T) {
	proxy, url := storetest.ViaProxy(t, storetest.URL(t, "mysql"))
	db := storetest.OpenURL(t, url)
	ctx := context.Background()
	now := storedNow()
	var holds, expiries, stale []*flashsale.Batch
	for i := range 20 {
		pid := storetest.CreateProduct(t, db, 100)
		holds = append(holds, holdBatch(pid, 0, 100, 0, int64(100*i+1), 10, 2, now))
		expiries = append(expiries, expiryBatch(pid, 1, 100, 10, int64(100*i+1), 12, now))
		stale = append(stale, expiryBatch(pid, 1, 100, 9, int64(100*i+2), 13, now)) // at the version before the expiry
	}
	if err := commit(ctx, db, holds[0]); err != nil { // opens the writer's connection
		t.Fatal(err)
	}
	if err := commit(ctx, db, expiries[0]); err != nil {
		t.Fatal(err)
	}
	const latency = 100 * time.Millisecond // each way
	for _, c := range []struct {
		name    string
		group   []*flashsale.Batch
		refused bool
		// Refused: the fenced packet; the reads, which roll it back first;
		// the ROLLBACK of a group with nothing left to write.
		roundTrips int
	}{{"new holds", holds[1:], false, 1}, {"expiries", expiries[1:], false, 1}, {"stale expiries", stale, true, 3}} {
		proxy.SetLatency(latency)
		began := time.Now()
		errs := db.CommitBatches(ctx, c.group)
		took := time.Since(began)
		proxy.SetLatency(0)
		for i, err := range errs {
			if c.refused != errors.Is(err, flashsale.ErrVersionConflict) || !c.refused && err != nil {
				t.Fatalf("%s, batch %d: %v; want refused %v", c.name, i, err, c.refused)
			}
		}
		t.Logf("%s: a group of %d batches took %v at %v each way", c.name, len(c.group), took, latency)
		want := time.Duration(2*c.roundTrips) * latency
		if took < want || took > want+latency+latency/2 {
			t.Fatalf("%s: a group commit took %v at %v each way; want %d round trips, about %v", c.name, took, latency, c.roundTrips, want)
		}
	}
	for _, b := range holds {
		if st := mustLoad(t, db, b.ProductID); st.Version != 2 || len(st.ActiveHolds) != 9 || st.LastSeq != 12 {
			t.Fatalf("product %d: version %d, %d holds, seq %d; want 2, 9, 12", b.ProductID, st.Version, len(st.ActiveHolds), st.LastSeq)
		}
	}
}

// expiryBatch is a batch of product pid at version that expires hold id,
// one of held units, journaled at seq.
func expiryBatch(pid, version, stock, held, id, seq int64, now time.Time) *flashsale.Batch {
	return &flashsale.Batch{ProductID: pid, Version: version, Counters: flashsale.Counters{Stock: stock, Held: held - 1}, At: now,
		ExpiredHolds: []int64{id},
		Events: []flashsale.Event{{ProductID: pid, Seq: seq, Kind: flashsale.EventHoldExpired, At: now, HoldID: id, Qty: 1,
			Counters: flashsale.Counters{Stock: stock, Held: held - 1}}}}
}

// A group of new holds is checked by its write alone, on MySQL a NULL
// version unless the row is at the version expected: that holds whatever
// sql_mode the URL asks for (none, or a mode list quoted or not), where a
// NULL could otherwise be written as 0 and a stale batch commit.
func TestVersionFenceWithoutStrictMode(t *testing.T) {
	for _, mode := range []string{"%27%27", "ANSI"} {
		t.Run(mode, func(t *testing.T) {
			db := storetest.OpenURL(t, storetest.URL(t, "mysql")+"?sql_mode="+mode)
			ctx := context.Background()
			now := storedNow()
			a, b := storetest.CreateProduct(t, db, 10), storetest.CreateProduct(t, db, 10)
			if err := commit(ctx, db, holdBatch(a, 0, 10, 0, 1, 1, 2, now)); err != nil {
				t.Fatal(err)
			}
			// a is at version 1: a batch expecting 0 is another writer's
			// past. Its journal follows on, so that only the version tells.
			errs := db.CommitBatches(ctx, []*flashsale.Batch{holdBatch(a, 0, 10, 0, 10, 2, 3, now), holdBatch(b, 0, 10, 0, 20, 2, 2, now)})
			if !errors.Is(errs[0], flashsale.ErrVersionConflict) || errs[1] != nil {
				t.Fatalf("CommitBatches = %v; want only the stale batch refused", errs)
			}
			if st := mustLoad(t, db, a); st.Version != 1 || len(st.ActiveHolds) != 1 || st.LastSeq != 2 {
				t.Fatalf("the stale batch's product: version %d, %d holds, seq %d; want 1, 1, 2", st.Version, len(st.ActiveHolds), st.LastSeq)
			}
			if st := mustLoad(t, db, b); st.Version != 1 || len(st.ActiveHolds) != 2 || st.LastSeq != 3 {
				t.Fatalf("the other product: version %d, %d holds, seq %d; want 1, 2, 3", st.Version, len(st.ActiveHolds), st.LastSeq)
			}
		})
	}
}

// LoadProducts reads what LoadProduct reads, for many products at once,
// and leaves out ids that name none.
func TestLoadProductsAgreesWithLoadProduct(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		now := storedNow()
		var ids []int64
		var group []*flashsale.Batch
		for i := range 7 {
			pid := storetest.CreateProduct(t, db, 10)
			ids = append(ids, pid)
			if i%3 == 0 {
				continue // nothing but the product
			}
			b := holdBatch(pid, 0, 10, 0, int64(100*i+1), i, 2, now)
			b.NewHolds[0].ExpiresAt = now.Add(-time.Second) // sorted first
			if i%2 == 0 {
				b.Held--
				b.AwaitingPayment++
				b.ConvertedHolds = []int64{b.NewHolds[i-1].ID}
				b.NewOrders = []flashsale.Order{{ID: int64(i), HoldID: b.NewHolds[i-1].ID, ProductID: pid, Qty: 1, Amount: 100,
					Status: flashsale.OrderPendingPayment, InitialStatus: flashsale.OrderPendingPayment, ExpiresAt: now.Add(time.Hour), CreatedAt: now}}
			}
			group = append(group, b)
		}
		for i, err := range db.CommitBatches(ctx, group) {
			if err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
		}
		states, err := db.LoadProducts(ctx, append([]int64{999_999}, ids...))
		if err != nil {
			t.Fatal(err)
		}
		if len(states) != len(ids) {
			t.Fatalf("LoadProducts gave %d products; want %d", len(states), len(ids))
		}
		for _, id := range ids {
			if want := mustLoad(t, db, id); !reflect.DeepEqual(states[id], want) {
				t.Errorf("product %d: LoadProducts gave %+v; LoadProduct %+v", id, states[id], want)
			}
		}
		if empty, err := db.LoadProducts(ctx, nil); err != nil || len(empty) != 0 {
			t.Errorf("LoadProducts(nil) = %v, %v; want nothing", empty, err)
		}
	})
}

// LoadProducts reads more products than one of its queries takes.
func TestLoadProductsManyProducts(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		var ids []int64
		for range 600 {
			ids = append(ids, storetest.CreateProduct(t, db, 5))
		}
		states, err := db.LoadProducts(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if st, ok := states[id]; !ok || st.Product.Stock != 5 || st.LastSeq != 1 || !strings.HasPrefix(st.Product.Name, "item") {
				t.Fatalf("product %d: %+v, %v; want it loaded", id, st, ok)
			}
		}
	})
}

// A group commit writes plain values into its statements' text and sends
// the others as arguments: keys of any characters come back as they were
// written, and none of them is taken for SQL.
func TestCommitBatchesKeepsKeysOfAnyCharacters(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		id := storetest.CreateProduct(t, db, 10)
		keys := []string{"plain-KEY_09", "it's", `back\slash`, "semi;colon -- comment", "ünïcode ✓", "a'); DELETE FROM holds; --"}
		b := holdBatch(id, 0, 10, 0, 1, len(keys), 2, storedNow())
		for i, key := range keys {
			b.NewHolds[i].IdempotencyKey = key
			b.NewHolds[i].RequestHash = key + "#"
			b.Events[i].IdempotencyKey = key
		}
		if err := db.CommitBatches(ctx, []*flashsale.Batch{b})[0]; err != nil {
			t.Fatal(err)
		}
		for i, key := range keys {
			h, err := db.HoldByKey(ctx, key)
			if err != nil {
				t.Fatalf("key %q: %v", key, err)
			}
			if h.ID != b.NewHolds[i].ID || h.RequestHash != key+"#" {
				t.Errorf("key %q: hold %d with hash %q, want %d with %q", key, h.ID, h.RequestHash, b.NewHolds[i].ID, key+"#")
			}
		}
		events, err := db.Events(ctx, id, 1, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != len(keys) {
			t.Fatalf("%d events, want %d", len(events), len(keys))
		}
		for i, e := range events {
			if e.IdempotencyKey != keys[i] || e.HoldID != b.NewHolds[i].ID {
				t.Errorf("event %d: key %q hold %d, want %q %d", i, e.IdempotencyKey, e.HoldID, keys[i], b.NewHolds[i].ID)
			}
		}
	})
}

// A request hash is kept with its idempotency key, and only with one:
// a hold made without a key keeps no hash, one with a key keeps both.
func TestCommitBatchesKeepsRequestHashesWithKeys(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		id := storetest.CreateProduct(t, db, 10)
		b := holdBatch(id, 0, 10, 0, 1, 2, 2, storedNow())
		b.NewHolds[0].IdempotencyKey = "" // the hash stays, as an actor sets it for every hold
		b.NewHolds[0].RequestHash, b.NewHolds[1].RequestHash = "hash-0", "hash-1"
		if err := db.CommitBatches(ctx, []*flashsale.Batch{b})[0]; err != nil {
			t.Fatal(err)
		}
		for i, want := range []struct{ key, hash string }{{"", ""}, {b.NewHolds[1].IdempotencyKey, "hash-1"}} {
			h, err := db.Hold(ctx, b.NewHolds[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			if h.IdempotencyKey != want.key || h.RequestHash != want.hash {
				t.Errorf("hold %d: key %q hash %q, want %q %q", h.ID, h.IdempotencyKey, h.RequestHash, want.key, want.hash)
			}
		}
	})
}

// A group commit moves every order its batches change to where the last
// of them left it, with that change's reason, also when two batches of one
// product in the group change the same order; on MySQL the moves are one
// statement for the whole group.
func TestCommitBatchesMovesOrdersOfSeveralBatches(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		now := storedNow()
		// Each product gets three orders awaiting payment, ids 100*i+1 to +3.
		pids := make([]int64, 2)
		var setup []*flashsale.Batch
		for i := range pids {
			pids[i] = storetest.CreateProduct(t, db, 10)
			b := holdBatch(pids[i], 0, 10, 0, int64(100*i+1), 3, 2, now)
			b.Held, b.AwaitingPayment = 0, 3
			for n := range int64(3) {
				id := int64(100*i+1) + n
				b.ConvertedHolds = append(b.ConvertedHolds, id)
				b.NewOrders = append(b.NewOrders, flashsale.Order{ID: id, HoldID: id, ProductID: pids[i], Qty: 1, Amount: 100,
					Status: flashsale.OrderPendingPayment, InitialStatus: flashsale.OrderPendingPayment, ExpiresAt: now.Add(time.Hour), CreatedAt: now})
			}
			setup = append(setup, b)
		}
		for i, err := range db.CommitBatches(ctx, setup) {
			if err != nil {
				t.Fatalf("setup batch %d: %v", i, err)
			}
		}
		change := func(order int64, from, to flashsale.OrderStatus, reason flashsale.CancelReason) flashsale.OrderChange {
			return flashsale.OrderChange{OrderID: order, From: from, To: to, Reason: reason}
		}
		event := func(pid, seq int64, kind flashsale.EventKind, order int64, c flashsale.Counters) []flashsale.Event {
			return []flashsale.Event{{ProductID: pid, Seq: seq, Kind: kind, At: now, OrderID: order, Qty: 1, Counters: c}}
		}
		a1 := flashsale.Counters{Stock: 10, AwaitingPayment: 1, Paid: 1}
		a2 := flashsale.Counters{Stock: 10, Paid: 1}
		b1 := flashsale.Counters{Stock: 10, AwaitingPayment: 2, Paid: 1}
		group := []*flashsale.Batch{
			{ProductID: pids[0], Version: 1, Counters: a1, At: now, Events: event(pids[0], 5, flashsale.EventOrderPaid, 1, a1),
				OrderChanges: []flashsale.OrderChange{
					change(1, flashsale.OrderPendingPayment, flashsale.OrderPaid, ""),
					change(2, flashsale.OrderPendingPayment, flashsale.OrderCancelled, flashsale.CancelledByWebhook),
				}},
			{ProductID: pids[1], Version: 1, Counters: b1, At: now, Events: event(pids[1], 5, flashsale.EventOrderPaid, 102, b1),
				OrderChanges: []flashsale.OrderChange{change(102, flashsale.OrderPendingPayment, flashsale.OrderPaid, "")}},
			{ProductID: pids[0], Version: 2, Counters: a2, At: now.Add(time.Second), Events: event(pids[0], 6, flashsale.EventRefundRequired, 2, a2),
				OrderChanges: []flashsale.OrderChange{
					change(2, flashsale.OrderCancelled, flashsale.OrderRefundRequired, ""),
					change(3, flashsale.OrderPendingPayment, flashsale.OrderCancelled, flashsale.CancelledByPaymentWindow),
				}},
		}
		for i, err := range db.CommitBatches(ctx, group) {
			if err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
		}
		want := map[int64]struct {
			status flashsale.OrderStatus
			reason flashsale.CancelReason
		}{
			1:   {flashsale.OrderPaid, ""},
			2:   {flashsale.OrderRefundRequired, ""},
			3:   {flashsale.OrderCancelled, flashsale.CancelledByPaymentWindow},
			101: {flashsale.OrderPendingPayment, ""},
			102: {flashsale.OrderPaid, ""},
			103: {flashsale.OrderPendingPayment, ""},
		}
		for id, w := range want {
			o, err := db.Order(ctx, id)
			if err != nil {
				t.Fatalf("order %d: %v", id, err)
			}
			if o.Status != w.status || o.CancelReason != w.reason {
				t.Errorf("order %d: %s (%q); want %s (%q)", id, o.Status, o.CancelReason, w.status, w.reason)
			}
		}
		if st := mustLoad(t, db, pids[0]); st.Version != 3 || st.Product.Counters != a2 {
			t.Errorf("product 0: version %d, %+v; want 3, %+v", st.Version, st.Product.Counters, a2)
		}
	})
}
