package httpapitest

import (
	"cmp"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// TestCheckStockHistoryAgreesWithPorcupine runs both checkers on many small
// random histories and requires the same verdict. Half of them are drawn
// at random; the other half are made like a cluster's under load: each
// operation takes effect at a random point of its interval, some holds
// return long after, so which holds took effect first is a real choice,
// and one answer in two is then changed.
func TestCheckStockHistoryAgreesWithPorcupine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var legal, illegal [2]int
	for i := range 40000 {
		var (
			stock int64
			ops   []porcupine.Operation
		)
		made := i % 2
		if made == 1 {
			stock, ops = madeHistory(rng)
		} else {
			stock, ops = randomHistory(rng)
		}
		agree(t, stock, ops)
		if CheckStockHistory(stock, ops) == nil {
			legal[made]++
		} else {
			illegal[made]++
		}
	}
	t.Logf("legal and illegal histories: %d and %d drawn at random, %d and %d made", legal[0], illegal[0], legal[1], illegal[1])
	for made := range 2 {
		if legal[made] < 1000 || illegal[made] < 1000 {
			t.Fatalf("%d legal and %d illegal histories: too few of one kind to compare", legal[made], illegal[made])
		}
	}
}

// randomHistory draws a history of up to eight operations at random.
func randomHistory(rng *rand.Rand) (int64, []porcupine.Operation) {
	stock := int64(rng.IntN(4))
	var ops []porcupine.Operation
	for c := range 2 + rng.IntN(7) {
		call := int64(rng.IntN(20))
		op := porcupine.Operation{ClientId: c, Call: call, Return: call + 1 + int64(rng.IntN(10))}
		switch rng.IntN(5) {
		case 0:
			op.Input, op.Output = StockInput{}, StockOutput{Status: http.StatusOK, Available: int64(rng.IntN(4)), Known: true}
		case 1:
			op.Input, op.Output = StockInput{Hold: true}, StockOutput{Status: http.StatusConflict, Known: true}
		case 2: // an outcome learned afterwards
			op.Input, op.Output = StockInput{Hold: true}, StockOutput{Status: http.StatusCreated, Known: true}
			op.Return = math.MaxInt64
		default:
			op.Input, op.Output = StockInput{Hold: true}, StockOutput{Status: http.StatusCreated, Known: true}
		}
		ops = append(ops, op)
	}
	return stock, ops
}

// madeHistory makes a history of up to ten operations that is
// linearizable, each taking effect at a random point of its interval, and
// then, one time in two, changes one answer.
func madeHistory(rng *rand.Rand) (int64, []porcupine.Operation) {
	stock := int64(1 + rng.IntN(5))
	type made struct {
		op    porcupine.Operation
		point int64
	}
	var ms []made
	for c := range 4 + rng.IntN(7) {
		call := int64(rng.IntN(30))
		took := 1 + int64(rng.IntN(8))
		if rng.IntN(4) == 0 {
			took = 20 + int64(rng.IntN(60))
		}
		m := made{op: porcupine.Operation{ClientId: c, Call: call, Return: call + took, Input: StockInput{Hold: rng.IntN(3) > 0}},
			point: call + rng.Int64N(took+1)}
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b made) int { return cmp.Compare(a.point, b.point) })
	left := stock
	ops := make([]porcupine.Operation, 0, len(ms))
	for _, m := range ms {
		switch {
		case !m.op.Input.(StockInput).Hold:
			m.op.Output = StockOutput{Status: http.StatusOK, Available: left, Known: true}
		case left > 0:
			left--
			m.op.Output = StockOutput{Status: http.StatusCreated, Known: true}
			if rng.IntN(8) == 0 { // an outcome learned afterwards
				m.op.Return = math.MaxInt64
			}
		default:
			m.op.Output = StockOutput{Status: http.StatusConflict, Known: true}
		}
		ops = append(ops, m.op)
	}
	if rng.IntN(2) == 0 {
		op := &ops[rng.IntN(len(ops))]
		out := op.Output.(StockOutput)
		switch {
		case out.Status == http.StatusOK:
			out.Available += int64(rng.IntN(2)*2 - 1)
		case out.Status == http.StatusCreated:
			out.Status = http.StatusConflict
		default:
			out.Status = http.StatusCreated
		}
		op.Output = out
	}
	return stock, ops
}

