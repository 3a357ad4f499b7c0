// Package httpapi is flashsale's JSON API over HTTP. Handlers decode and
// validate requests, hand them to the product actors through the Products
// interface, and return errors that one table maps to HTTP statuses.
package httpapi

import (
	"context"
	"flashsale"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"flashsale/actors"
)

// Products is what the API needs of the product actors.
type Products interface {
	Product(ctx context.Context, id int64) (flashsale.Product, error)
	Catalogue(ctx context.Context, after int64, limit int) ([]flashsale.Product, error)
	PlaceHold(ctx context.Context, productID, qty int64, idempotencyKey string) (flashsale.Hold, error)
	SetStock(ctx context.Context, productID, stock int64) (flashsale.Product, error)
	CreateOrder(ctx context.Context, holdID int64, idempotencyKey string) (flashsale.Order, error)
	ApplyPayment(ctx context.Context, key string, orderID int64, status flashsale.PaymentStatus) (flashsale.PaymentResult, error)
}

// Store is what the API reads and writes without going through an actor:
// reads of committed rows, and products that have no actor yet.
type Store interface {
	Hold(ctx context.Context, id int64) (flashsale.Hold, error)
	Order(ctx context.Context, id int64) (flashsale.Order, error)
	CreateProduct(ctx context.Context, p flashsale.NewProduct) (flashsale.Product, error)
	Events(ctx context.Context, productID, after int64, limit int) ([]flashsale.Event, error)
	Ping(ctx context.Context) error
}

var (
	_ Products = (*actors.Service)(nil)
)

// Config tunes the API.
type Config struct {
	// AdminToken guards /api/admin; empty disables the admin API (403).
	AdminToken string
	// WebhookSecret keys the HMAC-SHA256 signature payment webhooks must
	// carry; empty accepts unsigned webhooks.
	WebhookSecret string
	// RequestTimeout bounds how long any request waits.
	RequestTimeout time.Duration
	// MaxBody is the largest request body accepted.
	MaxBody int64
	// CORSOrigins may call the API from a browser: "*" for any, or
	// origins as ParseOrigins reads them; none turns CORS off.
	CORSOrigins []string
	// Metrics is where /metrics gathers from and the API's own metrics
	// register; nil makes a registry of the API's own.
	Metrics *prometheus.Registry
}

// Server serves the API.
type Server struct {
	cfg      Config
	products Products
	store    Store
	log      zerolog.Logger
	metrics  *metrics
	router   *mux.Router
	static   map[staticRoute]http.Handler // the routes without variables, by method and path
	origins  corsPolicy                   // that may call from a browser
	limits   *timeLimits                  // bound every request; nil without RequestTimeout
	idPrefix string                       // of the request ids this server makes
	idSeq    atomic.Uint32                // counts them
}

// New returns the API's handler.
func New(cfg Config, products Products, store Store, log zerolog.Logger) *Server {
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 64 << 10
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, products: products, store: store, log: log, metrics: newMetrics(cfg.Metrics),
		router: mux.NewRouter(), static: map[staticRoute]http.Handler{}, idPrefix: newIDPrefix(), origins: newCORSPolicy(cfg.CORSOrigins)}
	if cfg.RequestTimeout > 0 {
		s.limits = newTimeLimits(cfg.RequestTimeout)
	}
	s.routes()
	return s
}

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := s.static[staticRoute{method: r.Method, path: r.URL.Path}]; ok {
		h.ServeHTTP(w, r)
		return
	}
	s.router.ServeHTTP(w, r)
}
