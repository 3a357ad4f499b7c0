package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"flashsale/cmd/flashsale/bench"
)

// config is every setting of the program. Each one's default, parser,
// environment variable and usage are in its entry of settings.
type config struct {
	Command        string // the name of one of commands
	Addr           string
	DB             string
	HoldTTL        time.Duration
	PaymentTTL     time.Duration
	AdminToken     string
	WebhookSecret  string
	Retention      time.Duration // how long idempotency keys are kept
	EarlyTTL       time.Duration // how long a webhook that came before its order may pay it
	MaxBacklog     int           // requests that may wait for one product before 503
	PassivateAfter time.Duration // idle time after which a product's actor stops
	Pipeline       int           // batches of one product committing at once
	Seed           bool
	RequestTimeout time.Duration
	LogLevel       zerolog.Level
	LogFormat      string   // json or console
	CORSOrigins    []string // origins whose pages may call the API: * for any; none turns CORS off
	Cluster        clusterConfig

	Events eventsConfig
	Bench  bench.Config // AdminToken and WebhookSecret are copied in from above
}

// clusterConfig is where a node of a cluster sits; an empty Name is a
// single process.
type clusterConfig struct {
	Name       string
	Bind       string   // this node's remote address, also its id
	Advertise  string   // the address others use, when it differs from Bind
	Provider   string   // automanaged or etcd
	Etcd       []string // etcd's endpoints
	Membership string   // this node's automanaged address
	Peers      []string // every node's automanaged address, this one's too
}

// eventsConfig is what `flashsale events` alone takes.
type eventsConfig struct {
	Product int64 // whose journal
	From    int64 // first seq to print
	Step    bool  // wait for Enter between events
	Follow  bool  // keep printing events as they commit
	JSON    bool  // JSON lines instead of columns
}

// A setting is one flag, and its environment variable if it has one. The
// flag sets, the environment lookup, the usage, the defaults and the
// logged configuration are all made from the settings table.
type setting struct {
	name string // the flag, without its dashes
	env  string // empty: a flag only
	def  string // the default, written as on the command line; empty: none
	// secret, when set, masks the value in the logged configuration.
	secret func(string) string
	// commands take the setting; the others do not know its flag.
	commands []string
	// emptyIsValue: an empty environment variable sets the setting to
	// empty rather than leaving its default.
	emptyIsValue bool
	usage        string
	// value parses into the setting's field of a config. Get gives the
	// field for the log: ints, bools and floats as such, the rest as
	// String.
	value flag.Getter
}

// Which commands take a setting.
var (
	server     = []string{"serve", "migrate"}
	withDB     = []string{"serve", "migrate", "events", "check", "release-expired"}
	withActor  = []string{"serve", "migrate", "release-expired"}
	withBench  = []string{"serve", "migrate", "bench"}
	serveOnly  = []string{"serve"}
	eventsOnly = []string{"events"}
	benchOnly  = []string{"bench"}
)

