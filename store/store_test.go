package store_test

import (
	"context"
	"errors"
	"flashsale"
	"testing"
	"time"

	"flashsale/store/storetest"
	"os"
	"path/filepath"

	"flashsale/store"
)

// commit writes one batch alone, as an actor's writer with nothing else
// to commit does.
func commit(ctx context.Context, db *store.DB, b *flashsale.Batch) error {
	return db.CommitBatches(ctx, []*flashsale.Batch{b})[0]
}

func createProduct(t *testing.T, db *store.DB, np flashsale.NewProduct) flashsale.Product {
	t.Helper()
	p, err := db.CreateProduct(context.Background(), np)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// openWithProduct opens a fresh database holding one product.
func openWithProduct(t *testing.T, dialect string, np flashsale.NewProduct) (*store.DB, flashsale.Product) {
	t.Helper()
	db := storetest.Open(t, dialect)
	return db, createProduct(t, db, np)
}

// storedNow is the time now as the store keeps it, to the millisecond.
func storedNow() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func TestSeedCreatesProductOneOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		for i, want := range []bool{true, false} {
			created, err := db.Seed(ctx)
			if err != nil || created != want {
				t.Fatalf("Seed #%d = %v, %v; want %v", i+1, created, err, want)
			}
		}
		st, err := db.LoadProduct(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		want := flashsale.Product{ID: 1, Name: "Flash Sale Item", Price: 4999, Counters: flashsale.Counters{Stock: 50}}
		if st.Product != want || st.Version != 0 || len(st.ActiveHolds) != 0 {
			t.Fatalf("seeded %+v version %d holds %d; want %+v", st.Product, st.Version, len(st.ActiveHolds), want)
		}
	})
}

func TestCommitBatchWritesHoldsAndBumpsVersion(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		id := storetest.CreateProduct(t, db, 10)
		now := time.Now().UTC().Truncate(time.Millisecond)
		first, err := db.NextIDs(ctx, "hold", 2)
		if err != nil {
			t.Fatal(err)
		}
		holds := []flashsale.Hold{
			{ID: first, ProductID: id, Qty: 3, Status: flashsale.HoldActive, ExpiresAt: now.Add(time.Minute), CreatedAt: now, IdempotencyKey: "k1", RequestHash: "h1"},
			{ID: first + 1, ProductID: id, Qty: 2, Status: flashsale.HoldActive, ExpiresAt: now.Add(2 * time.Minute), CreatedAt: now},
		}
		b := &flashsale.Batch{ProductID: id, Version: 0, Counters: flashsale.Counters{Stock: 10, Held: 5}, NewHolds: holds, At: now}
		if err := commit(ctx, db, b); err != nil {
			t.Fatal(err)
		}
		st, err := db.LoadProduct(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Version != 1 || st.Product.Held != 5 || len(st.ActiveHolds) != 2 {
			t.Fatalf("after commit: version %d held %d active %d; want 1, 5, 2", st.Version, st.Product.Held, len(st.ActiveHolds))
		}
		if got := st.ActiveHolds[0]; got != holds[0] {
			t.Fatalf("loaded hold %+v; want %+v", got, holds[0])
		}
		byKey, err := db.HoldByKey(ctx, "k1")
		if err != nil || byKey.ID != first {
			t.Fatalf("HoldByKey = %+v, %v; want hold %d", byKey, err, first)
		}

		// The same version again is a second writer: refused, nothing written.
		stale := &flashsale.Batch{ProductID: id, Version: 0, Counters: flashsale.Counters{Stock: 10, Held: 0}, ExpiredHolds: []int64{first}, At: now}
		if err := commit(ctx, db, stale); !errors.Is(err, flashsale.ErrVersionConflict) {
			t.Fatalf("stale batch: %v; want ErrVersionConflict", err)
		}
		// Counters beyond the stock are refused even at the right version.
		over := &flashsale.Batch{ProductID: id, Version: 1, Counters: flashsale.Counters{Stock: 10, Held: 11}, At: now}
		if err := commit(ctx, db, over); !errors.Is(err, flashsale.ErrVersionConflict) {
			t.Fatalf("oversold batch: %v; want ErrVersionConflict", err)
		}
		expire := &flashsale.Batch{ProductID: id, Version: 1, Counters: flashsale.Counters{Stock: 10, Held: 2}, ExpiredHolds: []int64{first}, At: now}
		if err := commit(ctx, db, expire); err != nil {
			t.Fatal(err)
		}
		h, err := db.Hold(ctx, first)
		if err != nil || h.Status != flashsale.HoldExpired {
			t.Fatalf("Hold = %+v, %v; want expired", h, err)
		}
		// Expiring it twice means someone else already did: refused.
		again := &flashsale.Batch{ProductID: id, Version: 2, Counters: flashsale.Counters{Stock: 10, Held: 2}, ExpiredHolds: []int64{first}, At: now}
		if err := commit(ctx, db, again); !errors.Is(err, flashsale.ErrVersionConflict) {
			t.Fatalf("double expiry: %v; want ErrVersionConflict", err)
		}
	})
}

