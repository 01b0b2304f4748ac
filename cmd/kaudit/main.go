// Command kaudit turns Apache Kafka's broker request log into
// Confluent-compatible CloudEvent audit records. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is one subcommand: its flags are parsed from args, and run gets
// a context cancelled on SIGINT/SIGTERM.
type command struct {
	name, usage string
	run         func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = []command{
	{"run", "run the pipeline against a Kafka cluster", runCmd},
	{"broker", "run the embedded Kafka broker (kfake)", brokerCmd},
	{"demo", "run broker + pipeline on a bundled sample log and print a summary", demoCmd},
	{"convert", "convert request-log lines on stdin to audit records on stdout, offline", convertCmd},
	{"principals", "manage the principal directory: put, delete, list", principalsCmd},
	{"routes", "check a routing config against records: routes check < records.jsonl", routesCmd},
	{"ship", "tail a broker's request log into the raw topic, following rotation", shipCmd},
	{"query", "look up a connection, principal or topic on a running kaudit: query principal User:alice", queryCmd},
	{"bench", "benchmark kaudit against a plain sarama copy on the embedded broker (make bench)", benchCmd},
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage(os.Stderr)
		os.Exit(2)
	}
	name := os.Args[1]
	for _, c := range commands {
		if c.name != name {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := c.run(ctx, os.Args[2:], os.Stdout)
		stop()
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		if err != nil {
			log.Fatalf("kaudit %s: %v", name, err)
		}
		return
	}
	fmt.Fprintf(os.Stderr, "kaudit: unknown command %q\n\n", name)
	usage(os.Stderr)
	os.Exit(2)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: kaudit <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(w, "\nRun 'kaudit <command> -h' for its flags.")
}

// newFlags makes a subcommand's flag set; -log-level is common to all.
func newFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("kaudit "+name, flag.ContinueOnError)
	level := fs.String("log-level", envOr("KAUDIT_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env KAUDIT_LOG_LEVEL)")
	return fs, level
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
