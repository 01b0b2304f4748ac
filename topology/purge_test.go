package topology

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

func TestPurgeable(t *testing.T) {
	p, err := New(Defaults())
	require.NoError(t, err)
	want := map[string][]goka.Group{
		"kaudit-rekeyed":             {DedupGroup},
		"kaudit-access-by-topic":     {TopicsGroup},
		"kaudit-access-by-principal": {PrincipalsGroup},
	}
	require.Equal(t, want, purgeable(&p.cfg, p.Graphs()), "streams kaudit writes and reads; not the raw topic, the directory, the compacted topic ids or the outputs")
	p.drains.requests = true
	require.Equal(t, want, purgeable(&p.cfg, p.Graphs()), "an older layout's requests topic is only read")
}

// deleteRecorder is a ClusterAdmin whose DeleteRecords records its calls
// and answers with the error queued for the topic.
type deleteRecorder struct {
	sarama.ClusterAdmin
	calls []string
	errs  map[string]error
}

func (d *deleteRecorder) DeleteRecords(topic string, offsets map[int32]int64) error {
	for p, o := range offsets {
		d.calls = append(d.calls, fmt.Sprintf("%s/%d<%d", topic, p, o))
	}
	return d.errs[topic]
}

func TestPurgeDeletesWhatEveryReaderCommitted(t *testing.T) {
	const (
		a, b goka.Group = "group-a", "group-b"
	)
	streams := map[string][]goka.Group{"shared": {a, b}, "own": {a}}
	c := func(g goka.Group, topic string, part int32) lagKey { return lagKey{string(g), topic, part} }
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name      string
		done      map[streamPartition]int64 // purged before
		errs      map[string]error
		committed map[lagKey]int64
		at        time.Time
		again     map[lagKey]int64 // committed at the next interval
		want      []string
		wantDone  map[streamPartition]int64
	}{
		{
			name:      "lowest commit of the readers",
			committed: map[lagKey]int64{c(a, "shared", 0): 7, c(b, "shared", 0): 5, c(a, "own", 1): 9},
			want:      []string{"own/1<9", "shared/0<5"},
			wantDone:  map[streamPartition]int64{{"shared", 0}: 5, {"own", 1}: 9},
		},
		{
			name:      "a reader without a commit holds the partition",
			committed: map[lagKey]int64{c(a, "shared", 0): 7},
			wantDone:  map[streamPartition]int64{},
		},
		{
			name:      "groups that do not read the stream do not count",
			committed: map[lagKey]int64{c(a, "own", 0): 4, c(b, "own", 0): 2},
			want:      []string{"own/0<4"},
			wantDone:  map[streamPartition]int64{{"own", 0}: 4},
		},
		{
			name:      "nothing new since the last purge",
			done:      map[streamPartition]int64{{"own", 0}: 4},
			committed: map[lagKey]int64{c(a, "own", 0): 4},
			wantDone:  map[streamPartition]int64{{"own", 0}: 4},
		},
		{
			name:      "before the interval is up",
			committed: map[lagKey]int64{c(a, "own", 0): 4},
			at:        t0.Add(time.Second),
			wantDone:  map[streamPartition]int64{},
		},
		{
			name:      "purged further already: taken as done",
			errs:      map[string]error{"own": sarama.Wrap(sarama.ErrDeleteRecords, sarama.ErrOffsetOutOfRange)},
			committed: map[lagKey]int64{c(a, "own", 0): 4},
			want:      []string{"own/0<4"},
			wantDone:  map[streamPartition]int64{{"own", 0}: 4},
		},
		{
			name:      "not allowed: the stream is left to the broker's retention",
			errs:      map[string]error{"own": sarama.Wrap(sarama.ErrDeleteRecords, sarama.ErrTopicAuthorizationFailed)},
			committed: map[lagKey]int64{c(a, "own", 0): 4},
			again:     map[lagKey]int64{c(a, "own", 0): 6, c(a, "own", 1): 6},
			want:      []string{"own/0<4"}, // tried once, not every interval
			wantDone:  map[streamPartition]int64{},
		},
		{
			name:      "a failed delete is tried again next time",
			errs:      map[string]error{"own": errors.New("broker gone")},
			committed: map[lagKey]int64{c(a, "own", 0): 4},
			want:      []string{"own/0<4"},
			wantDone:  map[streamPartition]int64{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin := &deleteRecorder{errs: tc.errs}
			done := maps.Clone(tc.done)
			if done == nil {
				done = map[streamPartition]int64{}
			}
			pu := &purger{admin: admin, streams: maps.Clone(streams), every: 30 * time.Second, last: t0,
				log: slog.New(slog.NewTextHandler(io.Discard, nil)), done: done,
				gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "g"}, []string{"topic", "partition"})}
			at := tc.at
			if at.IsZero() {
				at = t0.Add(30 * time.Second)
			}
			pu.purge(at, tc.committed)
			if tc.again != nil {
				pu.purge(at.Add(pu.every), tc.again)
			}
			require.ElementsMatch(t, tc.want, admin.calls)
			require.Equal(t, tc.wantDone, pu.done)
		})
	}
}
