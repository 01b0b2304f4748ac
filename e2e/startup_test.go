package e2e

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kaudit/kaudit/processors/route"
	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
	"github.com/kaudit/kaudit/topology/embedded"
)

// TestStartupChecks creates topics the wrong way before kaudit starts and
// checks that Run refuses to start with an error that says what is wrong.
func TestStartupChecks(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, b *embedded.Broker, adm *kadm.Client, cfg *topology.Config)
		wantErr []string
	}{
		{"table not compacted", func(t *testing.T, _ *embedded.Broker, adm *kadm.Client, cfg *topology.Config) {
			_, err := adm.CreateTopic(context.Background(), 8, 1, map[string]*string{"cleanup.policy": ptr("delete")}, string(topology.DedupTable))
			require.NoError(t, err)
		}, []string{"topic kaudit-dedup-table has cleanup.policy=delete", "needs compact"}},
		{"not co-partitioned", func(t *testing.T, _ *embedded.Broker, adm *kadm.Client, cfg *topology.Config) {
			// The dedup table must match the rekeyed stream; the raw topic
			// may have any count.
			_, err := adm.CreateTopic(context.Background(), 3, 1, nil, cfg.Topics.Rekeyed)
			require.NoError(t, err)
			_, err = adm.CreateTopic(context.Background(), 8, 1, map[string]*string{"cleanup.policy": ptr("compact")}, string(topology.DedupTable))
			require.NoError(t, err)
		}, []string{"topic kaudit-dedup-table has 8 partitions but must have 3, like kaudit-rekeyed", "co-partitioned"}},
		{"an older kaudit still reads the raw topic", func(t *testing.T, b *embedded.Broker, adm *kadm.Client, cfg *topology.Config) {
			c := demo.Conn{ID: demo.ConnID("10.0.0.11", 9094, "10.1.60.166", 53226, 1), Principal: "User:app-7"}
			at := time.Date(2025, 3, 14, 9, 7, 38, 0, time.UTC)
			oldLayout(t, b, cfg, []string{demo.CreateTopics(at, c, 1, "orders", "", 0, "")}, demo.Produce(at, c, 2, "orders", 0, 100), nil)
			old := newClient(t, b, oldMemberOpts(cfg)...)
			joined(t, adm, old)
		}, []string{"reads kafka-request-log: an older kaudit is still running", "stop every instance"}},
		{"destination retention differs", func(t *testing.T, _ *embedded.Broker, adm *kadm.Client, cfg *topology.Config) {
			cfg.Routing = route.Config{
				Routes:       []route.OrderedRoute{{Name: "all", Topics: []string{"audit-short"}}},
				Destinations: map[string]route.Destination{"audit-short": {RetentionMs: 3600000}},
			}
			_, err := adm.CreateTopic(context.Background(), 8, 1, map[string]*string{"retention.ms": ptr("60000")}, "audit-short")
			require.NoError(t, err)
		}, []string{"topic audit-short has retention.ms=60000, but the routing config asks for 3600000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t)
			cfg := topology.Defaults()
			cfg.Brokers = b.Addrs()
			adm := kadm.NewClient(newClient(t, b))
			tc.prepare(t, b, adm, &cfg)
			p, err := topology.New(cfg, topology.WithLogger(testLogger(t)))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err = p.Run(ctx)
			require.Error(t, err)
			for _, w := range tc.wantErr {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// TestBrokerRestart restarts the broker (same port, same data dir) under a
// running pipeline: records from before and after the restart all arrive.
func TestBrokerRestart(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	port := freePort(t)
	opts := embedded.Options{Listen: fmt.Sprintf("127.0.0.1:%d", port), DataDir: filepath.Join(dir, "kafka")}
	b, err := embedded.Start(opts)
	require.NoError(t, err)
	cfg := httpConfig(b)
	p, stop := runPipeline(t, cfg)
	waitReady(t, p)

	var before, after []string
	for i := range 20 {
		before = append(before, demo.Produce(t0, conn(i, "User:app"), 1, "orders", 0, 10))
		after = append(after, demo.Produce(t0.Add(time.Minute), conn(100+i, "User:app"), 1, "orders", 0, 10))
	}
	produceLines(t, newClient(t, b), cfg.Topics.Raw, before)
	consumeN(t, b, cfg.Topics.Audit, 20, 0)

	b.Close()
	time.Sleep(time.Second) // the pipeline's clients notice the broker is gone
	b, err = embedded.Start(opts)
	require.NoError(t, err)
	defer b.Close()
	produceLines(t, newClient(t, b), cfg.Topics.Raw, after)
	recs := consumeN(t, b, cfg.Topics.Audit, 40, 2*time.Second)
	require.GreaterOrEqual(t, len(recs), 40)
	seen := map[string]bool{}
	for _, r := range recs {
		seen[string(r.Key)] = true
	}
	require.Len(t, seen, 1, "all records are about topic orders")
	stop()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestDeletedTopicCreatedAgain deletes a destination under a running
// kaudit, on a broker that creates topics on demand as Kafka does by
// default. kaudit's clients must not have the broker create it with its
// defaults (one partition, the broker's retention): the rebuilt processors
// create it again as configured, and the records written meanwhile arrive.
func TestDeletedTopicCreatedAgain(t *testing.T) {
	skipShort(t)
	b := startBrokerWith(t, embedded.Options{AutoCreateTopics: true, Partitions: 1})
	const dest, retention = "audit-kept", "7776000000" // 90 days
	cfg := httpConfig(b)
	cfg.Routing = route.Config{
		Routes:       []route.OrderedRoute{{Name: "all", Topics: []string{dest}}},
		Destinations: map[string]route.Destination{dest: {RetentionMs: 7776000000}},
	}
	p := startPipeline(t, cfg)
	waitReady(t, p)

	wave := func(first int) []string {
		var lines []string
		for i := range 20 {
			lines = append(lines, demo.Produce(t0, conn(first+i, "User:app"), 1, "orders", 0, 10))
		}
		return lines
	}
	produceLines(t, newClient(t, b), cfg.Topics.Raw, wave(0))
	consumeN(t, b, dest, 20, 0)

	adm := kadm.NewClient(newClient(t, b))
	ctx := context.Background()
	_, err := adm.DeleteTopics(ctx, dest)
	require.NoError(t, err)
	produceLines(t, newClient(t, b), cfg.Topics.Raw, wave(100))
	recs := consumeN(t, b, dest, 20, 2*time.Second)
	require.Len(t, recs, 20, "the second wave, on the topic made again")
	require.GreaterOrEqual(t, scrapeCounter(t, p, "kaudit_restarts_total"), 1.0, "the failed emit rebuilt the processors")

	details, err := adm.ListTopics(ctx, dest)
	require.NoError(t, err)
	require.Len(t, details[dest].Partitions, cfg.Topics.Partitions, "created by kaudit, not by the broker's default of 1")
	rcs, err := adm.DescribeTopicConfigs(ctx, dest)
	require.NoError(t, err)
	rc, err := rcs.On(dest, nil)
	require.NoError(t, err)
	got := map[string]string{}
	for _, c := range rc.Configs {
		got[c.Key] = c.MaybeValue()
	}
	require.Equal(t, retention, got["retention.ms"])
}
