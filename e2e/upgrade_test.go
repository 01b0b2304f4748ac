package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
	"github.com/kaudit/kaudit/topology/embedded"
)

// legacyLoop is the topic through which kaudit's dedup group sent
// requests to its table before the re-key group.
const legacyLoop = "kaudit-dedup-loop"

// oldLayout leaves the broker as an earlier kaudit would have: group
// kaudit-dedup has read the lines in done from the raw topic and
// committed, and the request in the line looped is still unread on its
// loop topic. Both topics have 3 partitions, not topics.partitions (8):
// the old loop took the raw topic's count. rekeyAt, if set, commits
// offsets for kaudit-rekey too, from kaudit-dedup's.
func oldLayout(t *testing.T, b *embedded.Broker, cfg *topology.Config, done []string, looped string, rekeyAt func(int64) int64) {
	t.Helper()
	ctx := context.Background()
	adm := kadm.NewClient(newClient(t, b))
	_, err := adm.CreateTopic(ctx, 3, 1, nil, cfg.Topics.Raw)
	require.NoError(t, err)
	_, err = adm.CreateTopic(ctx, 3, 1, nil, legacyLoop)
	require.NoError(t, err)
	produceLines(t, newClient(t, b), cfg.Topics.Raw, done)
	ends, err := adm.ListEndOffsets(ctx, cfg.Topics.Raw)
	require.NoError(t, err)
	commit := func(g goka.Group, at func(int64) int64) {
		var offs kadm.Offsets
		ends.Each(func(o kadm.ListedOffset) { offs.AddOffset(o.Topic, o.Partition, at(o.Offset), -1) })
		resp, err := adm.CommitOffsets(ctx, string(g), offs)
		require.NoError(t, err)
		require.NoError(t, resp.Error())
	}
	commit(topology.DedupGroup, func(o int64) int64 { return o })
	if rekeyAt != nil {
		commit(topology.RekeyGroup, rekeyAt)
	}
	leaveRequest(t, b, cfg, legacyLoop, looped)
}

// oldRequests leaves the request in line on the requests topic, through
// which an earlier kaudit's dedup group sent kept requests to its audit
// group, unread by that group.
func oldRequests(t *testing.T, b *embedded.Broker, cfg *topology.Config, line string) {
	t.Helper()
	_, err := kadm.NewClient(newClient(t, b)).CreateTopic(context.Background(), 3, 1, nil, cfg.Topics.Requests)
	require.NoError(t, err)
	leaveRequest(t, b, cfg, cfg.Topics.Requests, line)
}

// leaveRequest writes the request in line to topic as an earlier kaudit
// did: parsed, Avro, keyed by connection.
func leaveRequest(t *testing.T, b *embedded.Broker, cfg *topology.Config, topic, line string) {
	t.Helper()
	r, err := schemas.ParseLine([]byte(line), schemas.ParseOptions{Cluster: cfg.Cluster.ID, Location: time.UTC})
	require.NoError(t, err)
	em, err := goka.NewEmitter(b.Addrs(), goka.Stream(topic), new(schemas.RequestLogCodec))
	require.NoError(t, err)
	require.NoError(t, em.EmitSync(schemas.ConnKey(r.Cluster, r.Connection), r))
	require.NoError(t, em.Finish())
}

// methodsOn returns "method resource" of each audit record in recs.
func methodsOn(t *testing.T, recs []*kgo.Record) []string {
	t.Helper()
	var got []string
	for _, r := range recs {
		var ev struct {
			Data struct{ MethodName, ResourceName string }
		}
		require.NoError(t, json.Unmarshal(r.Value, &ev))
		got = append(got, ev.Data.MethodName+" "+ev.Data.ResourceName)
	}
	return got
}

