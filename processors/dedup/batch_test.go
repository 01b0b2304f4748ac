package dedup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
)

func TestBatcherAbsorbs(t *testing.T) {
	known := &schemas.ConnState{
		Cluster: cluster, Connection: conn, Epoch: t0, LastSeen: t0, MaxCorrelationID: 10,
		FirstProduce: &schemas.FirstRequest{SourceOffset: 1},
	}
	p := func(corr int32, offset int64) *schemas.RequestLog {
		r := produce(1, offset, 100, "orders")
		r.CorrelationID = corr
		return r
	}
	denied := p(12, 5)
	denied.ErrorCode = 29
	fetchLine := fetch(1, 6, 10, "orders")
	for _, tc := range []struct {
		name   string
		known  *schemas.ConnState
		r      *schemas.RequestLog
		absorb bool
	}{
		{"repeat produce of a known connection", known, p(11, 2), true},
		{"unknown connection goes to the owner", nil, p(11, 2), false},
		{"first fetch still goes to the owner", known, fetchLine, false},
		{"denials go to the owner, for prompt denial reports", known, denied, false},
		{"a replay of the first line goes to the owner", known, p(11, 1), false},
		{"a possible new connection goes to the owner", known, p(-20000, 3), false},
		{"admin requests always go to the owner", known, createTopics(1, 4), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &Batcher{Rules: Rules{TTL: DefaultTTL}, Known: func(string) *schemas.ConnState { return tc.known }}
			full, ok := b.absorb(tc.r, "k")
			require.Equal(t, tc.absorb, ok)
			require.Nil(t, full)
		})
	}
	var nilBatcher *Batcher
	_, ok := nilBatcher.absorb(p(11, 2), "k")
	require.False(t, ok, "no batcher, no batching")
}

func TestBatchesFoldIntoState(t *testing.T) {
	known := &schemas.ConnState{Cluster: cluster, Connection: conn, Epoch: t0, LastSeen: t0, FirstProduce: &schemas.FirstRequest{SourceOffset: 1}}
	b := &Batcher{Rules: Rules{TTL: DefaultTTL}, Known: func(string) *schemas.ConnState { return known }}
	var full *schemas.RequestLog
	for i := range BatchMax {
		r := produce(i, int64(2+i), 100, "orders", "payments")
		r.TopicBytes = []int64{60, 40}
		r.CorrelationID = int32(20 + i)
		var ok bool
		full, ok = b.absorb(r, "k")
		require.True(t, ok)
		if i < BatchMax-1 {
			require.Nil(t, full, "step %d", i)
		}
	}
	require.NotNil(t, full, "a full batch is sent at once")
	require.Empty(t, b.Due(true))
	require.EqualValues(t, BatchMax, full.BatchProduce)
	require.EqualValues(t, 100*BatchMax, full.RecordBytes)
	require.EqualValues(t, 20+BatchMax-1, full.CorrelationID)

	st := applyBatch(known, full)
	require.EqualValues(t, BatchMax, st.SuppressedProduce)
	require.EqualValues(t, BatchMax, st.Requests)
	require.EqualValues(t, 100*BatchMax, st.SuppressedBytes)
	require.EqualValues(t, 20+BatchMax-1, st.MaxCorrelationID)
	require.Len(t, st.Topics, 2)
	require.EqualValues(t, BatchMax, st.Topics[0].Total.Produce)
	require.EqualValues(t, 60*BatchMax, st.Topics[0].Total.Bytes)
	require.EqualValues(t, 40*BatchMax, st.Topics[1].Pending.Bytes)
	require.Equal(t, t0.Add(time.Duration(BatchMax-1)*time.Second), st.LastSeen)

	// A partial batch waits for Due.
	_, ok := b.absorb(produce(2000, 9999, 5, "orders"), "k")
	require.True(t, ok)
	require.Empty(t, b.Due(false), "younger than BatchAge")
	due := b.Due(true)
	require.Len(t, due, 1)
	require.EqualValues(t, 1, due["k"].BatchProduce)
	require.Nil(t, applyBatch(nil, due["k"]).FirstProduce, "an evicted connection starts over without a first record")
}

// Age sets when a partial batch is due, and MaxPending bounds the
// connections batching at once: a connection beyond it is not batched.
func TestBatcherAgeAndMaxPending(t *testing.T) {
	known := &schemas.ConnState{Cluster: cluster, Connection: conn, Epoch: t0, LastSeen: t0, FirstProduce: &schemas.FirstRequest{SourceOffset: 1}}
	b := &Batcher{Rules: Rules{TTL: DefaultTTL}, Age: time.Nanosecond, MaxPending: 2,
		Known: func(string) *schemas.ConnState { return known }}
	for i, key := range []string{"a", "b", "a"} {
		_, ok := b.absorb(produce(i, int64(2+i), 5, "orders"), key)
		require.True(t, ok, key)
	}
	_, ok := b.absorb(produce(3, 5, 5, "orders"), "c")
	require.False(t, ok, "a third connection goes to the owner")
	time.Sleep(time.Millisecond)
	due := b.Due(false)
	require.Len(t, due, 2, "older than Age")
	require.EqualValues(t, 2, due["a"].BatchProduce)
	_, ok = b.absorb(produce(4, 6, 5, "orders"), "c")
	require.True(t, ok, "room again once the batches were sent")
}

// Due sends the batches that are due, oldest first, and keeps the rest
// open; a batch sent early and reopened is sent once.
func TestBatcherDueInOpeningOrder(t *testing.T) {
	known := &schemas.ConnState{Cluster: cluster, Connection: conn, Epoch: t0, LastSeen: t0, FirstProduce: &schemas.FirstRequest{SourceOffset: 1}}
	b := &Batcher{Rules: Rules{TTL: DefaultTTL}, Known: func(string) *schemas.ConnState { return known }}
	for i, key := range []string{"a", "b", "c", "a"} {
		_, ok := b.absorb(produce(i, int64(2+i), 5, "orders"), key)
		require.True(t, ok, key)
	}
	b.pending["a"].since = time.Now().Add(-2 * BatchAge) // opened first, due
	b.pending["b"].since = time.Now().Add(-2 * BatchAge)
	due := b.Due(false)
	require.Len(t, due, 2)
	require.EqualValues(t, 2, due["a"].BatchProduce)
	require.EqualValues(t, 1, due["b"].BatchProduce)
	require.Len(t, b.opened, 1, "c is still open")

	_, ok := b.absorb(produce(5, 7, 5, "orders"), "a")
	require.True(t, ok, "a opens a new batch")
	due = b.Due(true)
	require.Len(t, due, 2)
	require.EqualValues(t, 1, due["a"].BatchProduce)
	require.EqualValues(t, 1, due["c"].BatchProduce)
	require.Empty(t, b.opened)
	require.Empty(t, b.Due(true))
}
