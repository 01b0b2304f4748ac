package dedup

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
)

var t0 = time.Date(2024, 10, 25, 9, 14, 3, 117_000_000, time.UTC)

const (
	cluster = "lkc-1"
	conn    = "10.0.0.11:9094-10.0.1.23:51544-17"
)

// at builds a request on conn, logged at t0+sec, read from raw offset off
// of partition 0. Options adjust it.
func at(sec int, off int64, api int16, name string, opts ...func(*schemas.RequestLog)) *schemas.RequestLog {
	r := &schemas.RequestLog{
		Cluster: cluster, Time: t0.Add(time.Duration(sec) * time.Second),
		APIKey: api, APIName: name, CorrelationID: int32(off),
		ClientID: "orders-producer", Connection: conn, Principal: "User:orders-svc",
		SecurityProtocol: "SASL_SSL", Listener: "EXTERNAL",
		SourceOffset: off,
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

func produce(sec int, off int64, bytes int64, topics ...string) *schemas.RequestLog {
	return at(sec, off, schemas.APIProduce, "PRODUCE", func(r *schemas.RequestLog) { r.Topics, r.RecordBytes = topics, bytes })
}

func fetch(sec int, off int64, bytes int64, topics ...string) *schemas.RequestLog {
	return at(sec, off, schemas.APIFetch, "FETCH", func(r *schemas.RequestLog) { r.Topics, r.RecordBytes = topics, bytes })
}

func createTopics(sec int, off int64) *schemas.RequestLog {
	return at(sec, off, 19, "CREATE_TOPICS")
}

func partition(p int32) func(*schemas.RequestLog) {
	return func(r *schemas.RequestLog) { r.SourcePartition = p }
}

// first is the FirstRequest Decide records for r.
func first(r *schemas.RequestLog) *schemas.FirstRequest {
	return &schemas.FirstRequest{
		Time: r.Time, CorrelationID: r.CorrelationID, Topics: r.Topics,
		SourcePartition: r.SourcePartition, SourceOffset: r.SourceOffset,
	}
}

// state is the ConnState of conn with the identity fields at() sets.
func state(firstSeen, lastSeen time.Time, requests int64) *schemas.ConnState {
	return &schemas.ConnState{
		Cluster: cluster, Connection: conn, Principal: "User:orders-svc", ClientID: "orders-producer",
		ClientAddress: "10.0.1.23", Listener: "EXTERNAL", SecurityProtocol: "SASL_SSL",
		FirstSeen: firstSeen, LastSeen: lastSeen, Requests: requests,
	}
}

func TestDecide(t *testing.T) {
	type step struct {
		r    *schemas.RequestLog
		keep bool
	}
	p0 := produce(0, 10, 1187, "orders")
	f1 := fetch(1, 11, 4096, "orders")
	sec := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	for _, tc := range []struct {
		name  string
		start *schemas.ConnState // nil: a connection not seen before
		steps []step
		want  func() *schemas.ConnState
	}{
		{
			name:  "first produce is kept",
			steps: []step{{p0, true}},
			want: func() *schemas.ConnState {
				s := state(t0, t0, 1)
				s.FirstProduce = first(p0)
				return s
			},
		},
		{
			name: "later produces are counted, not kept",
			steps: []step{
				{p0, true},
				{produce(2, 12, 200, "orders"), false},
				{produce(3, 13, 300, "payments"), false},
			},
			want: func() *schemas.ConnState {
				s := state(t0, sec(3), 3)
				s.FirstProduce = first(p0)
				s.SuppressedProduce, s.SuppressedBytes = 2, 500
				return s
			},
		},
		{
			name: "first fetch is kept independently of produce",
			steps: []step{
				{p0, true},
				{f1, true},
				{fetch(2, 12, 1000, "orders"), false},
				{produce(3, 13, 50, "orders"), false},
			},
			want: func() *schemas.ConnState {
				s := state(t0, sec(3), 4)
				s.FirstProduce, s.FirstFetch = first(p0), first(f1)
				s.SuppressedProduce, s.SuppressedFetch, s.SuppressedBytes = 1, 1, 1050
				return s
			},
		},
		{
			name: "fetch first, then produce",
			steps: []step{
				{f1, true},
				{p0, true},
			},
			want: func() *schemas.ConnState {
				s := state(sec(0), sec(1), 2) // p0 is older: FirstSeen moves back, LastSeen stays
				s.FirstProduce, s.FirstFetch = first(p0), first(f1)
				return s
			},
		},
		{
			name: "admin requests are always kept and never counted as suppressed",
			steps: []step{
				{createTopics(0, 10), true},
				{p0, true},
				{createTopics(2, 12), true},
				{at(3, 13, 20, "DELETE_TOPICS"), true},
				{at(4, 14, 3, "METADATA"), true},
			},
			want: func() *schemas.ConnState {
				s := state(t0, sec(4), 5)
				s.FirstProduce = first(p0)
				return s
			},
		},
		{
			name: "fetch with an empty topic list is not the first fetch",
			steps: []step{
				{fetch(0, 10, 0), false}, // incremental fetch session: no topics
				{f1, true},
				{fetch(2, 12, 70), false}, // after the first, it counts
			},
			want: func() *schemas.ConnState {
				s := state(t0, sec(2), 3)
				s.FirstFetch = first(f1)
				s.SuppressedFetch, s.SuppressedBytes = 1, 70
				return s
			},
		},
		{
			name: "produce with an empty topic list is not the first produce",
			steps: []step{
				{produce(0, 10, 0), false},
				{produce(1, 11, 10, "orders"), true},
			},
			want: func() *schemas.ConnState {
				s := state(t0, sec(1), 2)
				s.FirstProduce = first(produce(1, 11, 10, "orders"))
				return s
			},
		},
		{
			name: "replay of the audited line is kept again",
			steps: []step{
				{p0, true},
				{produce(1, 11, 5, "orders"), false},
				{produce(0, 10, 1187, "orders"), true}, // same partition and offset as p0
				{fetch(2, 12, 1, "orders"), true},
				{fetch(2, 12, 1, "orders"), true}, // replay of the first fetch
			},
			want: func() *schemas.ConnState {
				// A replay is still a request the state has seen: Requests
				// counts it again.
				s := state(t0, sec(2), 5)
				s.FirstProduce, s.FirstFetch = first(p0), first(fetch(2, 12, 1, "orders"))
				s.SuppressedProduce, s.SuppressedBytes = 1, 5
				return s
			},
		},
		{
			name: "same offset on another raw partition is not a replay",
			steps: []step{
				{p0, true},
				{at(1, 10, schemas.APIProduce, "PRODUCE", partition(3), func(r *schemas.RequestLog) {
					r.Topics, r.RecordBytes = []string{"orders"}, 9
				}), false},
			},
			want: func() *schemas.ConnState {
				s := state(t0, sec(1), 2)
				s.FirstProduce = first(p0)
				s.SuppressedProduce, s.SuppressedBytes = 1, 9
				return s
			},
		},
		{
			name: "identity fields follow the latest request and LastSeen advances",
			steps: []step{
				{p0, true},
				{at(5, 11, 19, "CREATE_TOPICS", func(r *schemas.RequestLog) {
					r.Principal, r.ClientID = "User:admin", "admin-cli"
					r.Listener, r.SecurityProtocol = "INTERNAL", "SSL"
				}), true},
			},
			want: func() *schemas.ConnState {
				s := state(t0, sec(5), 2)
				s.Principal, s.ClientID, s.Listener, s.SecurityProtocol = "User:admin", "admin-cli", "INTERNAL", "SSL"
				s.FirstProduce = first(p0)
				return s
			},
		},
		{
			name: "an out-of-order older request moves FirstSeen, not LastSeen, back",
			steps: []step{
				{produce(10, 10, 1, "orders"), true},
				{createTopics(-5, 11), true},
				{fetch(3, 12, 1, "orders"), true},
			},
			want: func() *schemas.ConnState {
				s := state(sec(-5), sec(10), 3)
				s.FirstProduce, s.FirstFetch = first(produce(10, 10, 1, "orders")), first(fetch(3, 12, 1, "orders"))
				return s
			},
		},
		{
			name: "a stored state keeps its first produce and counts on",
			start: func() *schemas.ConnState {
				s := state(t0.Add(-time.Hour), t0.Add(-time.Minute), 7)
				s.FirstProduce = first(produce(-3600, 1, 1, "orders"))
				s.SuppressedProduce, s.SuppressedBytes = 6, 600
				return s
			}(),
			steps: []step{{p0, false}, {f1, true}},
			want: func() *schemas.ConnState {
				s := state(t0.Add(-time.Hour), sec(1), 9)
				s.FirstProduce, s.FirstFetch = first(produce(-3600, 1, 1, "orders")), first(f1)
				s.SuppressedProduce, s.SuppressedBytes = 7, 600+1187
				return s
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.start
			// Epoch and MaxCorrelationID follow from the inputs: the time of
			// the request that created the state, the highest id seen.
			want := tc.want()
			want.Epoch = tc.steps[0].r.Time
			if tc.start != nil {
				want.Epoch = tc.start.Epoch
			}
			for _, s := range tc.steps {
				want.MaxCorrelationID = max(want.MaxCorrelationID, s.r.CorrelationID)
			}
			for i, s := range tc.steps {
				var keep bool
				st, keep = Decide(st, s.r)
				require.Equal(t, s.keep, keep, "step %d (%s at offset %d)", i, s.r.APIName, s.r.SourceOffset)
				require.NotNil(t, st)
			}
			require.Equal(t, want, st)
		})
	}
}

// TestDecideUpdatesStateInPlace pins that Decide returns the state it was
// given: Collapse stores what Decide returns, so either is fine, but a
// copy would make the caller's pointer stale.
func TestDecideUpdatesStateInPlace(t *testing.T) {
	st := state(t0, t0, 1)
	got, keep := Decide(st, createTopics(1, 1))
	require.True(t, keep)
	require.Same(t, st, got)
	require.Equal(t, int64(2), st.Requests)
}

// TestDecideClientAddress checks the client IP comes from the connection
// id, for both id forms and for ids it cannot read.
func TestDecideClientAddress(t *testing.T) {
	for _, tc := range []struct{ name, connection, want string }{
		{"kafka 3.x", "10.0.0.11:9094-10.0.1.23:51544-17", "10.0.1.23"},
		{"kafka 4.x", "10.0.0.11:9094-10.0.1.24:51544-2-17", "10.0.1.24"},
		{"ipv6", "::1:9092-::1:50000-3", "::1"},
		{"unreadable", "not-a-connection-id", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := createTopics(0, 1)
			r.Connection = tc.connection
			st, _ := Decide(nil, r)
			require.Equal(t, tc.want, st.ClientAddress)
			require.Equal(t, tc.connection, st.Connection)
			require.Equal(t, cluster, st.Cluster)
		})
	}
}

// TestIncarnations checks that a connection id reused by a new connection
// (broker restart, or after the TTL) starts a new state with its own epoch,
// so its first Produce is audited again, and that a replay is not mistaken
// for one.
func TestIncarnations(t *testing.T) {
	ru := Rules{TTL: 30 * time.Minute}
	p := func(at time.Duration, corr int32, offset int64) *schemas.RequestLog {
		r := produce(0, offset, 100, "orders")
		r.Time, r.CorrelationID = t0.Add(at), corr
		return r
	}
	for _, tc := range []struct {
		name     string
		steps    []*schemas.RequestLog
		keep     []bool
		newEpoch bool // the last step starts a new incarnation
	}{
		{"correlation ids keep rising", []*schemas.RequestLog{p(0, 100, 1), p(time.Second, 20000, 2)}, []bool{true, false}, false},
		{"small reordering is tolerated", []*schemas.RequestLog{p(0, 20000, 1), p(time.Second, 19990, 2)}, []bool{true, false}, false},
		{"sharp drop after a broker restart", []*schemas.RequestLog{p(0, 50000, 1), p(time.Minute, 3, 2)}, []bool{true, true}, true},
		{"silence past the TTL", []*schemas.RequestLog{p(0, 5, 1), p(31*time.Minute, 6, 2)}, []bool{true, true}, true},
		{"replay of the first line is not a new connection", []*schemas.RequestLog{p(0, 50000, 1), p(time.Second, 80000, 2), p(0, 50000, 1)}, []bool{true, false, true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st *schemas.ConnState
			var epochs []time.Time
			for i, r := range tc.steps {
				var keep bool
				st, keep = ru.Decide(st, r)
				require.Equal(t, tc.keep[i], keep, "step %d", i)
				epochs = append(epochs, st.Epoch)
			}
			last := len(epochs) - 1
			require.Equal(t, tc.newEpoch, !epochs[last].Equal(epochs[0]), "epochs %v", epochs)
		})
	}
}

func TestExpired(t *testing.T) {
	ru := Rules{TTL: 30 * time.Minute}
	st := &schemas.ConnState{LastSeen: t0}
	require.False(t, ru.Expired(st, t0.Add(30*time.Minute)))
	require.True(t, ru.Expired(st, t0.Add(31*time.Minute)))
	require.False(t, Rules{}.Expired(st, t0.Add(1000*time.Hour)), "no TTL, no eviction")
	m := ExpireMarker("c", "x", t0)
	require.Equal(t, schemas.ExpireAPI, m.APIName)
}
