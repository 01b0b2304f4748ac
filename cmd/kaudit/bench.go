package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kaudit/kaudit/topology/bench"
)

// benchCmd runs the side-by-side benchmark (`make bench`): it starts this
// binary as the broker and as kaudit, prints a table and writes the
// figures as JSON.
func benchCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs, level := newFlags("bench")
	out := fs.String("out", envOr("BENCH_OUT", "bench-results.json"), "write the figures as JSON here (env BENCH_OUT)")
	bin := fs.String("bin", "", "kaudit binary to start as broker and pipeline (default: this one)")
	lines := fs.Int64("lines", 1_000_000, "lines of the throughput workload")
	conns := fs.Int("connections", 200_000, "connections the workload's Produce/Fetch lines are spread over")
	table := fs.Int64("table-connections", 1_000_000, "new connections of the table-size and recovery phase")
	latency := fs.Duration("latency-for", 40*time.Second, "how long the latency phase offers half load")
	rate := fs.Float64("latency-rate", 0, "lines/s the latency phase offers (0: half of kaudit's rate; a fixed rate compares builds at the same load)")
	hops := fs.Bool("latency-hops", false, "split the latency at kaudit's rekeyed, requests and audit topics (the harness reads them too, so off by default)")
	seed := fs.Uint64("seed", 1, "workload seed")
	keep := fs.Bool("keep", false, "keep the work dir (logs, broker data, state) and print where it is")
	workDir := fs.String("work-dir", "", "parent of the run's temporary dir (default: the system's)")
	cleaner := fs.Duration("cleaner-backoff", time.Hour, "the broker's log.cleaner.backoff.ms: the embedded broker compacts in the goroutine that serves requests, so the default keeps compaction out of the run; 1s is what `kaudit broker` uses on its own")
	timeout := fs.Duration("phase-timeout", 8*time.Minute, "bound on each waiting phase; one that runs out is reported as far as it got")
	profileDir := fs.String("profile-dir", "", "write CPU profiles of kaudit's throughput run and latency phase, and an execution trace from the middle of that phase, here (kaudit then serves /debug/pprof)")
	budget := fs.Duration("budget", 19*time.Minute, "bound on the whole run: each phase gets at most a share of what is left; negative for none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(*level)
	if err != nil {
		return err
	}
	res, runErr := bench.Run(ctx, bench.Options{
		Binary: *bin, Lines: *lines, Connections: *conns, TableConnections: *table, LatencyFor: *latency, LatencyRate: *rate, Hops: *hops,
		Seed: *seed, Keep: *keep, WorkDir: *workDir, CleanerBackoff: *cleaner, PhaseTimeout: *timeout, Budget: *budget, ProfileDir: *profileDir, Log: log.With("component", "bench"),
	})
	if res == nil {
		return runErr
	}
	if err := res.WriteTable(stdout); err != nil {
		return errors.Join(runErr, err)
	}
	if err := res.WriteJSON(*out); err != nil {
		return errors.Join(runErr, fmt.Errorf("write %s: %w", *out, err))
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	if runErr != nil {
		return fmt.Errorf("not every phase finished, the figures are partial: %w", runErr)
	}
	return nil
}
