package actors

import (
	"errors"
	"flashsale"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the actors' Prometheus metrics. None has a per-product
// label: products are unbounded, and per-product detail is the journal's.
type Metrics struct {
	HoldsCreated         prometheus.Counter
	HoldsRejected        *prometheus.CounterVec // by reason
	HoldsExpired         prometheus.Counter
	OrdersCreated        prometheus.Counter
	OrdersPaid           prometheus.Counter
	OrdersCancelled      *prometheus.CounterVec // by reason
	OrdersRefundRequired prometheus.Counter
	WebhooksDeduplicated prometheus.Counter
	WebhooksPending      prometheus.Counter

	MessagesProcessed prometheus.Counter
	MailboxWait       prometheus.Histogram
	MailboxBacklog    prometheus.Gauge // messages sent and not yet received, all products
	LiveActors        prometheus.Gauge

	BatchSize        prometheus.Histogram
	CommitDuration   prometheus.Histogram
	CommitFailures   prometheus.Counter
	VersionConflicts prometheus.Counter
	// RefusalsAwaitingCommit counts refusals answered only once the
	// changes they were refused on had committed.
	RefusalsAwaitingCommit prometheus.Counter
}

// NewMetrics makes the actors' metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		HoldsCreated: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_holds_created_total",
			Help: "Holds committed."}),
		HoldsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flashsale_holds_rejected_total",
			Help: "Hold requests refused, by reason."}, []string{"reason"}),
		HoldsExpired: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_holds_expired_total",
			Help: "Holds released at their expiry."}),
		OrdersCreated: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_orders_created_total",
			Help: "Orders committed."}),
		OrdersPaid: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_orders_paid_total",
			Help: "Orders that became paid, revived ones included."}),
		OrdersCancelled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flashsale_orders_cancelled_total",
			Help: "Orders cancelled, by reason (webhook, payment_window)."}, []string{"reason"}),
		OrdersRefundRequired: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_orders_refund_required_total",
			Help: "Late payments for orders whose units were gone."}),
		WebhooksDeduplicated: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_webhooks_deduplicated_total",
			Help: "Webhook deliveries answered from an earlier delivery of the same key."}),
		WebhooksPending: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_webhooks_pending_total",
			Help: "Webhook deliveries recorded before their order existed."}),
		MessagesProcessed: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_actor_messages_processed_total",
			Help: "Requests the product actors took from their mailboxes."}),
		MailboxWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flashsale_actor_mailbox_wait_seconds",
			Help: "Time a request waited in its product actor's mailbox.", Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12)}),
		MailboxBacklog: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flashsale_actor_mailbox_backlog",
			Help: "Requests waiting in product actors' mailboxes, summed over products."}),
		LiveActors: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flashsale_actor_products_live",
			Help: "Product actors running."}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flashsale_batch_size",
			Help: "Journal events (state changes) per group commit.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		CommitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flashsale_batch_commit_seconds",
			Help: "Duration of a group commit transaction.", Buckets: prometheus.ExponentialBuckets(1e-4, 2, 14)}),
		CommitFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_batch_commit_failures_total",
			Help: "Group commits that failed, version conflicts included."}),
		VersionConflicts: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_batch_version_conflicts_total",
			Help: "Group commits refused because another writer changed the product (the FOR UPDATE backstop)."}),
		RefusalsAwaitingCommit: prometheus.NewCounter(prometheus.CounterOpts{Name: "flashsale_refusals_awaiting_commit_total",
			Help: "Refusals (insufficient stock, a stock cut) answered after the uncommitted changes they rest on committed."}),
	}
	reg.MustRegister(m.HoldsCreated, m.HoldsRejected, m.HoldsExpired, m.OrdersCreated, m.OrdersPaid, m.OrdersCancelled,
		m.OrdersRefundRequired, m.WebhooksDeduplicated, m.WebhooksPending, m.MessagesProcessed, m.MailboxWait,
		m.MailboxBacklog, m.LiveActors, m.BatchSize, m.CommitDuration, m.CommitFailures, m.VersionConflicts, m.RefusalsAwaitingCommit)
	return m
}

// committed counts what a committed batch changed, from its journal.
func (m *Metrics) committed(b *flashsale.Batch) {
	m.BatchSize.Observe(float64(len(b.Events)))
	for _, e := range b.Events {
		switch e.Kind {
		case flashsale.EventHoldCreated:
			m.HoldsCreated.Inc()
		case flashsale.EventHoldExpired:
			m.HoldsExpired.Inc()
		case flashsale.EventOrderCreated:
			m.OrdersCreated.Inc()
		case flashsale.EventOrderPaid, flashsale.EventOrderRevived:
			m.OrdersPaid.Inc()
		case flashsale.EventOrderCancelled:
			m.OrdersCancelled.WithLabelValues(e.Reason).Inc()
		case flashsale.EventRefundRequired:
			m.OrdersRefundRequired.Inc()
		}
	}
}

// holdRejected counts a refused hold request by the reason it was refused.
func (m *Metrics) holdRejected(err error) {
	reason := "other"
	switch {
	case errors.Is(err, flashsale.ErrInsufficientStock):
		reason = "insufficient_stock"
	case errors.Is(err, flashsale.ErrIdempotencyConflict):
		reason = "idempotency_conflict"
	case errors.Is(err, flashsale.ErrProductNotFound):
		reason = "product_not_found"
	case errors.Is(err, flashsale.ErrUnavailable):
		reason = "unavailable"
	}
	m.HoldsRejected.WithLabelValues(reason).Inc()
}
