package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"flashsale"
	"flashsale/actors"
	"flashsale/httpapi"
	"flashsale/store"
)

// followEvery is how often `events --follow` looks for new events.
const followEvery = 250 * time.Millisecond

// errCheckFailed ends `flashsale check` with exit code 1.
var errCheckFailed = errors.New("check found disagreements")

// printEvents is `flashsale events`: a product's journal, one line per
// event with the counters before and after it.
func printEvents(ctx context.Context, cfg config, log zerolog.Logger, std stdio) error {
	ec := cfg.Events
	if ec.Product == 0 {
		return &settingError{"--product", errors.New("events needs the product whose journal to print")}
	}
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	after := ec.From - 1
	var before *flashsale.Event
	if after > 0 {
		prev, err := db.Events(ctx, ec.Product, after-1, 1)
		if err != nil {
			return err
		}
		if len(prev) == 1 {
			before = &prev[0]
		}
	}
	out := bufio.NewWriter(std.out)
	defer out.Flush()
	var lines <-chan string
	if ec.Step {
		lines = readLines(std.in)
	}
	if !ec.JSON {
		fmt.Fprintln(out, eventHeader)
	}
	printed := false
	for {
		events, err := db.Events(ctx, ec.Product, after, 500)
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: not a failure
			}
			return err
		}
		if len(events) == 0 && !printed && after == ec.From-1 {
			if _, err := db.LoadProduct(ctx, ec.Product); err != nil {
				return err
			}
		}
		for i := range events {
			e := events[i]
			if ec.JSON {
				line, _ := json.Marshal(httpapi.EventBody(e))
				fmt.Fprintf(out, "%s\n", line)
			} else {
				fmt.Fprintln(out, eventLine(before, e))
			}
			before, after, printed = &events[i], e.Seq, true
			if ec.Step {
				out.Flush()
				if quit := waitForEnter(ctx, lines); quit {
					return nil
				}
			}
		}
		if len(events) > 0 {
			continue
		}
		if !ec.Follow {
			return nil
		}
		out.Flush()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followEvery):
		}
	}
}