// settings is the table of every setting, bound to the fields of c.
func settings(c *config) []setting {
	return []setting{
		{name: "addr", env: "FLASHSALE_ADDR", def: ":8080", commands: server, usage: "address to listen on", value: text(&c.Addr, nil)},
		{name: "db", env: "FLASHSALE_DB", def: "sqlite://flashsale.db", commands: withDB, secret: maskDB, usage: "database: sqlite://PATH or mysql://USER:PASS@tcp(HOST:PORT)/DBNAME", value: text(&c.DB, parseDB)},
		{name: "hold-ttl", env: "FLASHSALE_HOLD_TTL", def: "2m", commands: withActor, usage: "how long a hold keeps its units (Go duration)", value: duration(&c.HoldTTL)},
		{name: "payment-ttl", env: "FLASHSALE_PAYMENT_TTL", def: "15m", commands: withActor, usage: "how long an order may await payment (Go duration)", value: duration(&c.PaymentTTL)},
		{name: "retention", env: "FLASHSALE_RETENTION", def: "24h", commands: server, usage: "how long idempotency keys are kept (Go duration)", value: duration(&c.Retention)},
		{name: "early-webhook-ttl", env: "FLASHSALE_EARLY_WEBHOOK_TTL", def: "1m", commands: server, usage: "how long a webhook that came before its order may still pay it; later it is dropped (Go duration)", value: duration(&c.EarlyTTL)},
		{name: "max-backlog", env: "FLASHSALE_MAX_BACKLOG", def: "10000", commands: withActor, usage: "requests that may wait for one product; more get 503 with Retry-After at once", value: count(&c.MaxBacklog, 1_000_000)},
		{name: "passivate-after", env: "FLASHSALE_PASSIVATE_AFTER", def: "2m", commands: withActor, usage: "idle time after which a product's actor stops to free memory (Go duration)", value: duration(&c.PassivateAfter)},
		{name: "pipeline", env: "FLASHSALE_PIPELINE", def: "1", commands: withActor, usage: "batches of one product that may be committing at once, and transactions committing at once; more hide round trips to a distant database", value: count(&c.Pipeline, 16)},
		{name: "webhook-secret", env: "FLASHSALE_WEBHOOK_SECRET", def: "", commands: withBench, secret: hidden, usage: "HMAC-SHA256 key of payment webhook signatures; empty accepts unsigned webhooks (bench: signs checkout's)", value: text(&c.WebhookSecret, nil)},
		{name: "admin-token", env: "FLASHSALE_ADMIN_TOKEN", def: "", commands: withBench, secret: hidden, usage: "bearer token of the admin API; empty disables it (bench: the server's, to create products)", value: text(&c.AdminToken, nil)},
		{name: "seed", env: "FLASHSALE_SEED", def: "true", commands: server, usage: "create product 1 when the database has no product", value: boolean(&c.Seed)},
		{name: "request-timeout", env: "FLASHSALE_REQUEST_TIMEOUT", def: "5s", commands: withActor, usage: "longest a request may wait (Go duration)", value: duration(&c.RequestTimeout)},
		{name: "log-level", env: "FLASHSALE_LOG_LEVEL", def: "info", commands: withDB, usage: "debug, info, warn or error", value: logLevel{&c.LogLevel}},
		{name: "log-format", env: "FLASHSALE_LOG_FORMAT", def: "json", commands: withDB, usage: "json, or console for people", value: text(&c.LogFormat, oneOf("log format", "json", "console"))},
		{name: "cors-origins", env: "FLASHSALE_CORS_ORIGINS", def: "*", commands: server, emptyIsValue: true, usage: "origins whose pages may call the API from a browser, comma-separated, or * for any; empty turns CORS off", value: origins(&c.CORSOrigins)},

		{name: "cluster-name", env: "FLASHSALE_CLUSTER_NAME", def: "", commands: serveOnly, usage: "the cluster this node serves one catalogue with; empty: a single process", value: text(&c.Cluster.Name, nil)},
		{name: "cluster-bind", env: "FLASHSALE_CLUSTER_BIND", def: "", commands: serveOnly, usage: "this node's cluster address, host:port; also its node id", value: text(&c.Cluster.Bind, nil)},
		{name: "cluster-advertise", env: "FLASHSALE_CLUSTER_ADVERTISE", def: "", commands: serveOnly, usage: "the host:port other nodes reach this one at, when it differs from --cluster-bind", value: text(&c.Cluster.Advertise, nil)},
		{name: "cluster-provider", env: "FLASHSALE_CLUSTER_PROVIDER", def: "automanaged", commands: serveOnly, usage: "how nodes find each other: automanaged or etcd", value: text(&c.Cluster.Provider, oneOf("cluster provider", "automanaged", "etcd"))},
		{name: "cluster-etcd", env: "FLASHSALE_CLUSTER_ETCD", def: "", commands: serveOnly, usage: "etcd's endpoints, comma-separated (provider etcd)", value: list(&c.Cluster.Etcd)},
		{name: "cluster-membership", env: "FLASHSALE_CLUSTER_MEMBERSHIP", def: "", commands: serveOnly, usage: "this node's membership address, host:port (provider automanaged)", value: text(&c.Cluster.Membership, nil)},
		{name: "cluster-peers", env: "FLASHSALE_CLUSTER_PEERS", def: "", commands: serveOnly, usage: "every node's membership address, this one's included, comma-separated (provider automanaged)", value: list(&c.Cluster.Peers)},

		{name: "product", commands: eventsOnly, usage: "the product whose journal to print (required)", value: count(&c.Events.Product, 0)},
		{name: "from", def: "1", commands: eventsOnly, usage: "the first seq to print", value: count(&c.Events.From, 0)},
		{name: "step", def: "false", commands: eventsOnly, usage: "wait for Enter between events (q quits)", value: boolean(&c.Events.Step)},
		{name: "follow", def: "false", commands: eventsOnly, usage: "keep printing new events as they commit", value: boolean(&c.Events.Follow)},
		{name: "json", def: "false", commands: eventsOnly, usage: "print JSON lines, as the API shows events", value: boolean(&c.Events.JSON)},

		{name: "target", def: "http://127.0.0.1:8080", commands: benchOnly, usage: "the server to load", value: text(&c.Bench.Target, parseTarget)},
		{name: "targets", def: "", commands: benchOnly, usage: "servers to spread the connections over round-robin, comma-separated, instead of --target (setup and the books use the first)", value: list(&c.Bench.Targets)},
		{name: "scenario", def: "hot", commands: benchOnly, usage: strings.Join(bench.Names(), ", "), value: text(&c.Bench.Scenario, oneOf("scenario", bench.Names()...))},
		{name: "connections", def: "64", commands: benchOnly, usage: "concurrent connections", value: count(&c.Bench.Connections, 10_000)},
		{name: "duration", def: "10s", commands: benchOnly, usage: "how long the load runs", value: duration(&c.Bench.Duration)},
		{name: "products", def: "10000", commands: benchOnly, usage: "spread's number of products", value: count(&c.Bench.Products, 1_000_000)},
		{name: "stock", def: "1000", commands: benchOnly, usage: "sellout's stock", value: count(&c.Bench.Stock, 10_000_000)},
		{name: "rate", def: "0", commands: benchOnly, usage: "an open loop of this many requests (checkout: buyers) per second; 0 is a closed loop", value: rate{&c.Bench.Rate}},
		{name: "compare", def: "", commands: benchOnly, usage: "ceiling: run the ceiling scenario first and print the ratio", value: text(&c.Bench.Compare, parseComparison)},
		{name: "json", def: "false", commands: benchOnly, usage: "print the summary as one JSON object", value: boolean(&c.Bench.JSON)},
		{name: "report", def: "", commands: benchOnly, usage: "also write the run to this file as one self-contained HTML page", value: text(&c.Bench.Report, nil)},
	}
}

