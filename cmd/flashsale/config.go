package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"flashsale/httpapi"
)

// config is every setting of the program, with its default visible in
// defaultConfig.
type config struct {
	Command        string // serve, migrate, events, check, release-expired or bench
	Addr           string
	DB             string
	HoldTTL        time.Duration
	PaymentTTL     time.Duration
	AdminToken     string
	WebhookSecret  string
	Retention      time.Duration // how long idempotency keys and early webhooks are kept
	MaxBacklog     int           // requests that may wait for one product before 503
	PassivateAfter time.Duration // idle time after which a product's actor stops
	Seed           bool
	RequestTimeout time.Duration
	LogLevel       zerolog.Level
	LogFormat      string // json or console

	CORSOrigins []string // origins whose pages may call the API: * for any; none turns CORS off

	// Settings of the events command.
	Product int64 // whose journal
	From    int64 // first seq to print
	Step    bool  // wait for Enter between events
	Follow  bool  // keep printing events as they commit
	JSON    bool  // JSON lines instead of columns (bench: one JSON summary)

	// Settings of the bench command.
	Target      string        // the server to load
	Scenario    string        // hot, spread, sellout, checkout, read or ceiling
	Connections int           // concurrent connections, one worker each
	Duration    time.Duration // how long the load runs
	Products    int64         // spread: how many products
	Stock       int64         // sellout: the stock that sells out
	Rate        float64       // open loop: iterations per second; 0 is a closed loop
	Compare     string        // ceiling: run the ceiling scenario first and compare
}

func defaultConfig() config {
	return config{
		Command:        "serve",
		Addr:           ":8080",
		DB:             "sqlite://flashsale.db",
		HoldTTL:        2 * time.Minute,
		PaymentTTL:     15 * time.Minute,
		AdminToken:     "",
		WebhookSecret:  "",
		Retention:      24 * time.Hour,
		MaxBacklog:     10_000,
		PassivateAfter: 2 * time.Minute,
		Seed:           true,
		RequestTimeout: 5 * time.Second,
		LogLevel:       zerolog.InfoLevel,
		LogFormat:      "json",
		CORSOrigins:    []string{"*"},
		From:           1,
		Target:         "http://127.0.0.1:8080",
		Scenario:       scenarioHot,
		Connections:    64,
		Duration:       10 * time.Second,
		Products:       10000,
		Stock:          1000,
	}
}

// errHelp ends the program after it printed its usage, successfully.
var errHelp = errors.New("help requested")

// settingError is a bad setting; the program exits 2 and names it.
type settingError struct {
	setting string
	err     error
}

func (e *settingError) Error() string { return e.setting + ": " + e.err.Error() }
func (e *settingError) Unwrap() error { return e.err }

// setting is one flag and its environment variable.
type setting struct {
	flag, env, usage string
	set              func(cfg *config, value string) error
}