// TestUpgradeFromLoopLayout starts kaudit where an earlier one stopped.
// kaudit must audit the request left on the requests topic, apply the
// request left on the loop topic, read the raw topic from where
// kaudit-dedup stopped rather than from its start, drop
// kaudit-dedup's raw offsets, and give the rekeyed stream and the table
// the old loop's partition count, which the loop must share with them.
// The same must come of a start after one that stopped between carrying
// the offsets over and deleting them, of one after going back to the
// older kaudit for a while (kaudit-rekey's offsets behind), and of one
// right after an old instance crashed, whose membership kaudit waits out.
func TestUpgradeFromLoopLayout(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		name    string
		rekeyAt func(int64) int64
		crashed bool
	}{
		{"first start", nil, false},
		{"offsets carried over, not deleted", func(o int64) int64 { return o }, false},
		{"back from the older kaudit", func(int64) int64 { return 0 }, false},
		{"an old instance just crashed", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testUpgrade(t, tc.rekeyAt, tc.crashed) })
	}
}

// oldMemberOpts make a client a member of kaudit-dedup on the raw topic,
// as the earlier kaudit's instances were.
func oldMemberOpts(cfg *topology.Config) []kgo.Opt {
	return []kgo.Opt{kgo.ConsumerGroup(string(topology.DedupGroup)), kgo.ConsumeTopics(cfg.Topics.Raw)}
}

// joined polls cl until its group is stable.
func joined(t *testing.T, adm *kadm.Client, cl *kgo.Client) {
	t.Helper()
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		cl.PollFetches(ctx)
		gs, err := adm.DescribeGroups(context.Background(), string(topology.DedupGroup))
		return err == nil && gs[string(topology.DedupGroup)].State == "Stable"
	}, 30*time.Second, 100*time.Millisecond)
}

// crashedMember leaves an old member that stopped without leaving the
// group (static membership does not leave on close), as a killed instance
// does; the broker drops it after 6 s.
func crashedMember(t *testing.T, b *embedded.Broker, cfg *topology.Config) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, b))
	old, err := kgo.NewClient(append(oldMemberOpts(cfg), kgo.SeedBrokers(b.Addrs()...),
		kgo.InstanceID("old-kaudit-0"), kgo.SessionTimeout(6*time.Second))...)
	require.NoError(t, err)
	joined(t, adm, old)
	old.Close()
	gs, err := adm.DescribeGroups(context.Background(), string(topology.DedupGroup))
	require.NoError(t, err)
	require.Len(t, gs[string(topology.DedupGroup)].Members, 1, "the crashed member is still in the group")
}

func testUpgrade(t *testing.T, rekeyAt func(int64) int64, crashed bool) {
	b := startBroker(t)
	cfg := httpConfig(b)
	c := newClient(t, b)
	adm := kadm.NewClient(c)

	alice := demo.Conn{ID: demo.ConnID("10.0.0.11", 9094, "10.1.60.166", 53226, 1), Principal: "User:app-7",
		ClientID: "client-33", Software: "apache-kafka-java/3.8.0"}
	bob := demo.Conn{ID: demo.ConnID("10.0.0.12", 9094, "10.1.60.167", 40022, 2), Principal: "User:billing",
		ClientID: "client-9", Software: "librdkafka/2.5.0"}
	at := time.Date(2025, 3, 14, 9, 7, 38, 0, time.UTC)
	var done []string
	for i := range 6 { // audited by the earlier kaudit: no record again
		done = append(done, demo.CreateTopics(at.Add(time.Duration(i)*time.Second), alice, int32(1+i), fmt.Sprintf("old-%d", i), "", 0, ""))
	}
	oldLayout(t, b, &cfg, done, demo.Produce(at.Add(10*time.Second), bob, 2, "orders", 0, 100), rekeyAt)
	oldRequests(t, b, &cfg, demo.CreateTopics(at.Add(11*time.Second), bob, 3, "kept", "", 0, ""))
	if crashed {
		crashedMember(t, b, &cfg)
	}

	startPipeline(t, cfg)
	produceLines(t, c, cfg.Topics.Raw, []string{demo.CreateTopics(at.Add(20*time.Second), alice, 9, "payments", "", 0, "")})

	crn := "crn:///kafka=" + cfg.Cluster.ID + "/topic="
	require.ElementsMatch(t, []string{"kafka.Produce " + crn + "orders", "kafka.CreateTopics " + crn + "kept", "kafka.CreateTopics " + crn + "payments"},
		methodsOn(t, consumeN(t, b, cfg.Topics.Audit, 3, 3*time.Second)))

	ctx := context.Background()
	td, err := adm.ListTopics(ctx, cfg.Topics.Rekeyed, string(topology.DedupTable))
	require.NoError(t, err)
	require.Len(t, td, 2)
	for _, d := range td {
		require.Len(t, d.Partitions, 3, d.Topic)
	}
	dedupOffsets, err := adm.FetchOffsets(ctx, string(topology.DedupGroup))
	require.NoError(t, err)
	_, ok := dedupOffsets.Offsets()[cfg.Topics.Raw]
	require.False(t, ok, "kaudit-dedup's raw offsets are dropped")
	rekey, err := adm.FetchOffsets(ctx, string(topology.RekeyGroup))
	require.NoError(t, err)
	var read int64
	for _, o := range rekey.Offsets()[cfg.Topics.Raw] {
		read += o.At
	}
	require.EqualValues(t, len(done)+1, read, "the re-key group went on from kaudit-dedup's offsets")
}

