package bench

import (
	"fmt"
	"io"
	"slices"
	"strconv"
)

// shownProblems is how many problems of the books the table prints.
const shownProblems = 20

// Summary is the result of a run, as --json prints it.
type Summary struct {
	Target      string  `json:"target"`
	Connections int     `json:"connections"`
	Duration    string  `json:"duration"`
	OpenLoop    bool    `json:"open_loop"`
	Rate        float64 `json:"rate"` // iterations per second in an open loop; 0 closed
	Load
	Books   Books    `json:"books"`
	Ceiling *Ceiling `json:"ceiling,omitempty"`
}

// Load is one run of a scenario.
type Load struct {
	Scenario string `json:"scenario"`
	Elapsed  string `json:"elapsed"`
	Op
	// Unsent counts the iterations an open loop scheduled within the
	// duration but never sent: every connection was busy. Non-zero means
	// the server did not keep up with the rate.
	Unsent     int64 `json:"unsent,omitempty"`
	Operations []Op  `json:"operations"`
	// With --targets: how the connections and their work went to each.
	Targets []TargetLoad `json:"targets,omitempty"`

	// For --report, not in --json: each second of the run, and the
	// latency percentile curve of all operations together.
	Seconds     []Second     `json:"-"`
	Percentiles []Percentile `json:"-"`
}

// Percentile is a point of the latency percentile curve.
type Percentile struct {
	Percentile float64 // 0 to 100
	Latency    float64 // milliseconds
}

// Op is what one operation, or all of them together, got.
type Op struct {
	Name              string           `json:"name,omitempty"` // empty for all operations together
	Requests          int64            `json:"requests"`
	RequestsPerSecond float64          `json:"requests_per_second"`
	Errors            int64            `json:"errors"`
	NoAnswer          int64            `json:"no_answer"`
	Latency           Latency          `json:"latency_ms"`
	Statuses          map[string]int64 `json:"statuses"`
}

// Latency is in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// TargetLoad is one target's share of a run with --targets.
type TargetLoad struct {
	URL         string `json:"url"`
	Connections int    `json:"connections"`
	Iterations  int64  `json:"iterations"` // requests; checkout: buyers
}

// Ceiling is the run of the ceiling scenario that --compare asks for.
type Ceiling struct {
	Load
	Ratio float64 `json:"ratio"` // the scenario's requests/s ÷ the ceiling's
}

// print writes the summary as a table.
func (s Summary) print(w io.Writer) {
	fmt.Fprintf(w, "scenario %s against %s: %d connections, %s, %s (ran %s)\n\n", s.Scenario, s.Target, s.Connections, loopMode(s.Rate), s.Duration, s.Elapsed)
	s.Load.print(w)
	if s.Ceiling != nil {
		fmt.Fprintf(w, "\nceiling (GET /healthz, same client, ran %s):\n\n", s.Ceiling.Elapsed)
		s.Ceiling.Load.print(w)
		fmt.Fprintf(w, "\n%s ÷ ceiling: %.0f ÷ %.0f req/s = %.2f\n", s.Scenario, s.RequestsPerSecond, s.Ceiling.RequestsPerSecond, s.Ceiling.Ratio)
	}
	fmt.Fprintln(w)
	head, problems := s.booksLines()
	fmt.Fprintln(w, head)
	for _, p := range problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}

// booksLines is the check of the books in words: a headline, and the
// problems, at most shownProblems of them and a line for the rest.
func (s Summary) booksLines() (head string, problems []string) {
	b := s.Books
	switch {
	case !b.Checked:
		return "books: nothing to check (the scenario changes no stock)", nil
	case b.OK:
		head = fmt.Sprintf("books: ok: %d product(s), %d units taken = %d units told held", b.Products, b.TakenUnits, b.ToldUnits)
		if b.AmbiguousUnits > 0 {
			head += fmt.Sprintf(" (+ %d ambiguous answers allowed)", b.AmbiguousUnits)
		}
		if sc, _ := lookup(s.Scenario); sc.okNote != nil {
			head += sc.okNote(b)
		}
		return head, nil
	}
	head = fmt.Sprintf("books: MISMATCH: %d problem(s); %d product(s), %d units taken, %d units told held, %d ambiguous",
		len(b.Problems), b.Products, b.TakenUnits, b.ToldUnits, b.AmbiguousUnits)
	problems = slices.Clone(b.Problems[:min(len(b.Problems), shownProblems)])
	if len(b.Problems) > shownProblems {
		problems = append(problems, fmt.Sprintf("… and %d more", len(b.Problems)-shownProblems))
	}
	return head, problems
}

func (l Load) print(w io.Writer) {
	const row = "%-10s %10s %10s %8s %10s %10s %10s %10s\n"
	fmt.Fprintf(w, row, "operation", "requests", "req/s", "errors", "p50", "p90", "p99", "max")
	rows := l.Operations
	if len(rows) != 1 {
		rows = append(slices.Clone(rows), l.Op)
	}
	for _, o := range rows {
		if o.Name == "" {
			o.Name = "all"
		}
		fmt.Fprintf(w, row, o.Name, strconv.FormatInt(o.Requests, 10), fmt.Sprintf("%.0f", o.RequestsPerSecond),
			strconv.FormatInt(o.Errors, 10), fmtMs(o.Latency.P50), fmtMs(o.Latency.P90), fmtMs(o.Latency.P99), fmtMs(o.Latency.Max))
	}
	fmt.Fprintf(w, "\nstatus codes:")
	codes := make([]string, 0, len(l.Statuses))
	for c := range l.Statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		fmt.Fprintf(w, " %s×%d", c, l.Statuses[c])
	}
	if l.NoAnswer > 0 {
		fmt.Fprintf(w, " no-answer×%d", l.NoAnswer)
	}
	fmt.Fprintln(w)
	for _, t := range l.Targets {
		fmt.Fprintf(w, "target %s: %d connections, %d iterations\n", t.URL, t.Connections, t.Iterations)
	}
	if l.Unsent > 0 {
		fmt.Fprintf(w, "unsent: %d scheduled requests were never sent, every connection was busy: the server did not keep up with the rate\n", l.Unsent)
	}
}

// fmtLatency shows microseconds in a readable unit.
func fmtLatency(us int64) string { return fmtMs(ms(us)) }

func fmtMs(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.0fµs", v*1000)
	case v < 1000:
		return fmt.Sprintf("%.2fms", v)
	default:
		return fmt.Sprintf("%.2fs", v/1000)
	}
}
