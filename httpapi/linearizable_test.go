package httpapi_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/rs/zerolog"

	"flashsale"
	"flashsale/actors"
	"flashsale/actors/actorstest"
	"flashsale/httpapi"
	"flashsale/store"
	"flashsale/store/storetest"
)

// stockInput is one operation of the history: a hold of one unit (with
// its Idempotency-Key), or a read of the available stock.
type stockInput struct {
	hold bool
	key  string
}

// stockOutput is what the client saw: a hold's status, or the stock a read
// saw. known is false for a hold whose outcome the client never learned (a
// 503, a cut connection) until the test looked its key up afterwards.
type stockOutput struct {
	status    int
	available int64
	known     bool
}

// availableStock models one product's available stock as a register that
// holds take from: a 201 takes a unit that was there, a 409 says none was,
// a read sees the exact count.
var availableStock = porcupine.Model{
	Init: func() any { return int64(0) }, // replaced by the test's stock
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(int64), input.(stockInput), output.(stockOutput)
		switch {
		case !in.hold:
			return out.available == s, s
		case out.status == http.StatusCreated:
			return s > 0, s - 1
		default:
			return s == 0, s
		}
	},
	DescribeOperation: func(input, output any) string {
		if in, out := input.(stockInput), output.(stockOutput); in.hold {
			return fmt.Sprintf("hold → %d", out.status)
		} else {
			return fmt.Sprintf("read → %d", out.available)
		}
	},
}

// history records operations from many clients, with call and return times
// from one monotonic clock.
type history struct {
	start time.Time
	mu    sync.Mutex // guards ops
	ops   []porcupine.Operation
}

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) add(client int, in stockInput, call int64, out stockOutput) {
	ret := h.now()
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	h.mu.Unlock()
}

// resolve settles the holds whose clients never learned their outcome, by
// their Idempotency-Key once the service has drained: one that committed
// took effect at some time after its call (its return is unbounded), one
// that did not is left out of the history.
func (h *history) resolve(t *testing.T, db *store.DB) (unknown int) {
	ops := h.ops[:0]
	for _, op := range h.ops {
		in, out := op.Input.(stockInput), op.Output.(stockOutput)
		if !in.hold || out.known {
			ops = append(ops, op)
			continue
		}
		unknown++
		_, err := db.HoldByKey(context.Background(), in.key)
		switch {
		case err == nil:
			op.Output, op.Return = stockOutput{status: http.StatusCreated, known: true}, math.MaxInt64
			ops = append(ops, op)
		case !errors.Is(err, flashsale.ErrHoldNotFound):
			t.Fatalf("looking up hold %s: %v", in.key, err)
		}
	}
	h.ops = ops
	return unknown
}

// TestHoldsAndReadsAreLinearizable records every hold and read of one
// product from many clients over HTTP and checks the history against the
// model of available stock: no buyer hears "Insufficient stock" while a
// reader could still see stock, and no read sees a hold that was refused
// or a count that never was.
func TestHoldsAndReadsAreLinearizable(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dialect string) {
		checkLinearizable(t, storetest.URL(t, dialect), nil)
	})
}

// TestHoldsAndReadsAreLinearizableThroughFaults does the same while the
// database connection is cut and restored under the load (MariaDB, through
// the fault proxy), so that some holds end with an outcome their clients
// never learn.
func TestHoldsAndReadsAreLinearizableThroughFaults(t *testing.T) {
	proxy, viaProxy := storetest.ViaProxy(t, storetest.URL(t, "mysql"))
	checkLinearizable(t, viaProxy, func() {
		for range 3 {
			time.Sleep(40 * time.Millisecond)
			proxy.Cut()
			time.Sleep(30 * time.Millisecond)
			proxy.Restore()
		}
	})
}

