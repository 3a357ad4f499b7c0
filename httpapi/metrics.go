package httpapi

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the HTTP layer's Prometheus metrics. Routes are labelled by
// their pattern, never by the raw path, so that the label set is bounded.
type metrics struct {
	requests          *prometheus.CounterVec   // by route and status
	duration          *prometheus.HistogramVec // by route
	webhooks          prometheus.Counter
	webhooksBadSigned prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flashsale_http_requests_total",
			Help: "HTTP requests, by route pattern and status."}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "flashsale_http_request_duration_seconds",
			Help: "HTTP request duration, by route pattern.", Buckets: prometheus.ExponentialBuckets(1e-4, 2, 16)},
			[]string{"route"}),
		webhooks: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_webhooks_received_total",
			Help: "Payment webhook deliveries received."}),
		webhooksBadSigned: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_webhooks_rejected_signature_total",
			Help: "Payment webhook deliveries refused for a missing or wrong signature."}),
	}
	reg.MustRegister(m.requests, m.duration, m.webhooks, m.webhooksBadSigned)
	return m
}

// routeSeries are the request series of one route, kept at hand: a
// labelled lookup hashes the label values and takes a lock on every
// request. A series is made when its first request is counted, as the
// lookup would make it, so /metrics shows the same.
type routeSeries struct {
	route    string
	metrics  *metrics
	mu       sync.Mutex                     // guards making a series
	byStatus atomic.Pointer[[]statusSeries] // replaced whole, never changed
}

type statusSeries struct {
	status   int
	requests prometheus.Counter
	duration prometheus.Observer
}

func (m *metrics) route(route string) *routeSeries {
	rs := &routeSeries{route: route, metrics: m}
	rs.byStatus.Store(&[]statusSeries{})
	return rs
}

// observe counts a request that was answered with status in took.
func (rs *routeSeries) observe(status int, took time.Duration) {
	series, ok := rs.find(status)
	if !ok {
		rs.mu.Lock()
		if series, ok = rs.find(status); !ok {
			series = statusSeries{status: status,
				requests: rs.metrics.requests.WithLabelValues(rs.route, strconv.Itoa(status)),
				duration: rs.metrics.duration.WithLabelValues(rs.route)}
			list := append(slices.Clip(*rs.byStatus.Load()), series)
			rs.byStatus.Store(&list)
		}
		rs.mu.Unlock()
	}
	series.requests.Inc()
	series.duration.Observe(took.Seconds())
}

func (rs *routeSeries) find(status int) (statusSeries, bool) {
	for _, s := range *rs.byStatus.Load() {
		if s.status == status {
			return s, true
		}
	}
	return statusSeries{}, false
}
