package access

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/processors/principals"
	"github.com/kaudit/kaudit/processors/topics"
	"github.com/kaudit/kaudit/schemas"
)

var t0 = time.Date(2024, 10, 25, 9, 0, 0, 0, time.UTC)

// deltas are 30 requests of one principal on two topics from 7
// connections, every fifth denied.
func deltas() []*schemas.AccessDelta {
	var out []*schemas.AccessDelta
	for i := range 30 {
		at := t0.Add(time.Duration(i) * time.Second)
		d := &schemas.AccessDelta{Cluster: "c", ResourceType: "TOPIC", Resource: []string{"orders", "payments"}[i%2],
			Principal: "User:a", Connection: fmt.Sprintf("10.0.0.1:9092-10.0.0.%d:4000-%d", i%7, i%7), ClientID: "app",
			Access: schemas.Access{Produce: 1, Bytes: int64(i), First: at, Last: at}}
		if i%5 == 0 {
			d.Access.Denied, d.Method, d.ErrorType = 1, "kafka.Produce", "TOPIC_AUTHORIZATION_FAILED"
		}
		out = append(out, d)
	}
	return append(out, &schemas.AccessDelta{Cluster: "c", ResourceType: "GROUP", Resource: "billing", Principal: "User:b",
		Connection: "10.0.0.1:9092-10.0.0.9:4000-1", Access: schemas.Access{Admin: 1, First: t0, Last: t0}})
}

// Merging the coalesced parts gives the summaries that folding the deltas
// one by one gives: coalescing changes how often the tables are written,
// not what they say.
func TestBufferCoalescesWithoutChangingSummaries(t *testing.T) {
	oneTopic := map[string]*schemas.TopicSummary{}
	onePrincipal := map[string]*schemas.PrincipalSummary{}
	var b Buffer
	for _, d := range deltas() {
		if d.ResourceType == "TOPIC" {
			k := schemas.TopicSummaryKey(d.Cluster, d.Resource)
			oneTopic[k] = topics.Fold(oneTopic[k], d)
		}
		onePrincipal[d.Principal] = principals.Fold(onePrincipal[d.Principal], d)
		b.Add(d)
	}
	ts, ps := b.Take()
	require.Len(t, ts, 2, "one part per topic")
	require.Len(t, ps, 2, "one part per principal")
	for k, part := range ts {
		require.Equal(t, oneTopic[k], topics.Merge(nil, part), k)
	}
	for k, part := range ps {
		got := principals.Merge(nil, part)
		want := onePrincipal[k]
		require.ElementsMatch(t, want.Connections, got.Connections, k)
		got.Connections, want.Connections = nil, nil
		require.Equal(t, want, got, k)
	}
	require.Len(t, ps["User:a"].Connections, 7)
	require.Len(t, ps["User:a"].Denials, 6)
	ts, ps = b.Take()
	require.Empty(t, ts, "taken parts are gone")
	require.Empty(t, ps)
}

// Merging parts one after another is merging their sum: a table that gets
// a flush every second ends where one big flush would leave it.
func TestMergeIsAdditive(t *testing.T) {
	ds := deltas()
	var first, second, all Buffer
	for i, d := range ds {
		all.Add(d)
		if i < len(ds)/2 {
			first.Add(d)
		} else {
			second.Add(d)
		}
	}
	_, p1 := first.Take()
	_, p2 := second.Take()
	_, pAll := all.Take()
	got := principals.Merge(principals.Merge(nil, p1["User:a"]), p2["User:a"])
	want := principals.Merge(nil, pAll["User:a"])
	require.Equal(t, want.Total, got.Total)
	require.Equal(t, want.Resources, got.Resources)
	require.Equal(t, want.Denials, got.Denials)
	require.ElementsMatch(t, want.Connections, got.Connections)
}