func TestNotFound(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		if _, err := db.LoadProduct(ctx, 42); !errors.Is(err, flashsale.ErrProductNotFound) {
			t.Fatalf("LoadProduct: %v; want ErrProductNotFound", err)
		}
		if _, err := db.Hold(ctx, 42); !errors.Is(err, flashsale.ErrHoldNotFound) {
			t.Fatalf("Hold: %v; want ErrHoldNotFound", err)
		}
		if _, err := db.HoldByKey(ctx, "nope"); !errors.Is(err, flashsale.ErrHoldNotFound) {
			t.Fatalf("HoldByKey: %v; want ErrHoldNotFound", err)
		}
	})
}

func TestSequenceIsIncreasingInBlocks(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		a, err := db.NextIDs(ctx, "hold", 100)
		if err != nil {
			t.Fatal(err)
		}
		b, err := db.NextIDs(ctx, "hold", 100)
		if err != nil {
			t.Fatal(err)
		}
		if a != 1 || b != 101 {
			t.Fatalf("blocks start at %d and %d; want 1 and 101", a, b)
		}
	})
}

// A path may hold characters that end the path part of a URI.
func TestSQLitePathWithURICharacters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "odd #1?x=y.db")
	db := storetest.OpenURL(t, "sqlite://"+path)
	if _, err := db.CreateProduct(ctx, flashsale.NewProduct{Name: "p", Price: 1, Stock: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at the path given: %v", err)
	}
}

func TestCleanLetsGoOfOldKeysAndEarlyWebhooks(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		pid := storetest.CreateProduct(t, db, 10)
		now := time.Now().UTC().Truncate(time.Millisecond)
		old := now.Add(-48 * time.Hour)
		hold := func(id int64, key string, at time.Time) flashsale.Hold {
			return flashsale.Hold{ID: id, ProductID: pid, Qty: 1, Status: flashsale.HoldExpired, ExpiresAt: at.Add(time.Minute),
				CreatedAt: at, IdempotencyKey: key, RequestHash: "h"}
		}
		b := &flashsale.Batch{ProductID: pid, Counters: flashsale.Counters{Stock: 10}, At: now,
			NewHolds: []flashsale.Hold{hold(1, "old-hold", old), hold(2, "new-hold", now)}}
		if err := commit(ctx, db, b); err != nil {
			t.Fatal(err)
		}
		if _, err := db.NextIDs(ctx, "order", 1000); err != nil { // early webhooks need their id reserved
			t.Fatal(err)
		}
		for _, pay := range []flashsale.Payment{
			{Key: "old-early", OrderID: 500, Status: flashsale.PaymentSuccess, Hash: "x", CreatedAt: old},
			{Key: "past-ttl-early", OrderID: 502, Status: flashsale.PaymentSuccess, Hash: "z", CreatedAt: now.Add(-store.DefaultEarlyWebhookTTL - time.Second)},
			{Key: "new-early", OrderID: 501, Status: flashsale.PaymentSuccess, Hash: "y", CreatedAt: now},
		} {
			if _, _, err := db.RecordEarlyPayment(ctx, pay); err != nil {
				t.Fatal(err)
			}
		}
		c, err := db.Clean(ctx, now, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if c != (store.Cleaned{EarlyWebhooks: 2, HoldKeys: 1}) {
			t.Fatalf("Clean = %+v; want two early webhooks and one hold key", c)
		}
		if _, err := db.HoldByKey(ctx, "old-hold"); !errors.Is(err, flashsale.ErrHoldNotFound) {
			t.Fatalf("old hold key: %v; want it gone", err)
		}
		if h, err := db.Hold(ctx, 1); err != nil || h.Qty != 1 {
			t.Fatalf("the old hold itself: %+v, %v; want it kept", h, err)
		}
		if _, err := db.HoldByKey(ctx, "new-hold"); err != nil {
			t.Fatalf("new hold key: %v; want it kept", err)
		}
		for _, key := range []string{"old-early", "past-ttl-early"} {
			if _, err := db.PaymentByKey(ctx, key); !errors.Is(err, flashsale.ErrPaymentNotFound) {
				t.Fatalf("early webhook %s: %v; want it dropped", key, err)
			}
		}
		if _, err := db.PaymentByKey(ctx, "new-early"); err != nil {
			t.Fatalf("new early webhook: %v; want it kept", err)
		}
	})
}

