// Package httpapitest checks what clients saw over HTTP. Its history of
// holds and reads of one product is checked for linearizability against a
// model of the product's available stock, whether one process served it or
// several nodes of a cluster did.
package httpapitest

import (
	"cmp"
	"context"
	"errors"
	"flashsale"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// StockInput is one operation of the history: a hold of one unit (with
// its Idempotency-Key), or a read of the available stock.
type StockInput struct {
	Hold bool
	Key  string
}

// StockOutput is what the client saw: a hold's status, or the stock a read
// saw. Known is false for a hold whose outcome the client never learned (a
// 503, a cut connection) until the test looked its key up afterwards.
type StockOutput struct {
	Status    int
	Available int64
	Known     bool
}

// AvailableStock models one product's available stock as a register that
// holds take from: a 201 takes a unit that was there, a 409 says none was,
// a read sees the exact count. Its Init is replaced by the test's stock.
var AvailableStock = porcupine.Model{
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(int64), input.(StockInput), output.(StockOutput)
		switch {
		case !in.Hold:
			return out.Available == s, s
		case out.Status == http.StatusCreated:
			return s > 0, s - 1
		default:
			return s == 0, s
		}
	},
	DescribeOperation: func(input, output any) string {
		if in, out := input.(StockInput), output.(StockOutput); in.Hold {
			return fmt.Sprintf("hold → %d", out.Status)
		} else {
			return fmt.Sprintf("read → %d", out.Available)
		}
	},
}

// History records operations from many clients, with call and return times
// from one monotonic clock.
type History struct {
	start time.Time
	mu    sync.Mutex // guards ops
	ops   []porcupine.Operation
}

// NewHistory starts an empty history; its clock starts now.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the history's clock: the call time of an operation about to be
// made.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Add records an operation that returned now.
func (h *History) Add(client int, in StockInput, call int64, out StockOutput) {
	ret := h.Now()
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	h.mu.Unlock()
}

// Ops are the operations recorded so far.
func (h *History) Ops() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// HoldFinder finds a hold by the Idempotency-Key it was first created
// with; *store.DB is one.
type HoldFinder interface {
	HoldByKey(ctx context.Context, key string) (flashsale.Hold, error)
}

// Resolve settles the holds whose clients never learned their outcome, by
// their Idempotency-Key once every server has drained or died: one that
// committed took effect at some time after its call (its return is
// unbounded), one that did not is left out of the history. It returns how
// many were unknown.
func (h *History) Resolve(ctx context.Context, db HoldFinder) (unknown int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ops := h.ops[:0]
	for _, op := range h.ops {
		in, out := op.Input.(StockInput), op.Output.(StockOutput)
		if !in.Hold || out.Known {
			ops = append(ops, op)
			continue
		}
		unknown++
		_, err := db.HoldByKey(ctx, in.Key)
		switch {
		case err == nil:
			op.Output, op.Return = StockOutput{Status: http.StatusCreated, Known: true}, math.MaxInt64
			ops = append(ops, op)
		case !errors.Is(err, flashsale.ErrHoldNotFound):
			return unknown, fmt.Errorf("looking up hold %s: %w", in.Key, err)
		}
	}
	h.ops = ops
	return unknown, nil
}

