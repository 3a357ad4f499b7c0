// Command flashsale serves the flash-sale checkout API, and has the
// commands that look after it:
//
//	flashsale [serve]          start the server (the default)
//	flashsale migrate          apply database migrations and exit
//	flashsale events           print a product's journal (--product N)
//	flashsale check            replay every product's journal and check the books
//	flashsale release-expired  release holds and unpaid orders past their time
//	flashsale bench            load a running server and check its books (--scenario)
//
// Each command has flags of its own. The server's settings also come from
// FLASHSALE_* environment variables; a flag wins over the environment.
// Run "flashsale COMMAND -h" for the list.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rs/zerolog"

	"flashsale/cmd/flashsale/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, errHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "flashsale:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for a bad setting, 1 for anything else.
func exitCode(err error) int {
	var bad *settingError
	if errors.As(err, &bad) {
		return 2
	}
	return 1
}

// stdio is a command's standard streams.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// A subcommand is one of the program's: what -h says of it and what it does.
// Which settings it takes is in the settings table.
type subcommand struct {
	name, summary string
	run           func(ctx context.Context, cfg config, log zerolog.Logger, std stdio) error
}

var commands = []subcommand{
	{"serve", "start the server (the default)", serve},
	{"migrate", "apply database migrations and exit", migrate},
	{"events", "print a product's journal (--product N)", printEvents},
	{"check", "replay every product's journal and check the books", check},
	{"release-expired", "release holds and unpaid orders past their time", releaseExpired},
	{"bench", "load a running server and check its books (--scenario)", runBench},
}

func commandNamed(name string) (subcommand, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return subcommand{}, false
}

// commandList names every command: "serve, migrate, … or bench".
func commandList() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// run is the whole program, with its inputs passed in so that a test can
// start it like main does.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(args, lookupEnv, stderr)
	if err != nil {
		return err
	}
	cmd, _ := commandNamed(cfg.Command)
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	return cmd.run(ctx, cfg, log, stdio{stdin, stdout, stderr})
}

// runBench is `flashsale bench`. A books mismatch is an error (exit 1).
func runBench(ctx context.Context, cfg config, _ zerolog.Logger, std stdio) error {
	err := bench.Run(ctx, cfg.Bench, std.out, std.err)
	if bad, ok := errors.AsType[*bench.SettingError](err); ok {
		return &settingError{bad.Flag, bad.Err}
	}
	return err
}
