package bench

import (
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// maxLatency is the largest latency the histograms tell apart; larger ones
// are recorded as this.
const maxLatency = time.Minute

// stats records latencies and statuses. Workers share it in shards, each
// with its own lock, so that recording is not a point of contention and
// the progress line can still read it while the run goes on. Few shards
// are enough (a lock is held for a tenth of a microsecond) and keep the
// progress line's merge of them, each second, cheap.
//
// Each second of the run is also kept, for the report: each shard counts
// the second it is in, and moves it into seconds when its answers begin
// to fall into another one.
type stats struct {
	start      time.Time
	lastSecond int // answers after the end count in the run's last second
	shards     []*statShard

	mu      sync.Mutex // guards seconds
	seconds []*secondStats
}

type statShard struct {
	mu     sync.Mutex
	ops    map[string]*opStats
	second int // which second cur counts
	cur    *secondStats
}

// secondStats is one second of the run, all operations together: the
// answers that came in it and their latency.
type secondStats struct {
	hist   *hdrhistogram.Histogram // latency in microseconds, 2 digits
	errors int64
}

func newSecondStats() *secondStats {
	// Two significant digits: a second's percentiles to 1 %, at a tenth
	// of the memory of the run's histograms.
	return &secondStats{hist: hdrhistogram.New(1, maxLatency.Microseconds(), 2)}
}

// opStats is what one operation got.
type opStats struct {
	hist     *hdrhistogram.Histogram // latency in microseconds
	max      int64                   // exact largest latency, microseconds
	requests int64
	errors   int64 // no answer, or not the answer the operation expects
	noAnswer int64
	statuses map[int]int64
}

func newOpStats() *opStats {
	return &opStats{hist: hdrhistogram.New(1, maxLatency.Microseconds(), 3), statuses: map[int]int64{}}
}

func (o *opStats) merge(from *opStats) {
	o.hist.Merge(from.hist)
	o.max = max(o.max, from.max)
	o.requests += from.requests
	o.errors += from.errors
	o.noAnswer += from.noAnswer
	for s, n := range from.statuses {
		o.statuses[s] += n
	}
}

const statShards = 8

func newStats(connections int, start time.Time, d time.Duration) *stats {
	st := &stats{
		start:      start,
		lastSecond: max(int((d+time.Second-1)/time.Second)-1, 0),
		shards:     make([]*statShard, min(connections, statShards)),
	}
	for i := range st.shards {
		st.shards[i] = &statShard{ops: map[string]*opStats{}, cur: newSecondStats()}
	}
	return st
}

// record counts one request of op that began (or was due) at t.base; ok
// is whether its answer is one the operation expects.
func (st *stats) record(t turn, op string, a answer, ok bool) {
	now := time.Now()
	us := min(max(now.Sub(t.base).Microseconds(), 1), maxLatency.Microseconds())
	second := min(int(now.Sub(st.start)/time.Second), st.lastSecond)
	sh := st.shards[t.worker%len(st.shards)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if second != sh.second {
		st.keepSecond(sh)
		sh.second = second
	}
	_ = sh.cur.hist.RecordValue(us)
	if !ok {
		sh.cur.errors++
	}
	o := sh.ops[op]
	if o == nil {
		o = newOpStats()
		sh.ops[op] = o
	}
	_ = o.hist.RecordValue(us)
	o.max = max(o.max, us)
	o.requests++
	if a.err != nil {
		o.noAnswer++
	} else {
		o.statuses[a.status]++
	}
	if !ok {
		o.errors++
	}
}

// keepSecond moves the second a shard counted into seconds.
func (st *stats) keepSecond(sh *statShard) {
	if sh.cur.hist.TotalCount() == 0 {
		return
	}
	st.mu.Lock()
	for len(st.seconds) <= sh.second {
		st.seconds = append(st.seconds, newSecondStats())
	}
	into := st.seconds[sh.second]
	into.hist.Merge(sh.cur.hist)
	into.errors += sh.cur.errors
	st.mu.Unlock()
	sh.cur.hist.Reset()
	sh.cur.errors = 0
}

// Second is one second of a run, all operations together; the last
// second also holds the answers to the requests in flight at the end.
type Second struct {
	N                 int     // which second of the run, from 1
	Requests          int64   // answered in it, or given up on
	RequestsPerSecond float64 // Requests over the part of the second the run lasted
	Errors            int64
	P50, P99          float64 // milliseconds
}

// timeline is every second of the run that ended after elapsed, once the
// workers are done.
func (st *stats) timeline(elapsed time.Duration) []Second {
	for _, sh := range st.shards {
		sh.mu.Lock()
		st.keepSecond(sh)
		sh.mu.Unlock()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	seconds := make([]Second, len(st.seconds))
	for i, s := range st.seconds {
		n := s.hist.TotalCount()
		// The last second is short when the run ran out of work early,
		// or the duration is not whole seconds.
		length := min(max(elapsed-time.Duration(i)*time.Second, time.Millisecond), time.Second)
		seconds[i] = Second{N: i + 1, Requests: n, RequestsPerSecond: float64(n) / length.Seconds(), Errors: s.errors,
			P50: ms(s.hist.ValueAtQuantile(50)), P99: ms(s.hist.ValueAtQuantile(99))}
	}
	return seconds
}

// statsSnapshot is every shard merged, per operation.
type statsSnapshot map[string]*opStats

func (st *stats) snapshot() statsSnapshot {
	snap := statsSnapshot{}
	for _, sh := range st.shards {
		sh.mu.Lock()
		for op, o := range sh.ops {
			if snap[op] == nil {
				snap[op] = newOpStats()
			}
			snap[op].merge(o)
		}
		sh.mu.Unlock()
	}
	return snap
}

func (snap statsSnapshot) total() *opStats {
	all := newOpStats()
	for _, o := range snap {
		all.merge(o)
	}
	return all
}

func (snap statsSnapshot) summary(scenario string, elapsed time.Duration) Load {
	all := snap.total()
	s := Load{Scenario: scenario, Elapsed: elapsed.Round(time.Millisecond).String(), Op: all.summary("", elapsed),
		Percentiles: all.percentiles()}
	ops := make([]string, 0, len(snap))
	for op := range snap {
		ops = append(ops, op)
	}
	slices.SortFunc(ops, func(a, b string) int { return slices.Index(opsInOrder, a) - slices.Index(opsInOrder, b) })
	for _, op := range ops {
		s.Operations = append(s.Operations, snap[op].summary(op, elapsed))
	}
	return s
}

func (o *opStats) summary(name string, elapsed time.Duration) Op {
	s := Op{
		Name: name, Requests: o.requests, Errors: o.errors, NoAnswer: o.noAnswer, Statuses: map[string]int64{},
		Latency: Latency{
			P50: ms(o.hist.ValueAtQuantile(50)), P90: ms(o.hist.ValueAtQuantile(90)),
			P99: ms(o.hist.ValueAtQuantile(99)), Max: ms(o.max),
		},
	}
	if elapsed > 0 {
		s.RequestsPerSecond = float64(o.requests) / elapsed.Seconds()
	}
	for code, n := range o.statuses {
		s.Statuses[strconv.Itoa(code)] = n
	}
	return s
}

// percentiles is the latency percentile curve, in steps of a tenth of a
// nine (90 %, 99 %, 99.9 % …) up to what the count can tell apart, and the
// maximum.
func (o *opStats) percentiles() []Percentile {
	h := o.hist
	if h.TotalCount() == 0 {
		return nil
	}
	nines := math.Log10(float64(h.TotalCount()))
	var curve []Percentile
	for x := 0.0; x < nines; x += 0.1 {
		q := 100 * (1 - math.Pow(10, -x))
		curve = append(curve, Percentile{Percentile: q, Latency: ms(h.ValueAtQuantile(q))})
	}
	return append(curve, Percentile{Percentile: 100, Latency: ms(o.max)})
}

func ms(us int64) float64 { return float64(us) / 1000 }