// CheckStockHistory decides whether a history of holds of one unit and
// reads of one product is linearizable against AvailableStock, exactly.
// Porcupine's general search does not finish on these histories: with
// sixteen clients, dozens of identical holds are in flight at once, and it
// tries their subsets one by one. Available stock only falls while no hold
// expires, which allows a direct check.
//
// Let D(t) be the number of holds that took effect by time t. Every
// observation (a read of v, or a refusal, which reads 0) needs a point in
// its interval where D = stock − v. D never falls, so the observations
// that need D = k all lie in one window [x, y] in which no hold takes
// effect, after the window of every smaller k and before that of every
// larger one: it starts by their earliest return and ends at their latest
// call or after. Exactly k holds take effect by x: every hold that
// returned 201 before y, then, of those sent by x, the ones with the
// earliest returns, which leaves the later windows the holds that can
// wait longest.
//
// When the observations' intervals share a point, the window is a single
// point t, and it is put as late as it may be: no later than any of them
// returns or any later window's observations return, and not so late that
// more than k holds returned before it. A later t lets more holds be
// sent, from which those with the earliest returns are taken; it adds no
// hold that must take effect which these would not include. At the
// earliest point, a hold sent early that returned late could be taken in
// place of one sent just after that returned at once, and a linearizable
// history refused (TestCheckStockHistoryTakesTheHoldThatReturnedFirst).
// TestCheckStockHistoryAgreesWithPorcupine holds this against porcupine.
func CheckStockHistory(stock int64, ops []porcupine.Operation) error {
	type window struct {
		taken     int64 // D in the window
		call, ret int64 // latest call, earliest return of its observations
	}
	type hold struct{ call, ret int64 }
	var holds []hold
	byTaken := map[int64]*window{}
	for _, op := range ops {
		in, out := op.Input.(StockInput), op.Output.(StockOutput)
		if in.Hold && out.Status == http.StatusCreated {
			holds = append(holds, hold{op.Call, op.Return})
			continue
		}
		taken := stock // a refusal saw none left
		if !in.Hold {
			taken = stock - out.Available
		}
		w := byTaken[taken]
		if w == nil {
			w = &window{taken: taken, call: op.Call, ret: op.Return}
			byTaken[taken] = w
		}
		w.call, w.ret = max(w.call, op.Call), min(w.ret, op.Return)
	}
	if int64(len(holds)) > stock {
		return fmt.Errorf("%d holds of one unit took effect on a stock of %d", len(holds), stock)
	}
	windows := slices.SortedFunc(maps.Values(byTaken), func(a, b *window) int { return cmp.Compare(a.taken, b.taken) })
	// returnedBy[i] is the earliest return among the observations of the
	// windows after the i-th: no window may end later.
	returnedBy := make([]int64, len(windows))
	later := int64(math.MaxInt64)
	for i := len(windows) - 1; i >= 0; i-- {
		returnedBy[i] = later
		later = min(later, windows[i].ret)
	}
	// Holds in the order they were sent; those sent and not yet placed
	// wait by return, and all not yet placed are kept by return too.
	slices.SortFunc(holds, func(a, b hold) int { return cmp.Compare(a.call, b.call) })
	byReturn := func(a, b hold) int { return cmp.Compare(a.ret, b.ret) }
	unplaced := slices.SortedFunc(slices.Values(holds), byReturn)
	var (
		placed  int64
		end     int64 = math.MinInt64 // of the previous window
		sent    int
		waiting []hold
	)
	for i, w := range windows {
		seen := stock - w.taken
		need := w.taken - placed
		switch {
		case w.taken < 0 || w.taken > int64(len(holds)):
			return fmt.Errorf("%d units seen available; %d holds took effect on a stock of %d", seen, len(holds), stock)
		case w.ret < end:
			return historyError(w.ret, end, "%d units seen available, returning at %d ns, before %d units had stopped being seen at %d ns",
				seen, w.ret, stock-placed, end)
		}
		x, y := w.ret, max(w.call, end)
		if w.call <= w.ret {
			// A point: where its bounds cross, no point will do, and the
			// checks below or a later window's say why.
			t := min(w.ret, returnedBy[i])
			if int64(len(unplaced)) > need {
				t = min(t, unplaced[need].ret)
			}
			x = max(t, w.call, end)
			y = x
		}
		for ; sent < len(holds) && holds[sent].call <= x; sent++ {
			j, _ := slices.BinarySearchFunc(waiting, holds[sent], byReturn)
			waiting = slices.Insert(waiting, j, holds[sent])
		}
		if int64(len(waiting)) < need {
			return historyError(x, x, "%d units seen available by %d ns, before %d holds had been sent", seen, x, w.taken)
		}
		// Holds that returned before the window ends took effect before
		// it starts.
		if j := slices.IndexFunc(holds[sent:], func(h hold) bool { return h.ret < y }); j >= 0 {
			return historyError(x, y, "%d units seen available from %d ns to %d ns, but a hold sent at %d ns returned 201 at %d ns",
				seen, x, y, holds[sent+j].call, holds[sent+j].ret)
		}
		due, _ := slices.BinarySearchFunc(waiting, y, func(h hold, y int64) int { return cmp.Compare(h.ret, y) })
		if int64(due) > need {
			return historyError(y, y, "%d units seen available at %d ns, after %d holds had returned 201", seen, y, placed+int64(due))
		}
		for _, h := range waiting[:need] {
			j, _ := slices.BinarySearchFunc(unplaced, h, byReturn)
			for unplaced[j] != h {
				j++
			}
			unplaced = slices.Delete(unplaced, j, j+1)
		}
		waiting = waiting[need:]
		placed, end = w.taken, y
	}
	return nil
}

// StockHistoryError says why a history is not linearizable and around
// which times, on the history's clock, so that the operations there can
// be shown (Around).
type StockHistoryError struct {
	Reason   string
	From, To int64
}

func (e *StockHistoryError) Error() string { return e.Reason }

func historyError(from, to int64, format string, args ...any) error {
	return &StockHistoryError{Reason: fmt.Sprintf(format, args...), From: min(from, to), To: max(from, to)}
}

// Around lists, by call time, the operations of ops whose interval comes
// within margin of the times e names: which answer each client had, sent
// and returned when. A hold whose outcome was looked up afterwards shows
// no return.
func (e *StockHistoryError) Around(ops []porcupine.Operation, margin time.Duration) string {
	from, to := e.From-int64(margin), e.To+int64(margin)
	var near []porcupine.Operation
	for _, op := range ops {
		if op.Call <= to && op.Return >= from {
			near = append(near, op)
		}
	}
	slices.SortFunc(near, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
	ms := func(ns int64) string { return strconv.FormatFloat(float64(ns)/1e6, 'f', 3, 64) + " ms" }
	var b strings.Builder
	for _, op := range near {
		ret := "no return (outcome looked up)"
		if op.Return != math.MaxInt64 {
			ret = "returned " + ms(op.Return)
		}
		fmt.Fprintf(&b, "client %d: %s, called %s, %s\n", op.ClientId, AvailableStock.DescribeOperation(op.Input, op.Output), ms(op.Call), ret)
	}
	return b.String()
}

// AssertLinearizable fails t unless the history ops of holds and reads of
// a product of stock units is linearizable; with the reason, it logs the
// operations within 20 ms of the times the reason names.
func AssertLinearizable(t testing.TB, stock int64, ops []porcupine.Operation) {
	t.Helper()
	err := CheckStockHistory(stock, ops)
	if err == nil {
		return
	}
	t.Errorf("the history of %d operations is not linearizable: %v", len(ops), err)
	if he, ok := errors.AsType[*StockHistoryError](err); ok {
		t.Logf("the operations around it:\n%s", he.Around(ops, 20*time.Millisecond))
	}
}
