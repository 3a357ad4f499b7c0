package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"flashsale/actors"
	"flashsale/httpapi"
	"flashsale/store"
)

// Shutdown bounds: each step of the reverse-order shutdown gets its own.
const (
	httpShutdownTimeout  = 10 * time.Second
	actorShutdownTimeout = 5 * time.Second
)

func newLogger(w io.Writer, level zerolog.Level, format string) zerolog.Logger {
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// openStore opens and migrates the database. A database that cannot be
// opened is a bad --db setting.
func openStore(ctx context.Context, cfg config, log zerolog.Logger) (*store.DB, error) {
	openCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	db, err := store.Open(openCtx, cfg.DB, log)
	if err != nil {
		return nil, &settingError{"--db", err}
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// runJanitor lets go of what is kept only for a while (idempotency keys
// for cfg.Retention, early webhooks for cfg.EarlyTTL), at start and
// then a few times per period, until ctx ends. An early webhook past its
// TTL pays no order even before it is dropped: dropping it frees its key.
func runJanitor(ctx context.Context, db *store.DB, cfg config, log zerolog.Logger) {
	tick := time.NewTicker(max(min(cfg.Retention/4, cfg.EarlyTTL, time.Hour), time.Second))
	defer tick.Stop()
	for {
		c, err := db.Clean(ctx, time.Now(), cfg.Retention)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn().Err(err).Msg("retention pass failed; it runs again later")
		case c != (store.Cleaned{}):
			log.Info().Int64("early_webhooks", c.EarlyWebhooks).Int64("hold_keys", c.HoldKeys).
				Int64("order_keys", c.OrderKeys).Msg("retention pass")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// actorConfig is the product actors' configuration under cfg: the actor
// package's defaults, and what the settings decide. The settings' defaults
// are the actor package's (TestActorConfigSetsEveryField).
func actorConfig(cfg config, metrics *actors.Metrics) actors.Config {
	acfg := actors.DefaultConfig()
	acfg.HoldTTL, acfg.PaymentTTL = cfg.HoldTTL, cfg.PaymentTTL
	acfg.MaxBacklog, acfg.PassivateAfter = int64(cfg.MaxBacklog), cfg.PassivateAfter
	acfg.Pipeline = cfg.Pipeline
	// A write never waits longer than its request; a committed key is
	// remembered at least as long as two requests may take.
	acfg.CommitTimeout = cfg.RequestTimeout
	acfg.KeyMemory = max(acfg.KeyMemory, 2*cfg.RequestTimeout)
	acfg.Clock, acfg.Metrics = time.Now, metrics
	if strings.HasPrefix(cfg.DB, "sqlite://") {
		acfg.Writers = 1 // SQLite has one writer at a time
	}
	return acfg
}

// drainActors lets the product actors commit what they have and stops them,
// waiting at most actorShutdownTimeout: on the way out, after an error too.
func drainActors(service *actors.Service) error {
	ctx, cancel := context.WithTimeout(context.Background(), actorShutdownTimeout)
	defer cancel()
	return service.Drain(ctx)
}

// newService starts the product actors: in this process alone, or, with
// --cluster-name, as one node of a cluster that spreads them over its
// members.
func newService(cfg config, db *store.DB, metrics *prometheus.Registry, log zerolog.Logger) (*actors.Service, error) {
	acfg := actorConfig(cfg, actors.NewMetrics(metrics))
	cl := cfg.Cluster
	if cl.Name == "" {
		return actors.NewService(acfg, db, log), nil
	}
	service, err := actors.NewClusterService(acfg, db, log, actors.ClusterConfig{
		Name: cl.Name, Bind: cl.Bind, Advertise: cl.Advertise, Provider: cl.Provider, Etcd: cl.Etcd,
		Membership: cl.Membership, Peers: cl.Peers, Metrics: metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("joining cluster %s: %w", cl.Name, err)
	}
	return service, nil
}

func migrate(ctx context.Context, cfg config, log zerolog.Logger, _ stdio) error {
	log.Info().Object("config", cfg).Msg("migrating")
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	return db.Close()
}

// serve runs the server until ctx ends, then shuts down in reverse order:
// HTTP first, then the product actors (they commit what they have), then
// the database.
func serve(ctx context.Context, cfg config, log zerolog.Logger, _ stdio) error {
	log.Info().Object("config", cfg).Msg("starting")
	if cfg.AdminToken == "" {
		log.Warn().Msg("no admin token is set: the admin API answers 403")
	}
	if cfg.WebhookSecret == "" {
		log.Warn().Msg("no webhook secret is set: unsigned payment webhooks are accepted")
	}
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetEarlyWebhookTTL(cfg.EarlyTTL)
	if cfg.Seed {
		created, err := db.Seed(ctx)
		if err != nil {
			return fmt.Errorf("seeding: %w", err)
		}
		if created {
			log.Info().Msg("seeded product 1")
		}
	}

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	service, err := newService(cfg, db, metrics, log)
	if err != nil {
		return err
	}

	api := httpapi.New(httpapi.Config{
		AdminToken:     cfg.AdminToken,
		WebhookSecret:  cfg.WebhookSecret,
		RequestTimeout: cfg.RequestTimeout,
		CORSOrigins:    cfg.CORSOrigins,
		Metrics:        metrics,
	}, service, db, log)
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = drainActors(service)
		return &settingError{"--addr", err}
	}
	janitorCtx, stopJanitor := context.WithCancel(context.Background())
	defer stopJanitor()
	janitorDone := make(chan struct{})
	go func() {
		defer close(janitorDone)
		runJanitor(janitorCtx, db, cfg, log)
	}()
	log.Info().Str("addr", ln.Addr().String()).Msg("listening")

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		_ = drainActors(service)
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}

	log.Info().Msg("shutting down")
	httpCtx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(httpCtx); err != nil {
		log.Warn().Err(err).Msg("http shutdown")
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn().Err(err).Msg("http server")
	}
	if err := drainActors(service); err != nil {
		log.Warn().Err(err).Msg("draining actors")
	}
	stopJanitor()
	<-janitorDone
	log.Info().Msg("stopped")
	return nil
}
