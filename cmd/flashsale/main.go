// Command flashsale serves the flash-sale checkout API.
//
//	flashsale [serve]          start the server (the default)
//	flashsale migrate          apply database migrations and exit
//	flashsale events           print a product's journal (--product N)
//	flashsale check            replay every product's journal and check the books
//	flashsale release-expired  release holds and unpaid orders past their time
//	flashsale bench            load a running server and check its books (--scenario)
//
// Settings come from flags and FLASHSALE_* environment variables; a flag
// wins over the environment. Run "flashsale -h" for the list.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
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

// run is the whole program, with its inputs passed in so that a test can
// start it like main does.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	switch cfg.Command {
	case "migrate":
		return migrate(ctx, cfg, log)
	case "events":
		return printEvents(ctx, cfg, log, stdin, stdout)
	case "check":
		return check(ctx, cfg, log, stdout)
	case "release-expired":
		return releaseExpired(ctx, cfg, log, stdout)
	case "bench":
		return bench(ctx, cfg, stdout, stderr)
	default:
		return serve(ctx, cfg, log)
	}
}
