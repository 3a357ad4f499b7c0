package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"flashsale"
	"flashsale/actors"
	"flashsale/actors/actorstest"
	"flashsale/httpapi"
	"flashsale/httpapi/httpapitest"
	"flashsale/store/storetest"
)

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
	// Two batches in flight, one behind the other: the harder case for
	// what readers may see (the default is one).
	cfg.Pipeline = 2
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

	h := httpapitest.NewHistory()
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
				in := httpapitest.StockInput{Hold: true, Key: fmt.Sprintf("lin-%d", i)}
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/holds", strings.NewReader(body))
				req.Header.Set("Idempotency-Key", in.Key)
				call := h.Now()
				resp, err := client.Do(req)
				var out httpapitest.StockOutput
				if err == nil {
					out.Status = resp.StatusCode
					resp.Body.Close()
					out.Known = out.Status == http.StatusCreated || out.Status == http.StatusConflict
				}
				if !out.Known && err == nil && out.Status != http.StatusServiceUnavailable {
					t.Errorf("hold: status %d; the server logged:\n%s", out.Status, logs.String())
				}
				h.Add(c, in, call, out)
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
				call := h.Now()
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
					h.Add(holders+c, httpapitest.StockInput{}, call, httpapitest.StockOutput{Status: http.StatusOK, Available: got.Available, Known: true})
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

	unknown, err := h.Resolve(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ops := h.Ops()
	var created, refused int
	for _, op := range ops {
		if in, out := op.Input.(httpapitest.StockInput), op.Output.(httpapitest.StockOutput); in.Hold && out.Status == http.StatusCreated {
			created++
		} else if in.Hold {
			refused++
		}
	}
	t.Logf("%d operations: %d holds took effect, %d refused, %d of unknown outcome before their keys were looked up, %d reads",
		len(ops), created, refused, unknown, len(ops)-created-refused)
	if faults == nil && (created != stock || refused != holds-stock) {
		t.Errorf("%d holds created and %d refused; want %d and %d", created, refused, stock, holds-stock)
	}
	httpapitest.AssertLinearizable(t, stock, ops)
}
