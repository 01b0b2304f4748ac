package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sort"
	"time"

	"github.com/IBM/sarama"

	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/embedded"
)

// Options configure `kaudit demo`.
type Options struct {
	HTTPAddr string // query API; default 127.0.0.1:8080
	Once     bool   // exit after the summary
	Out      io.Writer
	Log      *slog.Logger
}

// Run starts the embedded broker and a pipeline, feeds the sample log,
// prints a summary and, unless Once, serves queries until ctx is done.
func Run(ctx context.Context, o Options) error {
	if o.HTTPAddr == "" {
		o.HTTPAddr = "127.0.0.1:8080"
	}
	b, err := embedded.Start(embedded.Options{})
	if err != nil {
		return err
	}
	defer b.Close()

	cfg := topology.Defaults()
	cfg.Brokers = b.Addrs()
	cfg.HTTPAddr = o.HTTPAddr
	p, err := topology.New(cfg, topology.WithLogger(o.Log))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case <-p.Started():
	case err := <-done:
		return err
	}
	fmt.Fprintf(o.Out, "kaudit demo: embedded broker on %s, pipeline started\n", b.Bootstrap())

	lines := SampleLog()
	if err := feed(cfg, lines); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "fed %d request-log lines into %s\n", len(lines), cfg.Topics.Raw)

	counts, err := waitDrained(ctx, p, len(lines), done)
	if err != nil {
		return err
	}
	printSummary(o.Out, cfg, counts)
	if o.Once {
		cancel()
		return <-done
	}
	example := ConnID(sampleBrokers[0], 9094, "10.0.1.20", 40000, 3)
	fmt.Fprintf(o.Out, "\nquery a connection:  curl http://%s/v1/connections/%s\n", p.HTTPAddr(), url.PathEscape(example))
	fmt.Fprintf(o.Out, "metrics:             curl http://%s/metrics\n", p.HTTPAddr())
	fmt.Fprintf(o.Out, "read the records:    kcat -C -b %s -t %s -e\n", b.Bootstrap(), cfg.Topics.Audit)
	fmt.Fprintln(o.Out, "Ctrl-C to stop.")
	err = <-done
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// feed writes the lines with keys that are not connection ids, as a log
// shipper would, so the pipeline's re-keying is exercised.
func feed(cfg topology.Config, lines []string) error {
	sc := cfg.SaramaConfig()
	sc.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer(cfg.Brokers, sc)
	if err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	msgs := make([]*sarama.ProducerMessage, len(lines))
	for i, l := range lines {
		msgs[i] = &sarama.ProducerMessage{
			Topic: cfg.Topics.Raw,
			Key:   sarama.StringEncoder(fmt.Sprintf("shipper-%d", i%5)),
			Value: sarama.StringEncoder(l),
		}
	}
	if err := prod.SendMessages(msgs); err != nil {
		return errors.Join(fmt.Errorf("feed: %w", err), prod.Close())
	}
	return prod.Close()
}

// waitDrained waits until every fed line was read and every kept request
// was audited, and the counters stopped moving.
func waitDrained(ctx context.Context, p *topology.Pipeline, n int, done <-chan error) (topology.Counts, error) {
	deadline := time.After(2 * time.Minute)
	var last topology.Counts
	stable := 0
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case err := <-done:
			return last, fmt.Errorf("pipeline stopped: %w", err)
		case <-deadline:
			return last, fmt.Errorf("pipeline did not drain in 2m: read %d of %d lines", last.LinesIn, n)
		case <-time.After(200 * time.Millisecond):
		}
		c := p.Metrics().Snapshot()
		if c.LinesIn >= int64(n) && c.Audited >= c.Kept && c.Audited == last.Audited {
			stable++
		} else {
			stable = 0
		}
		last = c
		if stable >= 3 {
			return c, nil
		}
	}
}

func printSummary(w io.Writer, cfg topology.Config, c topology.Counts) {
	fmt.Fprintf(w, "\nsummary\n")
	fmt.Fprintf(w, "  lines in:          %d\n", c.LinesIn)
	fmt.Fprintf(w, "  skipped:           %d (controller copies of forwarded requests)\n", c.Skipped)
	fmt.Fprintf(w, "  suppressed:        %d (repeat Produce/Fetch on a connection)\n", c.Suppressed)
	fmt.Fprintf(w, "  dead-lettered:     %d -> %s\n", c.DeadLetter, cfg.Topics.DeadLetter)
	for _, r := range sortedReasons(c.DeadReasons) {
		fmt.Fprintf(w, "    %-16s %d\n", r+":", c.DeadReasons[r])
	}
	fmt.Fprintf(w, "  audit records out:\n")
	for _, t := range sortedReasons(c.RecordsOut) {
		fmt.Fprintf(w, "    %-28s %d\n", t, c.RecordsOut[t])
	}
}

func sortedReasons(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
