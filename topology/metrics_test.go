package topology

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kaudit/kaudit/topology/embedded"
)

// TestGroupOffsets reads lag and commits from a real broker: the end
// offsets of several topics come from one request, and a topic that does
// not exist, or a partition without a commit, are handled as documented.
func TestGroupOffsets(t *testing.T) {
	b, err := embedded.Start(embedded.Options{})
	require.NoError(t, err)
	defer b.Close()
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for topic, parts := range map[string]int32{"in-a": 3, "in-b": 2} {
		_, err := adm.CreateTopic(ctx, parts, 1, nil, topic)
		require.NoError(t, err)
	}
	for _, w := range []struct {
		topic string
		part  int32
		n     int
	}{{"in-a", 0, 5}, {"in-a", 1, 2}, {"in-b", 0, 4}, {"in-b", 1, 1}} {
		for range w.n {
			require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: w.topic, Partition: w.part, Value: []byte("x")}).FirstErr())
		}
	}
	commit := func(group string, at map[string]map[int32]int64) {
		var os kadm.Offsets
		for topic, parts := range at {
			for p, o := range parts {
				os.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1})
			}
		}
		_, err := adm.CommitOffsets(ctx, group, os)
		require.NoError(t, err)
	}
	commit("g", map[string]map[int32]int64{"in-a": {0: 3, 1: 2}, "in-b": {0: 4}})
	commit("h", map[string]map[int32]int64{"in-b": {1: 0}})

	cfg := Defaults()
	cfg.Brokers = b.Addrs()
	client, err := sarama.NewClient(cfg.Brokers, cfg.SaramaConfig())
	require.NoError(t, err)
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	require.NoError(t, err)

	var listOffsets atomic.Int32
	b.Cluster().ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		listOffsets.Add(1)
		return nil, nil, false // counted, then handled by the broker
	})
	lag, committed := groupOffsets(admin, client, map[goka.Group][]string{
		"g": {"in-a", "in-b", "missing"},
		"h": {"in-b"},
	})
	k := func(g, topic string, p int32) lagKey { return lagKey{g, topic, p} }
	require.Equal(t, map[lagKey]int64{
		k("g", "in-a", 0): 2, k("g", "in-a", 1): 0, k("g", "in-a", 2): 0,
		k("g", "in-b", 0): 0, k("g", "in-b", 1): 1,
		k("h", "in-b", 0): 4, k("h", "in-b", 1): 1, // no commit on in-b/0: all of it
	}, lag)
	require.Equal(t, map[lagKey]int64{
		k("g", "in-a", 0): 3, k("g", "in-a", 1): 2, k("g", "in-b", 0): 4,
		k("h", "in-b", 1): 0,
	}, committed, "partitions without a commit are left out")
	require.EqualValues(t, 1, listOffsets.Load(), "one ListOffsets request for the one broker's 5 partitions")
	require.Equal(t, map[streamPartition]int64{{"in-a", 0}: 5, {"in-a", 2}: 0, {"in-b", 1}: 1},
		endOffsets(client, map[string][]int32{"in-a": {0, 2}, "in-b": {1}, "missing": {0}}),
		"a topic that does not exist is left out")
}
