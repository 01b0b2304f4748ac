package bench

import (
	"bytes"
	"context"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/embedded"
)

// BenchmarkPipeline runs the whole pipeline in-process on the embedded
// broker over a preloaded slice of the bench workload: the quick way to
// profile the hot path (`go test -run '^$' -bench Pipeline -benchtime 1x
// -cpuprofile cpu.out ./topology/bench/`). `make bench` is the measurement;
// this one shares the process with the broker.
func BenchmarkPipeline(b *testing.B) {
	const lines, conns = 100_000, 20_000
	for range b.N {
		b.StopTimer()
		br, err := embedded.Start(embedded.Options{CleanerBackoff: time.Hour})
		require.NoError(b, err)
		ctx, cancel := context.WithCancel(context.Background())
		cl, err := newProducer(br.Bootstrap(), rawTopic, 5*time.Millisecond)
		require.NoError(b, err)
		require.NoError(b, createTopics(ctx, cl, partitions, rawTopic))
		_, err = preload(ctx, newSender(cl, NewGenerator(Workload{Connections: conns})), lines)
		require.NoError(b, err)
		cl.Close()

		cfg := topology.Defaults()
		cfg.Brokers = br.Addrs()
		cfg.StateDir = b.TempDir()
		p, err := topology.New(cfg, topology.WithLogger(slog.New(slog.DiscardHandler)))
		require.NoError(b, err)
		b.StartTimer()
		done := make(chan error, 1)
		start, cpu0 := time.Now(), processCPU(b)
		go func() { done <- p.Run(ctx) }()
		for {
			c := gathered(b, p)
			if c.caughtUp(lines) && c.Kept > 0 {
				break
			}
			select {
			case err := <-done:
				b.Fatalf("pipeline stopped: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
		}
		b.ReportMetric(lines/time.Since(start).Seconds(), "lines/s")
		// CPU per line is steadier than wall time on a shared machine; it
		// includes the in-process broker.
		b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/lines, "cpu-µs/line")
		b.StopTimer()
		cancel()
		require.NoError(b, <-done)
		br.Close()
	}
}

// processCPU is this process's user+system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// gathered reads the counters the bench waits on from p's registry, as
// the harness reads them from /metrics.
func gathered(b *testing.B, p *topology.Pipeline) counters {
	fams, err := p.Metrics().Registry.Gather()
	require.NoError(b, err)
	var text bytes.Buffer
	for _, f := range fams {
		_, err := expfmt.MetricFamilyToText(&text, f)
		require.NoError(b, err)
	}
	c, err := readCounters(&text)
	require.NoError(b, err)
	return c
}
