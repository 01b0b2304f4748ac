package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
	"github.com/kaudit/kaudit/topology/embedded"
	"github.com/kaudit/kaudit/topology/ship"
)

// shipLog is a broker request log in a temp dir: it appends lines as
// log4j does and rotates by rename, and remembers what it wrote.
type shipLog struct {
	t       *testing.T
	live    string
	written []string
	seq     int
}

// write appends n lines spread over 7 connections, a Produce or a Fetch
// each, with a sequence number in the correlation id.
func (l *shipLog) write(n int) {
	l.t.Helper()
	f, err := os.OpenFile(l.live, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(l.t, err)
	var sb strings.Builder
	for range n {
		l.seq++
		c := conn(l.seq%7, "User:orders-svc")
		ts := t0.Add(time.Duration(l.seq) * time.Millisecond)
		line := demo.Produce(ts, c, int32(l.seq), "orders", 0, 100)
		if l.seq%2 == 0 {
			line = demo.Fetch(ts, c, int32(l.seq), "orders", 0, 100)
		}
		l.written = append(l.written, line)
		sb.WriteString(line + "\n")
	}
	_, err = f.WriteString(sb.String())
	require.NoError(l.t, err)
	require.NoError(l.t, f.Close())
}

func (l *shipLog) rotate(hour int) {
	l.t.Helper()
	require.NoError(l.t, os.Rename(l.live, fmt.Sprintf("%s.2024-10-25-%02d", l.live, hour)))
}

// createTopic makes the raw topic with several partitions, as kaudit run
// would, so that keying by connection matters.
func createTopic(t *testing.T, b *embedded.Broker, topic string, partitions int32) {
	t.Helper()
	cfg := topology.Defaults()
	cfg.Brokers = b.Addrs()
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, cfg.SaramaConfig())
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false))
}

// runShipper starts `kaudit ship`'s parts on the log; the returned func
// stops it gracefully and checks it stopped without error.
func runShipper(t *testing.T, b *embedded.Broker, topic, live, checkpoint string, log *slog.Logger) (*ship.Shipper, func()) {
	t.Helper()
	cfg := topology.Defaults()
	cfg.Brokers = b.Addrs()
	sink, err := ship.NewKafkaSink(ship.KafkaOptions{
		Brokers: cfg.Brokers, Topic: topic, Sarama: cfg.SaramaConfig(), Log: log,
		Headers: map[string]string{schemas.HeaderCluster: "lkc-shipped", ship.HeaderBrokerID: "1", ship.HeaderHost: "broker-1"},
	})
	require.NoError(t, err)
	require.True(t, sink.Idempotent, "the embedded broker supports idempotent producers")
	s, err := ship.New(ship.Options{
		File: live, Checkpoint: checkpoint, BatchLines: 50, FlushInterval: 10 * time.Millisecond,
		PollInterval: 10 * time.Millisecond, Log: testLogger(t),
	}, sink)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("shipper did not stop within 30s")
		}
		require.NoError(t, sink.Close())
	}
	t.Cleanup(stop)
	return s, stop
}

// waitShipped waits until the shipper's acknowledged count reaches n.
func waitShipped(t *testing.T, s *ship.Shipper, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return s.Stats().Shipped >= n }, 30*time.Second, 5*time.Millisecond,
		"want %d lines acknowledged", n)
}

// TestShipRotationAndRestart ships a request log that is rotated while the
// shipper runs, and again, with more lines, while it is stopped. After the
// restart every line is in the raw topic exactly once (a graceful stop
// ships nothing twice), each connection's lines on one partition in the
// order written, with the shipper's headers.
func TestShipRotationAndRestart(t *testing.T) {
	skipShort(t)
	b := startBroker(t)
	const topic = "kafka-request-log-ship"
	createTopic(t, b, topic, 4)
	l := &shipLog{t: t, live: filepath.Join(t.TempDir(), "kafka-request.log")}
	checkpoint := filepath.Join(t.TempDir(), "ship.checkpoint")

	l.write(120)
	s, stop := runShipper(t, b, topic, l.live, checkpoint, testLogger(t))
	waitShipped(t, s, 120)
	l.write(80) // not necessarily read before the rotation: drained from the old file
	l.rotate(9)
	l.write(100)
	waitShipped(t, s, 300)
	l.write(30)
	stop()
	require.EqualValues(t, 1, s.Stats().Rotations)

	// While stopped: more lines in the checkpointed file, then two
	// rotations.
	l.write(40)
	l.rotate(10)
	l.write(60)
	l.rotate(11)
	l.write(25)

	s, stop = runShipper(t, b, topic, l.live, checkpoint, testLogger(t))
	waitShipped(t, s, 40+60+25+(330-300))
	stop()

	recs := consumeN(t, b, topic, len(l.written), 200*time.Millisecond)
	require.Len(t, recs, len(l.written), "no line lost, none shipped twice")

	got := map[string]int{}
	perConn := map[string][]string{}
	partition := map[string]int32{}
	for _, r := range recs {
		got[string(r.Value)]++
		key := string(r.Key)
		require.Equal(t, key, string(ship.ConnectionID(r.Value)), "keyed by connection id")
		if p, ok := partition[key]; ok {
			require.Equal(t, p, r.Partition, "one connection, one partition")
		}
		partition[key] = r.Partition
		perConn[key] = append(perConn[key], string(r.Value))
		require.Equal(t, map[string]string{schemas.HeaderCluster: "lkc-shipped", ship.HeaderBrokerID: "1", ship.HeaderHost: "broker-1"}, headers(r))
	}
	dups := 0
	for _, w := range l.written {
		require.Contains(t, got, w, "line lost")
		dups += got[w] - 1
	}
	require.Zero(t, dups, "duplicates after a graceful stop")
	require.Len(t, got, len(l.written))

	wantPerConn := map[string][]string{}
	for _, w := range l.written {
		k := string(ship.ConnectionID([]byte(w)))
		wantPerConn[k] = append(wantPerConn[k], w)
	}
	require.Len(t, wantPerConn, 7)
	require.Equal(t, wantPerConn, perConn, "each connection's lines in the order written")
}

