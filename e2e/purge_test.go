package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
)

// TestInternalStreamsPurged runs kaudit on the embedded broker and checks
// that it deletes the records of its internal streams once the groups
// reading them have committed them, and nothing else: the raw topic and
// the dead letters keep every record (read back with kcat), every audit
// record arrives once, and a kaudit started after the purge goes on from
// its commits. With purging off, the streams keep everything.
func TestInternalStreamsPurged(t *testing.T) {
	skipShort(t)
	kcat := requireKcat(t)
	const conns = 30 // per wave
	for _, tc := range []struct {
		name     string
		interval time.Duration
	}{
		{"purged once committed", time.Second},
		{"purging off", -time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t)
			cfg := httpConfig(b)
			cfg.Topics.PurgeInterval = tc.interval
			adm := kadm.NewClient(newClient(t, b))
			p, stop := runPipeline(t, cfg)
			waitReady(t, p)
			cl := newClient(t, b)
			lines := append(requestWave(0, conns), "not a request-log line")
			produceLines(t, cl, cfg.Topics.Raw, lines)
			consumeN(t, b, cfg.Topics.Audit, 3*conns, 0)
			starts, ends := settledInternal(t, adm, cfg, tc.interval > 0)
			topic := cfg.Topics.Rekeyed
			require.Positive(t, ends[topic], "%s carried records", topic)
			if tc.interval > 0 {
				require.Equal(t, ends[topic], starts[topic], "%s keeps nothing that is processed", topic)
				out := runKcat(t, kcat, "-b", b.Addrs()[0], "-C", "-t", topic, "-o", "beginning", "-e", "-q")
				require.Empty(t, strings.TrimSpace(out), "kcat reads nothing left on %s", topic)
			} else {
				require.Zero(t, starts[topic], "%s keeps every record with purging off", topic)
			}
			// What kaudit only reads or only writes is never purged.
			count := func(topic string) int {
				out := runKcat(t, kcat, "-b", b.Addrs()[0], "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o\n")
				return len(strings.Fields(out))
			}
			require.Equal(t, len(lines), count(cfg.Topics.Raw), "the raw topic keeps every line")
			require.Equal(t, 1, count(cfg.Topics.DeadLetter), "the dead letter stays")

			// A kaudit started after the purge resumes at its commits,
			// which the purge never passes.
			stop()
			startPipeline(t, cfg)
			more := requestWave(conns, conns)
			produceLines(t, cl, cfg.Topics.Raw, more)
			recs := consumeN(t, b, cfg.Topics.Audit, 6*conns, 2*time.Second)
			require.Len(t, recs, 6*conns, "each wave's records, once")
			requireDistinctIDs(t, recs)
			starts2, ends2 := settledInternal(t, adm, cfg, tc.interval > 0)
			require.Greater(t, ends2[cfg.Topics.Rekeyed], ends[cfg.Topics.Rekeyed])
			if tc.interval < 0 {
				require.Zero(t, starts2[cfg.Topics.Rekeyed])
			}
			require.Equal(t, len(lines)+len(more), count(cfg.Topics.Raw))
		})
	}
}

// requestWave is the request log of n connections from first on. Each makes a
// Produce, a repeat of it, a Fetch and a CreateTopics: three records, and
// a batch of one repeat.
func requestWave(first, n int) []string {
	var lines []string
	for i := first; i < first+n; i++ {
		c := conn(i, "User:app")
		lines = append(lines,
			demo.Produce(t0, c, 1, "orders", 0, 100),
			demo.Produce(t0, c, 2, "orders", 0, 100),
			demo.Fetch(t0, c, 3, "orders", 0, 100),
			demo.CreateTopics(t0, c, 4, fmt.Sprintf("topic-%d", i), fmt.Sprintf("AAAAAAAAAAAAAAAAAAAA%02d", i%100), 0, ""))
	}
	return lines
}

// settledInternal waits until kaudit's internal streams are fully
// committed by the groups that read them, and, with wantPurged, deleted up
// to those commits. It returns, summed over partitions per stream, the
// offsets below which records are gone and the end offsets.
func settledInternal(t *testing.T, adm *kadm.Client, cfg topology.Config, wantPurged bool) (starts, ends map[string]int64) {
	t.Helper()
	readers := map[string]goka.Group{
		cfg.Topics.Rekeyed:       topology.DedupGroup,
		cfg.Topics.AccessByTopic: topology.TopicsGroup, cfg.Topics.AccessByPrincipal: topology.PrincipalsGroup,
	}
	internal := slices.Sorted(maps.Keys(readers))
	ctx := context.Background()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		starts, ends = map[string]int64{}, map[string]int64{}
		so, err := adm.ListStartOffsets(ctx, internal...)
		require.NoError(c, err)
		eo, err := adm.ListEndOffsets(ctx, internal...)
		require.NoError(c, err)
		for _, topic := range internal {
			committed, err := adm.FetchOffsets(ctx, string(readers[topic]))
			require.NoError(c, err)
			eo.Each(func(o kadm.ListedOffset) {
				if o.Topic != topic {
					return
				}
				ends[topic] += o.Offset
				got, _ := committed.Lookup(topic, o.Partition)
				assert.Equal(c, o.Offset, got.At, "%s/%d committed by %s", topic, o.Partition, readers[topic])
				start, _ := so.Lookup(topic, o.Partition)
				starts[topic] += start.Offset
				if wantPurged {
					assert.Equal(c, o.Offset, start.Offset, "%s/%d purged up to its commit", topic, o.Partition)
				}
			})
		}
	}, 60*time.Second, 500*time.Millisecond)
	return starts, ends
}
