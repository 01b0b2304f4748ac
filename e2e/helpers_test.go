package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/embedded"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// A closed LevelDB store's pool drainer waits up to 1 s before it
		// returns (TestRestartOnStateDir); a store left open would still
		// show its other goroutines.
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
		// sarama's and go-metrics' process-wide background goroutines.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
	)
}

// skipShort skips e2e tests under -short.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: skipped under -short")
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("KAUDIT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startBroker starts an embedded broker, closed at test end.
func startBroker(t *testing.T) *embedded.Broker {
	t.Helper()
	return startBrokerWith(t, embedded.Options{})
}

// startBrokerWith starts an embedded broker with options (SASL users, TLS,
// auto-created topics), closed at test end.
func startBrokerWith(t *testing.T, o embedded.Options) *embedded.Broker {
	t.Helper()
	b, err := embedded.Start(o)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

// httpConfig is the default config on broker b with the query API on a
// free port.
func httpConfig(b *embedded.Broker) topology.Config {
	cfg := topology.Defaults()
	cfg.Brokers = b.Addrs()
	cfg.HTTPAddr = "127.0.0.1:0"
	// Tests read counters, which repeat requests reach in batches: the
	// default batch age (30 s) would be most of a test's time.
	cfg.Dedup.BatchAge = time.Second
	return cfg
}

// startDefault starts a broker and one kaudit instance with the default
// config on it, both until the test ends.
func startDefault(t *testing.T) (*embedded.Broker, topology.Config) {
	t.Helper()
	b := startBroker(t)
	cfg := topology.Defaults()
	cfg.Brokers = b.Addrs()
	startPipeline(t, cfg)
	return b, cfg
}

// startPipeline runs one kaudit instance until the test ends, and waits
// until its topics exist.
func startPipeline(t *testing.T, cfg topology.Config, opts ...topology.Option) *topology.Pipeline {
	t.Helper()
	p, stop := runPipeline(t, cfg, opts...)
	t.Cleanup(stop)
	return p
}

// runPipeline starts one kaudit instance and returns a func that stops it
// gracefully and checks it stopped without error.
func runPipeline(t *testing.T, cfg topology.Config, opts ...topology.Option) (*topology.Pipeline, func()) {
	t.Helper()
	p, err := topology.New(cfg, append([]topology.Option{topology.WithLogger(testLogger(t))}, opts...)...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("pipeline did not stop within 30s")
		}
	}
	select {
	case <-p.Started():
	case err := <-done:
		t.Fatalf("pipeline stopped before starting: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not start within 30s")
	}
	return p, stop
}

func newClient(t *testing.T, b *embedded.Broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	c, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addrs()...)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// produceLines writes lines to topic with keys that are not connection ids.
func produceLines(t *testing.T, c *kgo.Client, topic string, lines []string) {
	t.Helper()
	recs := make([]*kgo.Record, len(lines))
	for i, l := range lines {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("shipper-%d", i%7)), Value: []byte(l)}
	}
	require.NoError(t, c.ProduceSync(context.Background(), recs...).FirstErr())
}

// isConfigChange reports whether a record is kaudit's own routing-change
// record, which the first start of every pipeline writes.
func isConfigChange(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == "ce_type" && string(h.Value) == topology.TypeConfigChange {
			return true
		}
	}
	return bytes.Contains(r.Value, []byte(`"type":"`+topology.TypeConfigChange+`"`))
}

// consumeN reads topic from the start until n records arrived, then keeps
// reading for settle to catch any extra ones. Config-change records are
// left out.
func consumeN(t *testing.T, b *embedded.Broker, topic string, n int, settle time.Duration) []*kgo.Record {
	t.Helper()
	return consumeWith(t, b, nil, topic, n, settle)
}

// consumeWith is consumeN with extra client options (SASL, TLS). With
// settle 0 it returns as soon as n records arrived.
func consumeWith(t *testing.T, b *embedded.Broker, opts []kgo.Opt, topic string, n int, settle time.Duration) []*kgo.Record {
	t.Helper()
	c := newClient(t, b, append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	var out []*kgo.Record
	deadline := time.Now().Add(90 * time.Second)
	var settleUntil time.Time
	for {
		now := time.Now()
		if len(out) >= n && settleUntil.IsZero() {
			settleUntil = now.Add(settle)
		}
		if !settleUntil.IsZero() && !now.Before(settleUntil) {
			return out
		}
		if now.After(deadline) {
			t.Fatalf("topic %s: got %d records, want %d", topic, len(out), n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := c.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if !isConfigChange(r) {
				out = append(out, r)
			}
		})
	}
}

// topicExists asks broker b whether topic exists.
func topicExists(t *testing.T, b *embedded.Broker, topic string) bool {
	t.Helper()
	topics, err := kadm.NewClient(newClient(t, b)).ListTopics(context.Background(), topic)
	require.NoError(t, err)
	return topics.Has(topic)
}

// logBuffer collects a pipeline's or shipper's log for the test to read while it runs.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// requireDistinctIDs checks that no two audit records carry one id.
func requireDistinctIDs(t *testing.T, recs []*kgo.Record) {
	t.Helper()
	ids := map[string]bool{}
	for _, r := range recs {
		var ev struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal(r.Value, &ev))
		require.False(t, ids[ev.ID], "record %s twice", ev.ID)
		ids[ev.ID] = true
	}
}