// readLines delivers the lines of r until it ends. It reads in a goroutine
// of its own, so that a wait for Enter can also end with Ctrl-C; the
// goroutine ends with the process.
func readLines(r io.Reader) <-chan string {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// waitForEnter waits for a line; q, the end of input or an interrupt quits.
func waitForEnter(ctx context.Context, lines <-chan string) (quit bool) {
	select {
	case line, ok := <-lines:
		return !ok || strings.TrimSpace(line) == "q"
	case <-ctx.Done():
		return true
	}
}

// Column widths of `flashsale events`. Counters before→after take up to
// 8 digits each way before a column shifts.
const (
	seqWidth     = 7
	idWidth      = 10
	keyWidth     = 20
	qtyWidth     = 9
	counterWidth = 18
	reasonWidth  = 14 // payment_window
)

var (
	eventHeader = fmt.Sprintf("%*s  %-24s  %-15s %*s %*s  %-*s %*s %*s %*s %*s %*s  %-*s  %s",
		seqWidth, "SEQ", "TIME", "KIND", idWidth, "HOLD", idWidth, "ORDER", keyWidth, "KEY", qtyWidth, "QTY",
		counterWidth, "AVAILABLE", counterWidth, "HELD", counterWidth, "AWAITING", counterWidth, "PAID", reasonWidth, "REASON", "NODE")
)

// eventLine formats an event in the columns of eventHeader, counters as
// before→after. fmt pads by characters, so keys in any script line up.
func eventLine(before *flashsale.Event, e flashsale.Event) string {
	var b flashsale.Counters
	if before != nil {
		b = before.Counters
	}
	a := e.Counters
	change := func(from, to int64) string {
		if before == nil {
			return fmt.Sprintf("→%d", to)
		}
		return fmt.Sprintf("%d→%d", from, to)
	}
	key := []rune(e.IdempotencyKey)
	if len(key) > keyWidth {
		key = append(key[:keyWidth-1], '…')
	}
	return fmt.Sprintf("%*d  %-24s  %-15s %*s %*s  %-*s %*d %*s %*s %*s %*s  %-*s  %s",
		seqWidth, e.Seq, e.At.UTC().Format("2006-01-02T15:04:05.000Z"), e.Kind,
		idWidth, orDash(e.HoldID), idWidth, orDash(e.OrderID), keyWidth, dashIfEmpty(string(key)), qtyWidth, e.Qty,
		counterWidth, change(b.Available(), a.Available()), counterWidth, change(b.Held, a.Held),
		counterWidth, change(b.AwaitingPayment, a.AwaitingPayment), counterWidth, change(b.Paid, a.Paid),
		reasonWidth, dashIfEmpty(e.Reason), dashIfEmpty(e.Node))
}

func orDash(id int64) string {
	if id == 0 {
		return "-"
	}
	return fmt.Sprint(id)
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// check is `flashsale check`: for every product it replays the journal
// from seq 1 and compares the result with the product row, and compares
// the row with what the holds and orders tables add up to.
func check(ctx context.Context, cfg config, log zerolog.Logger, std stdio) error {

	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	ids, err := db.ProductIDs(ctx)
	if err != nil {
		return err
	}
	failed := 0
	for _, id := range ids {
		problems, events, err := checkProduct(ctx, db, id)
		if err != nil {
			return err
		}
		if len(problems) == 0 {
			fmt.Fprintf(std.out, "product %d: ok (%d events)\n", id, events)
			continue
		}
		failed++
		fmt.Fprintf(std.out, "product %d: %d problems\n", id, len(problems))
		for _, p := range problems {
			fmt.Fprintf(std.out, "  %s\n", p)
		}
	}
	fmt.Fprintf(std.out, "%d products checked, %d with problems\n", len(ids), failed)
	if failed > 0 {
		return errCheckFailed
	}
	return nil
}

// checkProduct lists what disagrees for one product.
func checkProduct(ctx context.Context, db *store.DB, id int64) (problems []string, events int, err error) {
	var journal []flashsale.Event
	for after := int64(0); ; {
		page, err := db.Events(ctx, id, after, 1000)
		if err != nil {
			return nil, 0, err
		}
		if len(page) == 0 {
			break
		}
		journal = append(journal, page...)
		after = page[len(page)-1].Seq
	}
	replayed, problems := flashsale.Replay(journal)
	tally, err := db.Tally(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if len(journal) == 0 {
		problems = append(problems, "no journal")
	} else if replayed != tally.Row {
		problems = append(problems, fmt.Sprintf("journal replays to %+v, the product row says %+v", replayed, tally.Row))
	}
	if tally.Tables != tally.Row {
		problems = append(problems, fmt.Sprintf("holds and orders add up to %+v, the product row says %+v", tally.Tables, tally.Row))
	}
	if tally.Row.Available() < 0 {
		problems = append(problems, fmt.Sprintf("oversold: available %d", tally.Row.Available()))
	}
	return problems, len(journal), nil
}

// releaseExpired is `flashsale release-expired`: it releases the holds and
// unpaid orders past their time. It runs each due product's own actor
// logic, so the releases are journalled and committed like a server's:
// under the product row's lock, bumping its version, so that a server
// running on the same database notices and reloads.
func releaseExpired(ctx context.Context, cfg config, log zerolog.Logger, std stdio) error {
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	ids, err := db.DueProducts(ctx, time.Now())
	if err != nil {
		return err
	}
	metrics := actors.NewMetrics(prometheus.NewRegistry())
	service := actors.NewService(actorConfig(cfg, metrics), db, log)
	for _, id := range ids {
		// Loading a product's actor releases at once what is due.
		if _, err := service.Product(ctx, id); err != nil {
			_ = drainActors(service)
			return fmt.Errorf("product %d: %w", id, err)
		}
	}
	drainCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := service.Drain(drainCtx); err != nil {
		return err
	}
	fmt.Fprintf(std.out, "released %d holds and %d unpaid orders in %d products\n",
		counted(metrics.HoldsExpired), counted(metrics.OrdersCancelled.WithLabelValues(string(flashsale.CancelledByPaymentWindow))), len(ids))
	return nil
}

// counted reads a counter's value.
func counted(c prometheus.Counter) int64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return int64(m.GetCounter().GetValue())
}