// TestShipIntoPipeline ships lines into a running pipeline: kaudit reads
// them like any raw record, and the shipper's kaudit-cluster header names
// the cluster of the connection state it keeps and of the records' CRNs.
func TestShipIntoPipeline(t *testing.T) {
	skipShort(t)
	b := startBroker(t)
	cfg := httpConfig(b)
	p := startPipeline(t, cfg)

	l := &shipLog{t: t, live: filepath.Join(t.TempDir(), "kafka-request.log")}
	l.write(28) // 7 connections, each two Produce and two Fetch requests
	s, stop := runShipper(t, b, cfg.Topics.Raw, l.live, filepath.Join(t.TempDir(), "ship.checkpoint"), testLogger(t))
	waitShipped(t, s, 28)
	stop()

	recs := consumeN(t, b, cfg.Topics.Audit, 14, 200*time.Millisecond)
	require.Len(t, recs, 14, "the first Produce and Fetch of each connection")
	for _, r := range recs {
		var ev struct {
			Subject string            `json:"subject"`
			Data    schemas.AuditData `json:"data"`
		}
		require.NoError(t, json.Unmarshal(r.Value, &ev))
		require.Contains(t, []string{"kafka.Produce", "kafka.Fetch"}, ev.Data.MethodName)
		require.Contains(t, ev.Subject, "/kafka=lkc-shipped/", "CRNs name the header's cluster")
	}
	id := url.PathEscape(conn(3, "").ID)
	status := func(path string) int {
		resp, err := http.Get("http://" + p.HTTPAddr() + path)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return resp.StatusCode
	}
	require.Eventually(t, func() bool {
		return status("/v1/connections/"+id+"?cluster=lkc-shipped") == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "connection state kept under the header's cluster")
	require.Equal(t, http.StatusNotFound, status("/v1/connections/"+id), "not under the configured cluster")
}

func headers(r *kgo.Record) map[string]string {
	out := map[string]string{}
	for _, h := range r.Headers {
		out[h.Key] = string(h.Value)
	}
	return out
}

// TestShipWaitsForRawTopic starts the shipper before the raw topic exists,
// on a broker that creates topics on demand as Kafka does by default. The
// shipper must not have it created with the broker's defaults: it says
// why it waits, and ships every line once the topic is made.
func TestShipWaitsForRawTopic(t *testing.T) {
	skipShort(t)
	b := startBrokerWith(t, embedded.Options{AutoCreateTopics: true, Partitions: 1})
	const topic = "raw-later"
	l := &shipLog{t: t, live: filepath.Join(t.TempDir(), "kafka-request.log")}
	l.write(30)
	logs := &logBuffer{}
	s, stop := runShipper(t, b, topic, l.live, filepath.Join(t.TempDir(), "ship.checkpoint"), slog.New(slog.NewTextHandler(logs, nil)))
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "the first `kaudit run` does") },
		30*time.Second, 10*time.Millisecond, "the shipper says why it waits")
	require.False(t, topicExists(t, b, topic), "not created with the broker's defaults")
	require.Zero(t, s.Stats().Shipped)

	createTopic(t, b, topic, 4)
	waitShipped(t, s, 30)
	stop()
	recs := consumeN(t, b, topic, 30, time.Second)
	require.Len(t, recs, 30)
	got := make([]string, len(recs))
	for i, r := range recs {
		got[i] = string(r.Value)
	}
	require.ElementsMatch(t, l.written, got)
}
