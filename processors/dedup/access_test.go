package dedup

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
)

// access is a Produce or Fetch of version v to topics, with bytes per
// topic and error code code.
func access(api int16, v int16, sec int, code int16, topics []string, bytes ...int64) *schemas.RequestLog {
	name := map[int16]string{schemas.APIProduce: "PRODUCE", schemas.APIFetch: "FETCH"}[api]
	return at(sec, int64(sec), api, name, func(r *schemas.RequestLog) {
		r.APIVersion, r.ErrorCode, r.Topics, r.TopicBytes = v, code, topics, bytes
	})
}

// delta is the delta Track reports for conn's access to topic.
func delta(topic string, a schemas.Access) schemas.AccessDelta {
	return schemas.AccessDelta{
		Cluster: cluster, ResourceType: "TOPIC", Resource: topic, Principal: "User:orders-svc",
		Connection: conn, ClientID: "orders-producer", Access: a,
	}
}

func TestTrack(t *testing.T) {
	const topicID = "Yc7mOg7bRMq1wJjVh2N1xQ"
	orders, payments := []string{"orders"}, []string{"payments"}
	sec := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	catalog := func(cl, id string) (string, bool) {
		if cl == cluster && id == topicID {
			return "orders", true
		}
		return "", false
	}
	type step struct {
		r    *schemas.RequestLog
		want []schemas.AccessDelta
	}
	for _, tc := range []struct {
		name    string
		resolve func(cluster, id string) (string, bool)
		steps   []step
	}{
		{
			name:  "admin requests are not tracked",
			steps: []step{{r: createTopics(0, 1)}, {r: at(1, 2, 3, "METADATA")}},
		},
		{
			name: "first access to a topic is reported at once",
			steps: []step{{
				r:    access(schemas.APIProduce, 11, 0, 0, orders, 100),
				want: []schemas.AccessDelta{delta("orders", schemas.Access{Produce: 1, Bytes: 100, First: sec(0), Last: sec(0)})},
			}},
		},
		{
			name: "repeats are batched until a minute of log time passed",
			steps: []step{
				{r: access(schemas.APIProduce, 11, 0, 0, orders, 100), want: []schemas.AccessDelta{delta("orders", schemas.Access{Produce: 1, Bytes: 100, First: sec(0), Last: sec(0)})}},
				{r: access(schemas.APIProduce, 11, 10, 0, orders, 20)},
				{r: access(schemas.APIFetch, 12, 20, 0, orders, 300)},
				{r: access(schemas.APIProduce, 11, 59, 0, orders, 1)},
				{
					r:    access(schemas.APIProduce, 11, 60, 0, orders, 5),
					want: []schemas.AccessDelta{delta("orders", schemas.Access{Produce: 3, Fetch: 1, Bytes: 326, First: sec(10), Last: sec(60)})},
				},
				{r: access(schemas.APIProduce, 11, 61, 0, orders, 5)},
			},
		},
		{
			name: "a new topic reports every pending topic",
			steps: []step{
				{r: access(schemas.APIProduce, 11, 0, 0, orders, 1), want: []schemas.AccessDelta{delta("orders", schemas.Access{Produce: 1, Bytes: 1, First: sec(0), Last: sec(0)})}},
				{r: access(schemas.APIProduce, 11, 5, 0, orders, 2)},
				{
					r: access(schemas.APIProduce, 11, 10, 0, payments, 3),
					want: []schemas.AccessDelta{
						delta("orders", schemas.Access{Produce: 1, Bytes: 2, First: sec(5), Last: sec(5)}),
						delta("payments", schemas.Access{Produce: 1, Bytes: 3, First: sec(10), Last: sec(10)}),
					},
				},
			},
		},
		{
			name: "a request to two topics counts each with its own bytes",
			steps: []step{{
				r: access(schemas.APIFetch, 12, 0, 0, []string{"orders", "payments"}, 10, 20),
				want: []schemas.AccessDelta{
					delta("orders", schemas.Access{Fetch: 1, Bytes: 10, First: sec(0), Last: sec(0)}),
					delta("payments", schemas.Access{Fetch: 1, Bytes: 20, First: sec(0), Last: sec(0)}),
				},
			}},
		},
		{
			name: "a denial is reported at once, naming method and error",
			steps: []step{
				{r: access(schemas.APIProduce, 11, 0, 0, orders, 1), want: []schemas.AccessDelta{delta("orders", schemas.Access{Produce: 1, Bytes: 1, First: sec(0), Last: sec(0)})}},
				{
					r: access(schemas.APIProduce, 11, 5, 29, orders),
					want: []schemas.AccessDelta{func() schemas.AccessDelta {
						d := delta("orders", schemas.Access{Produce: 1, Denied: 1, First: sec(5), Last: sec(5)})
						d.Method, d.ErrorType = "kafka.Produce", "TOPIC_AUTHORIZATION_FAILED"
						return d
					}()},
				},
			},
		},
		{
			name: "a failure that is not a denial is batched like success",
			steps: []step{
				{r: access(schemas.APIFetch, 12, 0, 0, orders), want: []schemas.AccessDelta{delta("orders", schemas.Access{Fetch: 1, First: sec(0), Last: sec(0)})}},
				{r: access(schemas.APIFetch, 12, 1, 3, orders)}, // UNKNOWN_TOPIC_OR_PARTITION
			},
		},
		{
			name:    "v13+ topic ids are named through the catalog",
			resolve: catalog,
			steps: []step{
				{r: access(schemas.APIFetch, 13, 0, 0, []string{topicID}), want: []schemas.AccessDelta{delta("orders", schemas.Access{Fetch: 1, First: sec(0), Last: sec(0)})}},
				{r: access(schemas.APIFetch, 13, 1, 0, []string{"AAAAAAAAAAAAAAAAAAAAAB"}), want: []schemas.AccessDelta{
					delta("AAAAAAAAAAAAAAAAAAAAAB", schemas.Access{Fetch: 1, First: sec(1), Last: sec(1)}), // unknown id: kept
				}},
			},
		},
		{
			name: "names before v13 are not looked up",
			resolve: func(string, string) (string, bool) {
				panic("resolve must not be called for v12")
			},
			steps: []step{
				{r: access(schemas.APIFetch, 12, 0, 0, orders), want: []schemas.AccessDelta{delta("orders", schemas.Access{Fetch: 1, First: sec(0), Last: sec(0)})}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := state(t0, t0, 0)
			for i, s := range tc.steps {
				require.Equal(t, s.want, Track(st, s.r, tc.resolve), "step %d", i)
			}
		})
	}
}

// TestTrackTotals: reporting clears what is pending, never the total.
func TestTrackTotals(t *testing.T) {
	st := state(t0, t0, 0)
	for s := range 90 {
		Track(st, access(schemas.APIProduce, 11, s, 0, []string{"orders"}, 10), nil)
	}
	require.Len(t, st.Topics, 1)
	require.Equal(t, schemas.Access{Produce: 90, Bytes: 900, First: t0, Last: t0.Add(89 * time.Second)}, st.Topics[0].Total)
	// Reported at 0s and 60s; 61s..89s are pending.
	require.Equal(t, schemas.Access{Produce: 29, Bytes: 290, First: t0.Add(61 * time.Second), Last: t0.Add(89 * time.Second)}, st.Topics[0].Pending)
	require.Equal(t, t0.Add(60*time.Second), st.LastReport)
}

// TestTrackReportsAfterManyRequests: a busy connection reports every 1000
// requests even within a minute.
func TestTrackReportsAfterManyRequests(t *testing.T) {
	st := state(t0, t0, 0)
	require.Len(t, Track(st, access(schemas.APIProduce, 11, 0, 0, []string{"orders"}), nil), 1)
	var reports [][]schemas.AccessDelta
	for range 2500 {
		// All within the same second of log time.
		if d := Track(st, access(schemas.APIProduce, 11, 1, 0, []string{"orders"}), nil); d != nil {
			reports = append(reports, d)
		}
	}
	require.Len(t, reports, 2)
	for _, r := range reports {
		require.Len(t, r, 1)
		require.Equal(t, int64(1000), r[0].Access.Produce)
	}
	require.Equal(t, int64(500), st.Topics[0].Pending.Produce)
}

// TestTrackBoundsTopicsPerConnection: beyond 256 topics a connection's
// access is counted under OverflowTopic, so the table value stays bounded.
// Only the first overflowing topic is new; later ones are batched.
func TestTrackBoundsTopicsPerConnection(t *testing.T) {
	st := state(t0, t0, 0)
	reports := map[int][]schemas.AccessDelta{}
	for i := range 300 {
		if d := Track(st, access(schemas.APIProduce, 11, 0, 0, []string{fmt.Sprintf("topic-%03d", i)}, 1), nil); d != nil {
			reports[i] = d
		}
	}
	require.Len(t, reports, 257, "each of the first 256 topics and the overflow entry are new once")
	require.Equal(t, "topic-255", reports[255][0].Resource)
	require.Equal(t, []string{OverflowTopic}, []string{reports[256][0].Resource})
	require.Len(t, st.Topics, 257)
	over := st.Topics[256]
	require.Equal(t, OverflowTopic, over.Topic)
	require.Equal(t, int64(300-256), over.Total.Produce)
	require.Equal(t, int64(300-257), over.Pending.Produce)
}