var settings = []setting{
	{"addr", "FLASHSALE_ADDR", "address to listen on", func(c *config, v string) error {
		c.Addr = v
		return nil
	}},
	{"db", "FLASHSALE_DB", "database: sqlite://PATH or mysql://USER:PASS@tcp(HOST:PORT)/DBNAME", func(c *config, v string) error {
		if !strings.HasPrefix(v, "sqlite://") && !strings.HasPrefix(v, "mysql://") {
			return fmt.Errorf("unknown scheme in %q: want sqlite://PATH or mysql://DSN", maskDB(v))
		}
		c.DB = v
		return nil
	}},
	{"hold-ttl", "FLASHSALE_HOLD_TTL", "how long a hold keeps its units (Go duration)", func(c *config, v string) error {
		return positiveDuration(&c.HoldTTL, v)
	}},
	{"payment-ttl", "FLASHSALE_PAYMENT_TTL", "how long an order may await payment (Go duration)", func(c *config, v string) error {
		return positiveDuration(&c.PaymentTTL, v)
	}},
	{"webhook-secret", "FLASHSALE_WEBHOOK_SECRET", "HMAC-SHA256 key of payment webhook signatures; empty accepts unsigned webhooks", func(c *config, v string) error {
		c.WebhookSecret = v
		return nil
	}},
	{"max-backlog", "FLASHSALE_MAX_BACKLOG", "requests that may wait for one product; more get 503 with Retry-After at once", func(c *config, v string) error {
		return boundedInt(&c.MaxBacklog, v, 1_000_000)
	}},
	{"passivate-after", "FLASHSALE_PASSIVATE_AFTER", "idle time after which a product's actor stops to free memory (Go duration)", func(c *config, v string) error {
		return positiveDuration(&c.PassivateAfter, v)
	}},
	{"retention", "FLASHSALE_RETENTION", "how long idempotency keys and webhooks for orders that never appear are kept (Go duration)", func(c *config, v string) error {
		return positiveDuration(&c.Retention, v)
	}},
	{"admin-token", "FLASHSALE_ADMIN_TOKEN", "bearer token of the admin API; empty disables it", func(c *config, v string) error {
		c.AdminToken = v
		return nil
	}},
	{"seed", "FLASHSALE_SEED", "create product 1 when the database has no product", func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not a boolean", v)
		}
		c.Seed = b
		return nil
	}},
	{"request-timeout", "FLASHSALE_REQUEST_TIMEOUT", "longest a request may wait (Go duration)", func(c *config, v string) error {
		return positiveDuration(&c.RequestTimeout, v)
	}},
	{"log-level", "FLASHSALE_LOG_LEVEL", "debug, info, warn or error", func(c *config, v string) error {
		l, err := zerolog.ParseLevel(strings.ToLower(v))
		if err != nil || v == "" {
			return fmt.Errorf("%q is not a log level (debug, info, warn, error)", v)
		}
		c.LogLevel = l
		return nil
	}},
	{"log-format", "FLASHSALE_LOG_FORMAT", "json, or console for people", func(c *config, v string) error {
		if v != "json" && v != "console" {
			return fmt.Errorf("%q is not a log format (json, console)", v)
		}
		c.LogFormat = v
		return nil
	}},
	{"cors-origins", "FLASHSALE_CORS_ORIGINS", "comma-separated origins whose pages may call the API from a browser, or * for any; empty turns CORS off", func(c *config, v string) error {
		origins, err := httpapi.ParseOrigins(v)
		c.CORSOrigins = origins
		return err
	}},
	{"product", "", "events: the product whose journal to print", func(c *config, v string) error {
		return positiveInt(&c.Product, v)
	}},
	{"from", "", "events: the first seq to print", func(c *config, v string) error {
		return positiveInt(&c.From, v)
	}},
	{"step", "", "events: wait for Enter between events (q quits)", boolFlag(func(c *config) *bool { return &c.Step })},
	{"follow", "", "events: keep printing new events as they commit", boolFlag(func(c *config) *bool { return &c.Follow })},
	{"json", "", "events: print JSON lines; bench: print the summary as one JSON object", boolFlag(func(c *config) *bool { return &c.JSON })},
	{"target", "", "bench: the server to load (default http://127.0.0.1:8080)", func(c *config, v string) error {
		t, err := parseTarget(v)
		c.Target = t
		return err
	}},
	{"scenario", "", "bench: hot, spread, sellout, checkout, read or ceiling (default hot)", func(c *config, v string) error {
		if !slices.Contains(benchScenarios, v) {
			return fmt.Errorf("%q is not a scenario (%s)", v, strings.Join(benchScenarios, ", "))
		}
		c.Scenario = v
		return nil
	}},
	{"connections", "", "bench: concurrent connections (default 64)", func(c *config, v string) error {
		return boundedInt(&c.Connections, v, 10000)
	}},
	{"duration", "", "bench: how long the load runs (default 10s)", func(c *config, v string) error {
		return positiveDuration(&c.Duration, v)
	}},
	{"products", "", "bench: spread's number of products (default 10000)", func(c *config, v string) error {
		var n int
		err := boundedInt(&n, v, 1_000_000)
		c.Products = int64(n)
		return err
	}},
	{"stock", "", "bench: sellout's stock (default 1000)", func(c *config, v string) error {
		var n int
		err := boundedInt(&n, v, 10_000_000)
		c.Stock = int64(n)
		return err
	}},
	{"rate", "", "bench: an open loop of this many requests (checkout: buyers) per second; 0, the default, is a closed loop", func(c *config, v string) error {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
			return fmt.Errorf("%q is not a rate: a number of requests per second, 0 for a closed loop", v)
		}
		c.Rate = r
		return nil
	}},
	{"compare", "", "bench: ceiling runs the ceiling scenario first and prints the ratio", func(c *config, v string) error {
		if v != "" && v != scenarioCeiling {
			return fmt.Errorf("%q: only ceiling can be compared with", v)
		}
		c.Compare = v
		return nil
	}},
}

func boundedInt(n *int, v string, most int) error {
	parsed, err := strconv.Atoi(v)
	if err != nil || parsed < 1 || parsed > most {
		return fmt.Errorf("%q is not an integer from 1 to %d", v, most)
	}
	*n = parsed
	return nil
}