func checkLinearizable(t *testing.T, url string, faults func()) {
	const (
		stock   = 150
		holders = 16
		holds   = 400
		readers = 8
	)
	db := storetest.OpenURL(t, url)
	ctx := context.Background()
	p, err := db.CreateProduct(ctx, flashsale.NewProduct{Name: "linearizable", Price: 100, Stock: stock})
	if err != nil {
		t.Fatal(err)
	}
	cfg := actors.DefaultConfig()
	cfg.HoldTTL, cfg.CommitTimeout, cfg.ReloadBackoff = time.Hour, time.Second, 20*time.Millisecond
	// Errors are logged, so that an answer the history cannot take (a
	// 500) says what caused it.
	logs := &actorstest.LockedBuffer{}
	log := zerolog.New(logs).Level(zerolog.ErrorLevel)
	service := actors.NewService(cfg, db, log)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{RequestTimeout: 3 * time.Second}, service, db, log))
	drained := false
	drain := func() {
		if drained {
			return
		}
		drained = true
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := service.Drain(ctx); err != nil {
			t.Errorf("drain: %v", err)
		}
	}
	t.Cleanup(drain)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: holders + readers}, Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)

	h := &history{start: time.Now()}
	var (
		readersDone sync.WaitGroup
		holdersDone sync.WaitGroup
		next        = make(chan int, holds)
		done        = make(chan struct{})
	)
	for i := range holds {
		next <- i
	}
	close(next)
	body := fmt.Sprintf(`{"product_id":%d,"qty":1}`, p.ID)
	for c := range holders {
		holdersDone.Add(1)
		go func() {
			defer holdersDone.Done()
			for i := range next {
				in := stockInput{hold: true, key: fmt.Sprintf("lin-%d", i)}
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/holds", strings.NewReader(body))
				req.Header.Set("Idempotency-Key", in.key)
				call := h.now()
				resp, err := client.Do(req)
				var out stockOutput
				if err == nil {
					out.status = resp.StatusCode
					resp.Body.Close()
					out.known = out.status == http.StatusCreated || out.status == http.StatusConflict
				}
				if !out.known && err == nil && out.status != http.StatusServiceUnavailable {
					t.Errorf("hold: status %d; the server logged:\n%s", out.status, logs.String())
				}
				h.add(c, in, call, out)
			}
		}()
	}
	for c := range readers {
		readersDone.Add(1)
		go func() {
			defer readersDone.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				call := h.now()
				resp, err := client.Get(fmt.Sprintf("%s/api/products/%d", srv.URL, p.ID))
				if err != nil {
					continue // a read that failed saw nothing
				}
				var got struct {
					Available int64 `json:"available_stock"`
				}
				ok := resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&got) == nil
				resp.Body.Close()
				if ok {
					h.add(holders+c, stockInput{}, call, stockOutput{status: http.StatusOK, available: got.Available, known: true})
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	if faults != nil {
		faults()
	}
	holdersDone.Wait()
	close(done)
	readersDone.Wait()
	drain()

	unknown := h.resolve(t, db)
	var created, refused int
	for _, op := range h.ops {
		if in, out := op.Input.(stockInput), op.Output.(stockOutput); in.hold && out.status == http.StatusCreated {
			created++
		} else if in.hold {
			refused++
		}
	}
	t.Logf("%d operations: %d holds took effect, %d refused, %d of unknown outcome before their keys were looked up, %d reads",
		len(h.ops), created, refused, unknown, len(h.ops)-created-refused)
	if faults == nil && (created != stock || refused != holds-stock) {
		t.Errorf("%d holds created and %d refused; want %d and %d", created, refused, stock, holds-stock)
	}
	if err := checkStockHistory(stock, h.ops); err != nil {
		t.Fatalf("the history of holds and reads is not linearizable: %v", err)
	}
}

// checkStockHistory decides whether a history of holds of one unit and
// reads of one product is linearizable against availableStock, exactly.
// Porcupine's general search does not finish on these histories: with
// sixteen clients, dozens of identical holds are in flight at once, and it
// tries their subsets one by one. Available stock only falls while no hold
// expires, which allows a direct check.
//
// Let D(t) be the number of holds that took effect by time t. Every
// observation (a read of v, or a refusal, which reads 0) needs a point in
// its interval where D = stock − v. D never falls, so the observations
// that need D = k all lie in one window [s, e] in which no hold takes
// effect, after the window of every smaller k. The window ends as early as
// it may: at the latest call among them, the end of the previous window,
// or later if too few holds had been sent by then; it starts as late as it
// may, at s = min(e, their earliest return), so that as many holds as
// possible had been sent by s. Exactly k holds take effect by s: every
// hold that returned 201 before e, then those with the earliest returns.
// TestCheckStockHistoryAgreesWithPorcupine holds this against porcupine.
func checkStockHistory(stock int64, ops []porcupine.Operation) error {
	type window struct {
		taken     int64 // D in the window
		call, ret int64 // latest call, earliest return of its observations
	}
	type hold struct{ call, ret int64 }
	var holds []hold
	windows := map[int64]*window{}
	for _, op := range ops {
		in, out := op.Input.(stockInput), op.Output.(stockOutput)
		if in.hold && out.status == http.StatusCreated {
			holds = append(holds, hold{op.Call, op.Return})
			continue
		}
		taken := stock // a refusal saw none left
		if !in.hold {
			taken = stock - out.available
		}
		w := windows[taken]
		if w == nil {
			w = &window{taken: taken, call: op.Call, ret: op.Return}
			windows[taken] = w
		}
		w.call, w.ret = max(w.call, op.Call), min(w.ret, op.Return)
	}
	if int64(len(holds)) > stock {
		return fmt.Errorf("%d holds of one unit took effect on a stock of %d", len(holds), stock)
	}
	// Holds in the order they were sent; those sent and not yet placed
	// wait by return.
	slices.SortFunc(holds, func(a, b hold) int { return cmp.Compare(a.call, b.call) })
	byReturn := func(a, b hold) int { return cmp.Compare(a.ret, b.ret) }
	var (
		placed  int64
		end     int64 = math.MinInt64 // of the previous window
		sent    int
		waiting []hold
	)
	send := func(until int64) {
		for ; sent < len(holds) && holds[sent].call <= until; sent++ {
			i, _ := slices.BinarySearchFunc(waiting, holds[sent], byReturn)
			waiting = slices.Insert(waiting, i, holds[sent])
		}
	}
	for _, w := range slices.SortedFunc(maps.Values(windows), func(a, b *window) int { return cmp.Compare(a.taken, b.taken) }) {
		seen := stock - w.taken
		need := w.taken - placed
		switch {
		case w.taken < 0 || w.taken > int64(len(holds)):
			return fmt.Errorf("%d units seen available; %d holds took effect on a stock of %d", seen, len(holds), stock)
		case w.ret < end:
			return fmt.Errorf("%d units seen available, returning at %d ns, before %d units had stopped being seen at %d ns",
				seen, w.ret, stock-placed, end)
		}
		e := max(end, w.call)
		s := min(e, w.ret)
		send(s)
		if s == e {
			// The window may begin later, until its observations return:
			// wait for enough holds to be sent.
			for int64(len(waiting)) < need && sent < len(holds) && holds[sent].call <= w.ret {
				s = holds[sent].call
				send(s)
			}
			e = s
		}
		if int64(len(waiting)) < need {
			return fmt.Errorf("%d units seen available by %d ns, before %d holds had been sent", seen, w.ret, w.taken)
		}
		// Holds that returned before the window ends took effect before
		// it starts.
		if i := slices.IndexFunc(holds[sent:], func(h hold) bool { return h.ret < e }); i >= 0 {
			return fmt.Errorf("%d units seen available from %d ns to %d ns, but a hold sent at %d ns returned 201 at %d ns",
				seen, s, e, holds[sent+i].call, holds[sent+i].ret)
		}
		due, _ := slices.BinarySearchFunc(waiting, e, func(h hold, e int64) int { return cmp.Compare(h.ret, e) })
		if int64(due) > need {
			return fmt.Errorf("%d units seen available at %d ns, after %d holds had returned 201", seen, e, placed+int64(due))
		}
		waiting = waiting[need:]
		placed, end = w.taken, e
	}
	return nil
}

// TestCheckStockHistoryAgreesWithPorcupine runs both checkers on many small
// random histories, legal and not, where porcupine's search is quick.
func TestCheckStockHistoryAgreesWithPorcupine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var legal, illegal int
	for range 20000 {
		stock := int64(rng.IntN(4))
		var ops []porcupine.Operation
		for c := range 2 + rng.IntN(7) {
			call := int64(rng.IntN(20))
			op := porcupine.Operation{ClientId: c, Call: call, Return: call + 1 + int64(rng.IntN(10))}
			switch rng.IntN(5) {
			case 0:
				op.Input, op.Output = stockInput{}, stockOutput{status: http.StatusOK, available: int64(rng.IntN(4)), known: true}
			case 1:
				op.Input, op.Output = stockInput{hold: true}, stockOutput{status: http.StatusConflict, known: true}
			case 2: // an outcome learned afterwards
				op.Input, op.Output = stockInput{hold: true}, stockOutput{status: http.StatusCreated, known: true}
				op.Return = math.MaxInt64
			default:
				op.Input, op.Output = stockInput{hold: true}, stockOutput{status: http.StatusCreated, known: true}
			}
			ops = append(ops, op)
		}
		model := availableStock
		model.Init = func() any { return stock }
		want := porcupine.CheckOperations(model, ops)
		err := checkStockHistory(stock, ops)
		if (err == nil) != want {
			for _, op := range ops {
				t.Logf("client %d [%d, %d] %+v %+v", op.ClientId, op.Call, op.Return, op.Input, op.Output)
			}
			t.Fatalf("stock %d: porcupine says linearizable: %v; checkStockHistory: %v", stock, want, err)
		}
		if want {
			legal++
		} else {
			illegal++
		}
	}
	t.Logf("%d legal and %d illegal histories", legal, illegal)
	if legal < 1000 || illegal < 1000 {
		t.Fatalf("%d legal and %d illegal histories: too few of one kind to compare", legal, illegal)
	}
}