// settingsOf are the settings the command takes, bound to c.
func settingsOf(command string, c *config) []setting {
	var of []setting
	for _, s := range settings(c) {
		if slices.Contains(s.commands, command) {
			of = append(of, s)
		}
	}
	return of
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

// defaultConfig is every setting at its default.
func defaultConfig(command string) config {
	cfg := config{Command: command}
	for _, s := range settings(&cfg) {
		if s.def != "" {
			if err := s.value.Set(s.def); err != nil {
				panic(fmt.Sprintf("the default of --%s: %v", s.name, err))
			}
		}
	}
	return cfg
}

// loadConfig reads the command, then the environment, then flags: a flag
// wins over the environment. An empty variable counts as unset, except for
// a setting whose empty value means something (emptyIsValue).
func loadConfig(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (config, error) {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if _, ok := commandNamed(args[0]); !ok {
			return config{}, &settingError{"command", fmt.Errorf("unknown command %q: want %s", args[0], commandList())}
		}
		name, args = args[0], args[1:]
	}
	cfg := defaultConfig(name)
	own := settingsOf(name, &cfg)
	for _, s := range own {
		if s.env == "" {
			continue
		}
		if v, ok := lookupEnv(s.env); ok && (v != "" || s.emptyIsValue) {
			if err := s.value.Set(v); err != nil {
				return cfg, &settingError{s.env, err}
			}
		}
	}
	// The flag package would print its own message and the whole usage
	// on a bad value, and keep only the text of our error: it stays
	// quiet, and the setting at fault is kept here.
	fs := flag.NewFlagSet("flashsale "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var bad *settingError
	for _, s := range own {
		fs.Var(reporting{s.value, "--" + s.name, &bad}, s.name, s.usage)
	}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stderr, name)
		return cfg, errHelp
	case bad != nil:
		return cfg, bad
	case err != nil:
		return cfg, &settingError{"flags", fmt.Errorf("%w (flashsale %s -h lists its flags)", err, name)}
	}
	if fs.NArg() > 0 {
		return cfg, &settingError{"arguments", fmt.Errorf("unexpected %q", fs.Args())}
	}
	cfg.Bench.AdminToken, cfg.Bench.WebhookSecret = cfg.AdminToken, cfg.WebhookSecret
	return cfg, cfg.checkCluster()
}