// Batches of several products share one transaction; one refused by its
// version check is rolled back alone.
func TestCommitBatchesRefusesOneAndCommitsTheRest(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		now := storedNow()
		var batches []*flashsale.Batch
		for i := range 3 {
			pid := storetest.CreateProduct(t, db, 10)
			id := int64(100 + i)
			batches = append(batches, &flashsale.Batch{ProductID: pid, Counters: flashsale.Counters{Stock: 10, Held: 1}, At: now,
				NewHolds: []flashsale.Hold{{ID: id, ProductID: pid, Qty: 1, Status: flashsale.HoldActive, ExpiresAt: now.Add(time.Minute), CreatedAt: now}},
				Events:   []flashsale.Event{{ProductID: pid, Seq: 2, Kind: flashsale.EventHoldCreated, At: now, HoldID: id, Qty: 1, Counters: flashsale.Counters{Stock: 10, Held: 1}}}})
		}
		batches[1].Version = 7 // another writer's version: refused
		errs := db.CommitBatches(ctx, batches)
		if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], flashsale.ErrVersionConflict) {
			t.Fatalf("CommitBatches = %v; want only the second refused", errs)
		}
		// A refusal found past the versions (a hold that is not active)
		// is found batch by batch: only its batch is left out.
		next := []*flashsale.Batch{
			{ProductID: batches[0].ProductID, Version: 1, Counters: flashsale.Counters{Stock: 10, Held: 1}, At: now, ExpiredHolds: []int64{999}},
			{ProductID: batches[2].ProductID, Version: 1, Counters: flashsale.Counters{Stock: 10, Held: 0}, At: now, ExpiredHolds: []int64{102},
				Events: []flashsale.Event{{ProductID: batches[2].ProductID, Seq: 3, Kind: flashsale.EventHoldExpired, At: now, HoldID: 102, Qty: 1, Counters: flashsale.Counters{Stock: 10}}}},
		}
		if errs := db.CommitBatches(ctx, next); !errors.Is(errs[0], flashsale.ErrVersionConflict) || errs[1] != nil {
			t.Fatalf("CommitBatches = %v; want only the first refused", errs)
		}
		if h, err := db.Hold(ctx, 102); err != nil || h.Status != flashsale.HoldExpired {
			t.Fatalf("hold 102 = %+v, %v; want expired", h, err)
		}
		batches[2].Held, batches[2].NewHolds = 0, nil // for the checks below
		for i, b := range batches {
			st, err := db.LoadProduct(ctx, b.ProductID)
			if err != nil {
				t.Fatal(err)
			}
			want, seq := int64(1), int64(2)
			switch i {
			case 1:
				want, seq = 0, 1
			case 2:
				want, seq = 0, 3
			}
			if st.Product.Held != want || int64(len(st.ActiveHolds)) != want || st.LastSeq != seq {
				t.Fatalf("product %d: held %d, %d active holds, last seq %d; want %d, %d, %d",
					b.ProductID, st.Product.Held, len(st.ActiveHolds), st.LastSeq, want, want, seq)
			}
		}
	})
}

// A row written before and a row the tables' CHECK constraints refuse are
// both another writer's doing, whatever the driver calls them.
func TestDriverRefusalsAreVersionConflicts(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db, p := openWithProduct(t, dialect, flashsale.NewProduct{Name: "p", Price: 100, Stock: 10})
		now := storedNow()
		hold := flashsale.Hold{ID: 1, ProductID: p.ID, Qty: 1, Status: flashsale.HoldActive, ExpiresAt: now.Add(time.Minute), CreatedAt: now}
		b := &flashsale.Batch{ProductID: p.ID, Counters: flashsale.Counters{Stock: 10, Held: 1}, At: now, NewHolds: []flashsale.Hold{hold}}
		if err := commit(ctx, db, b); err != nil {
			t.Fatal(err)
		}
		b.Version, b.Held = 1, 2
		if err := commit(ctx, db, b); !errors.Is(err, flashsale.ErrVersionConflict) {
			t.Fatalf("a hold id written before: %v; want ErrVersionConflict", err)
		}
		hold.ID, hold.Qty = 2, 0
		b.NewHolds = []flashsale.Hold{hold}
		if err := commit(ctx, db, b); !errors.Is(err, flashsale.ErrVersionConflict) {
			t.Fatalf("a hold of no units: %v; want ErrVersionConflict", err)
		}
		if st, err := db.LoadProduct(ctx, p.ID); err != nil || st.Version != 1 || len(st.ActiveHolds) != 1 {
			t.Fatalf("after the refusals: %+v, %v; want version 1 with one hold", st, err)
		}
	})
}