// TestCheckStockHistoryTakesTheHoldThatReturnedFirst is the smallest case
// of what a three-node cluster's history showed: a read that needs one
// hold to have taken effect while the hold sent first has not returned,
// and two sent just after it that return at once. The read's point must
// come after those two were sent, so that one of them, not the slow one,
// is the hold it saw; the next read then sees the other.
func TestCheckStockHistoryTakesTheHoldThatReturnedFirst(t *testing.T) {
	read := func(client int, call, ret, available int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: StockInput{}, Call: call, Return: ret,
			Output: StockOutput{Status: http.StatusOK, Available: available, Known: true}}
	}
	hold := func(client int, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: StockInput{Hold: true}, Call: call, Return: ret,
			Output: StockOutput{Status: http.StatusCreated, Known: true}}
	}
	ops := []porcupine.Operation{
		read(0, 1, 10, 2), // one taken
		hold(1, 2, 100),   // sent first, returns last
		hold(2, 3, 5),
		hold(3, 3, 6),
		read(4, 7, 8, 1), // two taken: both quick holds had returned
	}
	agree(t, 3, ops)
	if err := CheckStockHistory(3, ops); err != nil {
		t.Fatalf("a linearizable history refused: %v", err)
	}
}

// agree fails the test unless CheckStockHistory and porcupine give the
// same verdict on ops.
func agree(t *testing.T, stock int64, ops []porcupine.Operation) {
	t.Helper()
	model := AvailableStock
	model.Init = func() any { return stock }
	want := porcupine.CheckOperations(model, ops)
	err := CheckStockHistory(stock, ops)
	if (err == nil) != want {
		for _, op := range ops {
			t.Logf("client %d [%d, %d] %+v %+v", op.ClientId, op.Call, op.Return, op.Input, op.Output)
		}
		t.Fatalf("stock %d: porcupine says linearizable: %v; CheckStockHistory: %v", stock, want, err)
	}
}

// TestStockHistoryErrorShowsTheOperationsAroundIt: a refused history's
// error names the times of the conflict, and Around lists the operations
// near them, not the others.
func TestStockHistoryErrorShowsTheOperationsAroundIt(t *testing.T) {
	const ms = int64(time.Millisecond)
	read := func(client int, call, available int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: StockInput{}, Call: call * ms, Return: (call + 1) * ms,
			Output: StockOutput{Status: http.StatusOK, Available: available, Known: true}}
	}
	ops := []porcupine.Operation{
		read(0, 1, 2),
		{ClientId: 1, Input: StockInput{Hold: true}, Call: 500 * ms, Return: 501 * ms, Output: StockOutput{Status: http.StatusCreated, Known: true}},
		read(2, 510, 2), // sees the unit the hold before it took
		read(3, 900, 1),
	}
	err := CheckStockHistory(2, ops)
	he, ok := errors.AsType[*StockHistoryError](err)
	if !ok {
		t.Fatalf("CheckStockHistory: %v; want a *StockHistoryError", err)
	}
	around := he.Around(ops, 20*time.Millisecond)
	for _, want := range []string{
		"client 0: read → 2, called 1.000 ms, returned 2.000 ms",
		"client 1: hold → 201, called 500.000 ms, returned 501.000 ms",
		"client 2: read → 2, called 510.000 ms, returned 511.000 ms",
	} {
		if !strings.Contains(around, want) {
			t.Errorf("Around (%v):\n%s\nwant a line %q", err, around, want)
		}
	}
	if strings.Contains(around, "client 3") {
		t.Errorf("Around (%v):\n%s\nlists the read at 900 ms, far from the conflict", err, around)
	}
}