// checkCluster refuses cluster settings that cannot work together.
func (c config) checkCluster() error {
	cl := c.Cluster
	switch {
	case cl.Name == "":
		return nil
	case strings.HasPrefix(c.DB, "sqlite://"):
		return &settingError{"--cluster-name", errors.New("a cluster needs a MySQL database: SQLite cannot be shared between nodes")}
	case cl.Bind == "":
		return &settingError{"--cluster-bind", errors.New("a cluster node needs its address, host:port")}
	case cl.Provider == "etcd" && len(cl.Etcd) == 0:
		return &settingError{"--cluster-etcd", errors.New("provider etcd needs etcd's endpoints")}
	case cl.Provider == "automanaged" && cl.Membership == "":
		return &settingError{"--cluster-membership", errors.New("provider automanaged needs this node's membership address, host:port")}
	case cl.Provider == "automanaged" && len(cl.Peers) == 0:
		return &settingError{"--cluster-peers", errors.New("provider automanaged needs every node's membership address")}
	}
	return nil
}

// reporting keeps the setting at fault when a flag's value is bad.
type reporting struct {
	flag.Getter
	flag string
	bad  **settingError
}

func (r reporting) Set(v string) error {
	if err := r.Getter.Set(v); err != nil {
		*r.bad = &settingError{r.flag, err}
		return err
	}
	return nil
}

func (r reporting) IsBoolFlag() bool {
	b, ok := r.Getter.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// printUsage lists the commands and the flags of the one asked about.
func printUsage(w io.Writer, command string) {
	fmt.Fprintln(w, "usage: flashsale [command] [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nflags of %s (flashsale COMMAND -h for another's); a flag wins over its environment variable:\n", command)
	for _, s := range settingsOf(command, &config{}) {
		fmt.Fprintf(w, "  --%-16s %s", s.name, s.usage)
		var about []string
		if s.env != "" {
			about = append(about, "env "+s.env)
		}
		if s.def != "" {
			about = append(about, "default "+s.def)
		}
		if len(about) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(about, ", "))
		}
		fmt.Fprintln(w)
	}
}

// MarshalZerologObject logs the command's settings, secrets masked.
func (c config) MarshalZerologObject(e *zerolog.Event) {
	e.Str("command", c.Command)
	for _, s := range settingsOf(c.Command, &c) {
		key := strings.ReplaceAll(s.name, "-", "_")
		switch v := s.value.Get().(type) {
		case int:
			e.Int(key, v)
		case int64:
			e.Int64(key, v)
		case float64:
			e.Float64(key, v)
		case bool:
			e.Bool(key, v)
		default:
			shown := s.value.String()
			if s.secret != nil {
				shown = s.secret(shown)
			}
			e.Str(key, shown)
		}
	}
}

var dsnPassword = regexp.MustCompile(`^(mysql://[^:@/]*):[^@]*@`)

// maskDB hides the password of a MySQL DSN.
func maskDB(db string) string {
	return dsnPassword.ReplaceAllString(db, "$1:***@")
}

// hidden hides a secret but shows whether it is set.
func hidden(secret string) string {
	if secret == "" {
		return ""
	}
	return "***"
}
