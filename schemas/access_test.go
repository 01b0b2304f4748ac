package schemas

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAccessCodecsRoundTrip(t *testing.T) {
	t1 := time.Date(2024, 10, 25, 9, 14, 3, 117000000, time.UTC)
	t2 := t1.Add(time.Minute)
	acc := Access{Produce: 3, Fetch: 1, Denied: 1, Bytes: 4096, First: t1, Last: t2}

	ts := &TopicSummary{Cluster: "c", Topic: "orders", Total: acc, Principals: map[string]*Access{"User:a": &acc}}
	b, err := (&TopicSummaryCodec{}).Encode(ts)
	require.NoError(t, err)
	got, err := (&TopicSummaryCodec{}).Decode(b)
	require.NoError(t, err)
	require.Equal(t, ts, got)

	ps := &PrincipalSummary{Principal: "User:a", Total: acc,
		Resources:   map[string]*Access{"TOPIC:orders": &acc},
		Connections: []SeenConnection{{Connection: "x", ClientID: "p", ClientIP: "1.2.3.4", First: t1, Last: t2}},
		Denials:     []Denial{{Time: t1, Method: "kafka.Produce", ResourceType: "TOPIC", Resource: "payroll", Connection: "x", ErrorType: "TOPIC_AUTHORIZATION_FAILED"}},
	}
	b, err = (&PrincipalSummaryCodec{}).Encode(ps)
	require.NoError(t, err)
	got, err = (&PrincipalSummaryCodec{}).Decode(b)
	require.NoError(t, err)
	require.Equal(t, ps, got)

	empty := &PrincipalSummary{Principal: "User:b"}
	b, err = (&PrincipalSummaryCodec{}).Encode(empty)
	require.NoError(t, err)
	_, err = (&PrincipalSummaryCodec{}).Decode(b)
	require.NoError(t, err)
	require.Nil(t, empty.Resources, "Encode does not modify its input")

	_, err = (&TopicSummaryCodec{}).Encode(ps)
	require.Error(t, err)
	_, err = (&TopicSummaryCodec{}).Decode([]byte{0xff, 0xff})
	require.Error(t, err)
}

func TestAccessAdd(t *testing.T) {
	t1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	a := Access{Produce: 1, First: t1.Add(time.Hour), Last: t1.Add(time.Hour)}
	a.Add(Access{Fetch: 2, Denied: 1, Bytes: 10, First: t1, Last: t1.Add(2 * time.Hour)})
	require.Equal(t, Access{Produce: 1, Fetch: 2, Denied: 1, Bytes: 10, First: t1, Last: t1.Add(2 * time.Hour)}, a)
	require.False(t, a.Empty())
	require.True(t, Access{}.Empty())
}

func TestBoundAccess(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	m := map[string]*Access{}
	for i := range 5 {
		m[string(rune('a'+i))] = &Access{Produce: 1, First: t0, Last: t0.Add(time.Duration(i) * time.Minute)}
	}
	BoundAccess(m, 3, "*")
	require.Len(t, m, 3)
	require.Contains(t, m, "e", "the most recent stay")
	require.Contains(t, m, "d")
	require.EqualValues(t, 3, m["*"].Produce, "a, b, c fold into the overflow, counts exact")
}