// TestEarlyPaymentNeedsAReservedOrderID: a webhook for an order id past
// every id the order sequence has reserved is refused and recorded
// nowhere; one for a reserved id is kept as pending.
func TestEarlyPaymentNeedsAReservedOrderID(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		now := time.Now().UTC().Truncate(time.Millisecond)
		pay := func(key string, orderID int64) error {
			_, _, err := db.RecordEarlyPayment(ctx, flashsale.Payment{Key: key, OrderID: orderID,
				Status: flashsale.PaymentSuccess, Hash: key, CreatedAt: now})
			return err
		}
		if err := pay("before-any", 1); !errors.Is(err, flashsale.ErrOrderNotFound) {
			t.Fatalf("webhook for order 1 before any id is reserved: %v; want ErrOrderNotFound", err)
		}
		first, err := db.NextIDs(ctx, "order", 10) // ids first … first+9
		if err != nil {
			t.Fatal(err)
		}
		if err := pay("past-block", first+10); !errors.Is(err, flashsale.ErrOrderNotFound) {
			t.Fatalf("webhook past the reserved block: %v; want ErrOrderNotFound", err)
		}
		for _, key := range []string{"before-any", "past-block"} {
			if _, err := db.PaymentByKey(ctx, key); !errors.Is(err, flashsale.ErrPaymentNotFound) {
				t.Fatalf("refused webhook %s: %v; want it recorded nowhere", key, err)
			}
		}
		if err := pay("last-reserved", first+9); err != nil {
			t.Fatalf("webhook for the last reserved id: %v", err)
		}
		if p, err := db.PaymentByKey(ctx, "last-reserved"); err != nil || !p.Early {
			t.Fatalf("webhook for the last reserved id = %+v, %v; want pending", p, err)
		}
	})
}

// TestEarlyPaymentPastItsTTL: the transaction that creates an order asks
// for the webhooks recorded for it within the TTL before, and drops older
// ones instead of applying them, whether or not Clean has run.
func TestEarlyPaymentPastItsTTL(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.Open(t, dialect)
		db.SetEarlyWebhookTTL(time.Minute)
		p, err := db.CreateProduct(ctx, flashsale.NewProduct{Name: "p", Price: 100, Stock: 10})
		if err != nil {
			t.Fatal(err)
		}
		first, err := db.NextIDs(ctx, "order", 10)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now().UTC().Truncate(time.Millisecond)
		hold := flashsale.Hold{ID: 1, ProductID: p.ID, Qty: 1, Status: flashsale.HoldActive, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
		if err := commit(ctx, db, &flashsale.Batch{ProductID: p.ID, Counters: flashsale.Counters{Stock: 10, Held: 1}, At: t0,
			NewHolds: []flashsale.Hold{hold}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.RecordEarlyPayment(ctx, flashsale.Payment{Key: "early", OrderID: first,
			Status: flashsale.PaymentSuccess, Hash: "h", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		orderAt := func(at time.Time) *flashsale.Batch {
			return &flashsale.Batch{ProductID: p.ID, Version: 1, Counters: flashsale.Counters{Stock: 10, AwaitingPayment: 1}, At: at,
				ConvertedHolds: []int64{hold.ID},
				NewOrders: []flashsale.Order{{ID: first, HoldID: hold.ID, ProductID: p.ID, Qty: 1, Amount: 100,
					Status: flashsale.OrderPendingPayment, InitialStatus: flashsale.OrderPendingPayment,
					ExpiresAt: at.Add(15 * time.Minute), CreatedAt: at}}}
		}
		// Within the TTL the order cannot be created without the webhook.
		var early *flashsale.EarlyPaymentsError
		if err := commit(ctx, db, orderAt(t0.Add(59*time.Second))); !errors.As(err, &early) || len(early.Payments) != 1 {
			t.Fatalf("order 59s after its webhook, without it: %v; want EarlyPaymentsError", err)
		}
		// Past the TTL it is created unpaid, and the webhook is dropped.
		if err := commit(ctx, db, orderAt(t0.Add(time.Minute+time.Millisecond))); err != nil {
			t.Fatalf("order past the TTL of its webhook: %v; want it created", err)
		}
		if o, err := db.Order(ctx, first); err != nil || o.Status != flashsale.OrderPendingPayment {
			t.Fatalf("order = %+v, %v; want pending_payment", o, err)
		}
		if _, err := db.PaymentByKey(ctx, "early"); !errors.Is(err, flashsale.ErrPaymentNotFound) {
			t.Fatalf("the stale early webhook: %v; want it dropped", err)
		}
	})
}