func boolFlag(field func(*config) *bool) func(*config, string) error {
	return func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not a boolean", v)
		}
		*field(c) = b
		return nil
	}
}

func positiveInt(n *int64, v string) error {
	parsed, err := strconv.ParseInt(v, 10, 64)
	if err != nil || parsed < 1 {
		return fmt.Errorf("%q is not a positive integer", v)
	}
	*n = parsed
	return nil
}

func positiveDuration(d *time.Duration, v string) error {
	parsed, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 2m or 500ms", v)
	}
	if parsed <= 0 {
		return fmt.Errorf("%q must be positive", v)
	}
	*d = parsed
	return nil
}

// loadConfig reads the command, then the environment, then flags.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	cfg := defaultConfig()
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "serve", "migrate", "events", "check", "release-expired", "bench":
			cfg.Command = args[0]
		default:
			return cfg, &settingError{"command", fmt.Errorf("unknown command %q: want serve, migrate, events, check, release-expired or bench", args[0])}
		}
		args = args[1:]
	}
	for _, s := range settings {
		if s.env == "" {
			continue
		}
		if v := getenv(s.env); v != "" {
			if err := s.set(&cfg, v); err != nil {
				return cfg, &settingError{s.env, err}
			}
		}
	}
	// The flag package would print its own message and the whole usage
	// on a bad value, and keep only the text of our error: it stays
	// quiet, and the setting at fault is kept here.
	fs := flag.NewFlagSet("flashsale", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var bad *settingError
	defaults := defaultConfig()
	for _, s := range settings {
		usage := fmt.Sprintf("%s (env %s, default %q)", s.usage, s.env, defaultValue(defaults, s.flag))
		if s.env == "" {
			usage = s.usage
		}
		set := func(v string) error {
			if err := s.set(&cfg, v); err != nil {
				bad = &settingError{"--" + s.flag, err}
				return bad
			}
			return nil
		}
		if s.flag == "step" || s.flag == "follow" || s.flag == "json" {
			fs.BoolFunc(s.flag, usage, set)
		} else {
			fs.Func(s.flag, usage, set)
		}
	}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(stderr, "usage: flashsale [serve|migrate] [flags]")
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return cfg, errHelp
	case bad != nil:
		return cfg, bad
	case err != nil:
		return cfg, &settingError{"flags", err}
	}
	if fs.NArg() > 0 {
		return cfg, &settingError{"arguments", fmt.Errorf("unexpected %q", fs.Args())}
	}
	return cfg, nil
}

func defaultValue(c config, flag string) string {
	switch flag {
	case "addr":
		return c.Addr
	case "db":
		return c.DB
	case "hold-ttl":
		return c.HoldTTL.String()
	case "payment-ttl":
		return c.PaymentTTL.String()
	case "max-backlog":
		return strconv.Itoa(c.MaxBacklog)
	case "passivate-after":
		return c.PassivateAfter.String()
	case "retention":
		return c.Retention.String()
	case "admin-token", "webhook-secret":
		return ""
	case "seed":
		return strconv.FormatBool(c.Seed)
	case "request-timeout":
		return c.RequestTimeout.String()
	case "log-level":
		return c.LogLevel.String()
	case "log-format":
		return c.LogFormat
	case "cors-origins":
		return strings.Join(c.CORSOrigins, ",")
	}
	return ""
}

var dsnPassword = regexp.MustCompile(`^(mysql://[^:@/]*):[^@]*@`)

// maskDB hides the password of a MySQL DSN.
func maskDB(db string) string {
	return dsnPassword.ReplaceAllString(db, "$1:***@")
}

// mask hides a secret but shows whether it is set.
func mask(secret string) string {
	if secret == "" {
		return ""
	}
	return "***"
}

// MarshalZerologObject logs the configuration with its secrets masked.
func (c config) MarshalZerologObject(e *zerolog.Event) {
	e.Str("command", c.Command).Str("addr", c.Addr).Str("db", maskDB(c.DB)).
		Stringer("hold_ttl", c.HoldTTL).Stringer("payment_ttl", c.PaymentTTL).Stringer("retention", c.Retention).
		Int("max_backlog", c.MaxBacklog).Stringer("passivate_after", c.PassivateAfter).
		Str("admin_token", mask(c.AdminToken)).Str("webhook_secret", mask(c.WebhookSecret)).Bool("seed", c.Seed).
		Stringer("request_timeout", c.RequestTimeout).Str("log_level", c.LogLevel.String()).Str("log_format", c.LogFormat)
	e.Strs("cors_origins", c.CORSOrigins)
}
