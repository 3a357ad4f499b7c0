package httpapi

import (
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
