package bench

import (
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
// the progress line can still read it while the run goes on.
type stats struct {
	shards []*statShard
}

type statShard struct {
	mu  sync.Mutex
	ops map[string]*opStats
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

func newStats(connections int) *stats {
	st := &stats{shards: make([]*statShard, min(connections, 32))}
	for i := range st.shards {
		st.shards[i] = &statShard{ops: map[string]*opStats{}}
	}
	return st
}

// record counts one request of op that began (or was due) at t.base; ok
// is whether its answer is one the operation expects.
func (st *stats) record(t turn, op string, a answer, ok bool) {
	us := min(max(time.Since(t.base).Microseconds(), 1), maxLatency.Microseconds())
	sh := st.shards[t.worker%len(st.shards)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
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
	s := Load{Scenario: scenario, Elapsed: elapsed.Round(time.Millisecond).String(), Op: all.summary("", elapsed)}
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

func ms(us int64) float64 { return float64(us) / 1000 }
