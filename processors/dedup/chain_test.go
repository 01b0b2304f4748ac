package dedup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
)

func TestBatcherChain(t *testing.T) {
	newBatcher := func() *Batcher {
		return &Batcher{Rules: Rules{TTL: DefaultTTL}, Known: func(string) *schemas.ConnState { return nil }}
	}
	p := func(sec int, off int64, opts ...func(*schemas.RequestLog)) *schemas.RequestLog {
		r := produce(sec, off, 10, "orders")
		for _, o := range opts {
			o(r)
		}
		return r
	}
	corr := func(c int32) func(*schemas.RequestLog) { return func(r *schemas.RequestLog) { r.CorrelationID = c } }
	for _, tc := range []struct {
		name    string
		between func(b *Batcher)
		next    *schemas.RequestLog
		want    int64
	}{
		{"the next request names the head", nil, p(2, 7), 4},
		{"admin requests chain too", nil, createTopics(2, 7), 4},
		{"a request read on another partition starts a chain", nil, p(2, 7, partition(1)), 0},
		{"a rebalance starts every chain again", (*Batcher).NewSession, p(2, 7), 0},
		{"so does a rebuild", (*Batcher).Forget, p(2, 7), 0},
		{"a new connection reusing the id starts one", nil, p(2, 7, corr(-20000)), 0},
		{"half the TTL after the head, the owner may have evicted it", nil, p(int(DefaultTTL/2/time.Second)+1, 7), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBatcher()
			require.Zero(t, b.Chain(p(1, 3), "k"), "the first request has no predecessor")
			if tc.between != nil {
				tc.between(b)
			}
			require.Equal(t, tc.want, b.Chain(tc.next, "k"))
			require.Zero(t, b.Chain(p(3, 9), "other"), "chains are per connection")
		})
	}
	var nilBatcher *Batcher
	require.Zero(t, nilBatcher.Chain(p(1, 3), "k"), "no batcher, no chain")
}

func TestOvertakes(t *testing.T) {
	head := func(part int32, next int64) *schemas.ConnState {
		st := state(t0, t0, 1)
		st.LoopedPartition, st.LoopedOffset = part, next
		return st
	}
	chained := func(off, prev int64, opts ...func(*schemas.RequestLog)) *schemas.RequestLog {
		r := produce(1, off, 10, "orders", "payments")
		r.LoopPrev = prev
		for _, o := range opts {
			o(r)
		}
		return r
	}
	for _, tc := range []struct {
		name string
		st   *schemas.ConnState
		r    *schemas.RequestLog
		want bool
	}{
		{"unchained requests are taken", nil, chained(9, 0), false},
		{"a chained request with no state lost its predecessor", nil, chained(9, 5), true},
		{"the successor of what the state holds", head(0, 5), chained(9, 5), false},
		{"a successor of a request the state lacks", head(0, 5), chained(9, 7), true},
		{"a replay of an applied request", head(0, 10), chained(9, 5), false},
		{"a replay of the latest applied", head(0, 10), chained(9, 7), false},
		{"a chain that skips a request the state applied", head(0, 8), chained(9, 5), false},
		{"another source partition cannot be judged", head(0, 5), chained(9, 7, partition(1)), false},
		{"a state from before the chain cannot be judged", head(0, 0), chained(9, 7), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Rules{TTL: DefaultTTL}.Overtakes(tc.st, tc.r))
		})
	}
}

// applied moves the chain's head forward, never back, and follows a
// connection to another source partition.
func TestAppliedMovesTheHead(t *testing.T) {
	st := state(t0, t0, 1)
	for _, step := range []struct {
		r    *schemas.RequestLog
		part int32
		next int64
	}{
		{produce(1, 4, 10, "orders"), 0, 5},
		{produce(1, 9, 10, "orders"), 0, 10},
		{produce(1, 6, 10, "orders"), 0, 10}, // a replay
		{at(1, 2, 19, "CREATE_TOPICS", partition(3)), 3, 3},
	} {
		applied(st, step.r)
		require.Equal(t, [2]int64{int64(step.part), step.next}, [2]int64{int64(st.LoopedPartition), st.LoopedOffset})
	}
}
