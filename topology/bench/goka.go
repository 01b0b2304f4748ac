package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
)

// gokaYardstick is one of the goka processors run for comparison.
type gokaYardstick struct {
	what  string // its name in logs, notes and the report
	group goka.Group
	// out is the stream the trivial processor emits every line to; empty
	// for the read-only one.
	out goka.Stream
}

// The two goka yardsticks the bench runs.
var (
	gokaTrivial = gokaYardstick{what: "trivial goka processor", group: "bench-goka-trivial", out: gokaTopic}
	gokaRead    = gokaYardstick{what: "goka, read only", group: "bench-goka-read"}
)

// GokaResult is what a goka yardstick measured.
type GokaResult struct {
	Lines      int64         // lines processed when it ended
	Elapsed    time.Duration // from start until the n-th line was done
	CPUSeconds float64       // the harness process's CPU time over the run
}

// runGoka runs a goka yardstick over n lines of src in the harness
// process, from before the processor is created until it is done with n
// lines:
//   - with an output stream, the "trivial goka processor": each
//     line is written to the group table and emitted, unchanged and under
//     its key, to the stream; done is when the stream holds n messages. The
//     table is goka's in-memory storage (the cheapest table write), and
//     the raw topic is keyed by broker, so it holds a few keys written over
//     and over.
//   - without one, goka's floor: each line is read and counted, nothing
//     else. Any goka processor that reads every raw line, as kaudit must to
//     re-key it, costs at least this.
func runGoka(ctx context.Context, brokers []string, src string, y gokaYardstick, n int64, timeout time.Duration) (GokaResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	self, err := ReadProc(os.Getpid())
	if err != nil {
		self = ProcUsage{}
	}
	var read atomic.Int64
	edges := []goka.Edge{goka.Input(goka.Stream(src), new(codec.Bytes), func(ctx goka.Context, msg any) {
		if y.out == "" {
			read.Add(1)
			return
		}
		ctx.SetValue(msg)
		ctx.Emit(y.out, ctx.Key(), msg)
	})}
	progress := func() int64 { return read.Load() }
	if y.out != "" {
		edges = append(edges, goka.Output(y.out, new(codec.Bytes)), goka.Persist(new(codec.Bytes)))
		cl, err := newProducer(brokers[0], string(y.out), 0)
		if err != nil {
			return GokaResult{}, err
		}
		defer cl.Close()
		progress = func() int64 {
			sum, _ := held(ctx, cl, string(y.out)) //nolint:errcheck // retried on the next poll
			return sum
		}
	}
	// goka's defaults, with the promises of the copy (yardstickConfig);
	// fixed here like the copy's, so tuning kaudit does not move it.
	// goka's builders write into the config they get: one copy each.
	cfg := func() *sarama.Config { return yardstickConfig(goka.DefaultConfig(), "kaudit-bench-goka") }
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication, tm.Stream.Replication = 1, 1
	start := time.Now()
	proc, err := goka.NewProcessor(brokers, goka.DefineGroup(y.group, edges...),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(cfg())),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(cfg())),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(cfg())),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(cfg(), tm)),
		goka.WithStorageBuilder(storage.MemoryBuilder()),
		goka.WithLogger(log.New(io.Discard, "", 0)),
	)
	if err != nil {
		return GokaResult{}, fmt.Errorf("goka processor: %w", err)
	}
	pctx, stop := context.WithCancel(ctx)
	var runErr error
	exited := make(chan struct{})
	go func() { runErr = proc.Run(pctx); close(exited) }()

	var res GokaResult
	res.Lines, err = waitProgress(ctx, progress, n, exited)
	res.Elapsed = time.Since(start)
	if after, perr := ReadProc(os.Getpid()); perr == nil && self.CPUSeconds > 0 {
		res.CPUSeconds = after.CPUSeconds - self.CPUSeconds
	}
	stop()
	<-exited
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		err = errors.Join(err, fmt.Errorf("goka processor: %w", runErr))
	}
	return res, err
}

// waitProgress polls progress until it reaches n, and returns the last
// value. It gives up when ctx ends or exited is closed.
func waitProgress(ctx context.Context, progress func() int64, n int64, exited <-chan struct{}) (int64, error) {
	for {
		done := progress()
		if done >= n {
			return done, nil
		}
		select {
		case <-ctx.Done():
			return done, fmt.Errorf("done with %d of %d lines: %w", done, n, ctx.Err())
		case <-exited:
			return done, fmt.Errorf("goka processor stopped after %d of %d lines", done, n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
