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
	// Activations counts product actors started; OwnerMoves those
	// stopped because their product moved to another node of a cluster.
	Activations prometheus.Counter
	OwnerMoves  prometheus.Counter
}

// NewMetrics makes the actors' metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	var all []prometheus.Collector
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		all = append(all, c)
		return c
	}
	byReason := func(name, help string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"reason"})
		all = append(all, c)
		return c
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		all = append(all, g)
		return g
	}
	histogram := func(name, help string, buckets []float64) prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
		all = append(all, h)
		return h
	}
	m := &Metrics{
		HoldsCreated:           counter("flashsale_holds_created_total", "Holds committed."),
		HoldsRejected:          byReason("flashsale_holds_rejected_total", "Hold requests refused, by reason."),
		HoldsExpired:           counter("flashsale_holds_expired_total", "Holds released at their expiry."),
		OrdersCreated:          counter("flashsale_orders_created_total", "Orders committed."),
		OrdersPaid:             counter("flashsale_orders_paid_total", "Orders that became paid, revived ones included."),
		OrdersCancelled:        byReason("flashsale_orders_cancelled_total", "Orders cancelled, by reason (webhook, payment_window)."),
		OrdersRefundRequired:   counter("flashsale_orders_refund_required_total", "Late payments for orders whose units were gone."),
		WebhooksDeduplicated:   counter("flashsale_webhooks_deduplicated_total", "Webhook deliveries answered from an earlier delivery of the same key."),
		WebhooksPending:        counter("flashsale_webhooks_pending_total", "Webhook deliveries recorded before their order existed."),
		MessagesProcessed:      counter("flashsale_actor_messages_processed_total", "Requests the product actors took from their mailboxes."),
		MailboxWait:            histogram("flashsale_actor_mailbox_wait_seconds", "Time a request waited in its product actor's mailbox.", prometheus.ExponentialBuckets(1e-6, 4, 12)),
		MailboxBacklog:         gauge("flashsale_actor_mailbox_backlog", "Requests waiting in product actors' mailboxes, summed over products."),
		LiveActors:             gauge("flashsale_actor_products_live", "Product actors running."),
		BatchSize:              histogram("flashsale_batch_size", "Journal events (state changes) per group commit.", prometheus.ExponentialBuckets(1, 2, 12)),
		CommitDuration:         histogram("flashsale_batch_commit_seconds", "Duration of a group commit transaction.", prometheus.ExponentialBuckets(1e-4, 2, 14)),
		CommitFailures:         counter("flashsale_batch_commit_failures_total", "Group commits that failed, version conflicts included."),
		VersionConflicts:       counter("flashsale_batch_version_conflicts_total", "Group commits refused because another writer changed the product (the FOR UPDATE backstop)."),
		RefusalsAwaitingCommit: counter("flashsale_refusals_awaiting_commit_total", "Refusals (insufficient stock, a stock cut) answered after the uncommitted changes they rest on committed."),
		Activations:            counter("flashsale_actor_activations_total", "Product actors started (first use, after passivation, after their product came to this node)."),
		OwnerMoves:             counter("flashsale_cluster_owner_moves_total", "Product actors stopped because their product moved to another node."),
	}
	reg.MustRegister(all...)
	return m
}

// committed counts what a committed batch changed, from its journal: one
// addition per counter and batch, not one per event.
func (m *Metrics) committed(b *flashsale.Batch) {
	m.BatchSize.Observe(float64(len(b.Events)))
	var holds, expired, orders, paid, refunds int
	for i := range b.Events {
		switch e := &b.Events[i]; e.Kind {
		case flashsale.EventHoldCreated:
			holds++
		case flashsale.EventHoldExpired:
			expired++
		case flashsale.EventOrderCreated:
			orders++
		case flashsale.EventOrderPaid, flashsale.EventOrderRevived:
			paid++
		case flashsale.EventOrderCancelled:
			m.OrdersCancelled.WithLabelValues(e.Reason).Inc()
		case flashsale.EventRefundRequired:
			refunds++
		}
	}
	for _, c := range []struct {
		counter prometheus.Counter
		n       int
	}{{m.HoldsCreated, holds}, {m.HoldsExpired, expired}, {m.OrdersCreated, orders}, {m.OrdersPaid, paid}, {m.OrdersRefundRequired, refunds}} {
		if c.n > 0 {
			c.counter.Add(float64(c.n))
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
