package httpapitest

import (
	"math"
	"math/rand/v2"
	"net/http"
	"testing"

	"github.com/anishathalye/porcupine"
)

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
