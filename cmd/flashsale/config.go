package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// config is every setting of the program, with its default visible in
// defaultConfig.
type config struct {
	Command        string // serve, migrate, events, check or release-expired
	Addr           string
	DB             string
	HoldTTL        time.Duration
	PaymentTTL     time.Duration
	AdminToken     string
	WebhookSecret  string
	Retention      time.Duration // how long idempotency keys and early webhooks are kept
	Seed           bool
	RequestTimeout time.Duration
	LogLevel       zerolog.Level
	LogFormat      string // json or console

	// Settings of the events command.
	Product int64 // whose journal
	From    int64 // first seq to print
	Step    bool  // wait for Enter between events
	Follow  bool  // keep printing events as they commit
	JSON    bool  // JSON lines instead of columns
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
		Seed:           true,
		RequestTimeout: 5 * time.Second,
		LogLevel:       zerolog.InfoLevel,
		LogFormat:      "json",
		From:           1,
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
	{"product", "", "events: the product whose journal to print", func(c *config, v string) error {
		return positiveInt(&c.Product, v)
	}},
	{"from", "", "events: the first seq to print", func(c *config, v string) error {
		return positiveInt(&c.From, v)
	}},
	{"step", "", "events: wait for Enter between events (q quits)", boolFlag(func(c *config) *bool { return &c.Step })},
	{"follow", "", "events: keep printing new events as they commit", boolFlag(func(c *config) *bool { return &c.Follow })},
	{"json", "", "events: print JSON lines", boolFlag(func(c *config) *bool { return &c.JSON })},
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
		case "serve", "migrate", "events", "check", "release-expired":
			cfg.Command = args[0]
		default:
			return cfg, &settingError{"command", fmt.Errorf("unknown command %q: want serve, migrate, events, check or release-expired", args[0])}
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
		Str("admin_token", mask(c.AdminToken)).Str("webhook_secret", mask(c.WebhookSecret)).Bool("seed", c.Seed).
		Stringer("request_timeout", c.RequestTimeout).Str("log_level", c.LogLevel.String()).Str("log_format", c.LogFormat)
}