// TestOldLoopDeletedWhileRunning: while the requests topic exists, kaudit
// audits what an older instance still sends to it. The old loop and
// requests topics, deleted under a running kaudit, must not stop it for
// good: processors rebuilt after that (here after a broker restart) no
// longer read them, and the requests topic is not made again.
func TestOldLoopDeletedWhileRunning(t *testing.T) {
	skipShort(t)
	opts := embedded.Options{Listen: fmt.Sprintf("127.0.0.1:%d", freePort(t)), DataDir: filepath.Join(t.TempDir(), "kafka")}
	b, err := embedded.Start(opts)
	require.NoError(t, err)
	cfg := httpConfig(b)
	alice := demo.Conn{ID: demo.ConnID("10.0.0.11", 9094, "10.1.60.166", 53226, 1), Principal: "User:app-7"}
	at := time.Date(2025, 3, 14, 9, 7, 38, 0, time.UTC)
	oldLayout(t, b, &cfg, nil, demo.Produce(at, alice, 2, "orders", 0, 100), nil)
	oldRequests(t, b, &cfg, demo.CreateTopics(at, alice, 1, "kept", "", 0, ""))
	p, stop := runPipeline(t, cfg)
	waitReady(t, p)
	consumeN(t, b, cfg.Topics.Audit, 2, 0) // the loop's Produce, the kept CreateTopics
	// An older instance that still runs keeps sending kept requests to the
	// requests topic: the drain audits those too, not only what was there
	// at the start.
	leaveRequest(t, b, &cfg, cfg.Topics.Requests, demo.CreateTopics(at.Add(500*time.Millisecond), alice, 2, "late", "", 0, ""))
	crn := "crn:///kafka=" + cfg.Cluster.ID + "/topic="
	require.ElementsMatch(t, []string{"kafka.Produce " + crn + "orders", "kafka.CreateTopics " + crn + "kept", "kafka.CreateTopics " + crn + "late"},
		methodsOn(t, consumeN(t, b, cfg.Topics.Audit, 3, 0)))

	resp, err := kadm.NewClient(newClient(t, b)).DeleteTopics(context.Background(), legacyLoop, cfg.Topics.Requests)
	require.NoError(t, err)
	require.NoError(t, resp.Error())
	b.Close()
	time.Sleep(time.Second) // the pipeline's clients notice the broker is gone
	b, err = embedded.Start(opts)
	require.NoError(t, err)
	defer b.Close()
	produceLines(t, newClient(t, b), cfg.Topics.Raw, []string{demo.CreateTopics(at.Add(time.Second), alice, 3, "payments", "", 0, "")})
	consumeN(t, b, cfg.Topics.Audit, 4, 0)
	// Without a rebuild this would test nothing: before the fix, the
	// rebuilt processors failed for good on the missing topic.
	require.GreaterOrEqual(t, scrapeCounter(t, p, "kaudit_restarts_total"), float64(1), "the broker restart rebuilt the processors")
	require.False(t, topicExists(t, b, legacyLoop), "the rebuild does not create the deleted loop topic again")
	require.False(t, topicExists(t, b, cfg.Topics.Requests), "nor the requests topic")
	stop()
}
