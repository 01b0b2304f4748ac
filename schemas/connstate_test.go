package schemas

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clientIPCases are TestClientIP's table and FuzzClientIP's seeds.
var clientIPCases = []struct {
	name       string
	connection string
	want       string
}{
	// Kafka 1.0–3.9: local-remote-index.
	{name: "3.x IPv4", connection: "10.0.0.11:9094-10.0.1.23:51544-17", want: "10.0.1.23"},
	{name: "3.x IPv4 index 0", connection: "127.0.0.1:9092-127.0.0.1:54321-0", want: "127.0.0.1"},
	{name: "3.x IPv4 max index", connection: "10.0.0.11:9094-10.0.1.23:51544-2147483647", want: "10.0.1.23"},
	// Kafka 4.x: local-remote-processor-index.
	{name: "4.x IPv4", connection: "10.0.0.11:9094-10.0.1.23:51544-2-17", want: "10.0.1.23"},
	{name: "4.x IPv4 processor 0", connection: "127.0.0.1:9092-127.0.0.1:54321-0-0", want: "127.0.0.1"},
	// IPv6 hosts come without brackets; split at the last ':'.
	{name: "3.x IPv6 loopback", connection: "::1:9092-::1:50000-3", want: "::1"},
	{name: "4.x IPv6 loopback", connection: "::1:9092-::1:50000-1-3", want: "::1"},
	{name: "4.x IPv6 link-local with scope", connection: "fe80::1%eth0:9092-fe80::2%eth0:40000-1-2", want: "fe80::2%eth0"},
	{name: "3.x IPv6 link-local with scope", connection: "fe80::1%eth0:9092-fe80::2%eth0:40000-2", want: "fe80::2%eth0"},
	{name: "3.x IPv6 numeric scope", connection: "fe80::1%2:9092-fe80::2%2:40000-7", want: "fe80::2%2"},
	{name: "3.x IPv6 global", connection: "2001:db8::1:9092-2001:db8:0:0:0:0:0:2:50000-3", want: "2001:db8:0:0:0:0:0:2"},
	{name: "4.x IPv6 global", connection: "2001:db8::1:9092-2001:db8::2:50000-4-3", want: "2001:db8::2"},
	{name: "IPv6 local, IPv4 remote", connection: "::ffff:10.0.0.11:9094-10.0.1.23:51544-17", want: "10.0.1.23"},
	// Neither form.
	{name: "empty", connection: "", want: ""},
	{name: "garbage", connection: "garbage", want: ""},
	{name: "only the local address", connection: "10.0.0.11:9094", want: ""},
	{name: "no index", connection: "10.0.0.11:9094-10.0.1.23:51544", want: ""},
	{name: "no remote port", connection: "10.0.0.11:9094-10.0.1.23-17", want: ""},
	{name: "non-numeric index", connection: "10.0.0.11:9094-10.0.1.23:51544-x", want: ""},
	{name: "five parts", connection: "10.0.0.11:9094-10.0.1.23:51544-1-2-3", want: ""},
	{name: "trailing dash", connection: "10.0.0.11:9094-10.0.1.23:51544-17-", want: ""},
	{name: "whitespace around", connection: " 10.0.0.11:9094-10.0.1.23:51544-17 ", want: ""},
	{name: "newline in a host", connection: "10.0.0.11:9094-10.0\n.1.23:51544-17", want: ""},
	{name: "empty local host", connection: ":9094-10.0.1.23:51544-17", want: ""},
	{name: "empty remote host", connection: "10.0.0.11:9094-:51544-17", want: ""},
	{name: "local port not numeric", connection: "h:90a4-10.0.1.23:51544-17", want: ""},
	{name: "shortest local host wins", connection: "a:1-b:2-c:3-4", want: "b:2-c"},
}

func TestClientIP(t *testing.T) {
	for _, tc := range clientIPCases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, ClientIP(tc.connection))
		})
	}
}

// connIDPattern is the pattern ClientIP once used, now its oracle.
var connIDPattern = regexp.MustCompile(`^(.+?):(\d+)-(.+):(\d+)-(\d+)(?:-(\d+))?$`)

// FuzzClientIP checks the hand-written ClientIP against the pattern it
// replaces.
func FuzzClientIP(f *testing.F) {
	for _, tc := range clientIPCases {
		f.Add(tc.connection)
	}
	f.Fuzz(func(t *testing.T, connection string) {
		want := ""
		if m := connIDPattern.FindStringSubmatch(connection); m != nil {
			want = m[3]
		}
		require.Equal(t, want, ClientIP(connection), "connection %q", connection)
	})
}

func TestClientIPOfExampleLines(t *testing.T) {
	for _, line := range exampleLines {
		r, err := ParseLine([]byte(line), ParseOptions{})
		if err != nil {
			require.ErrorIs(t, err, ErrForwarded)
			continue
		}
		require.NotEmpty(t, ClientIP(r.Connection), "connection %q", r.Connection)
		require.True(t, strings.HasPrefix(ClientIP(r.Connection), "10.0.1."), "connection %q", r.Connection)
	}
}

func TestConnKey(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cluster    string
		connection string
		want       string
	}{
		{name: "3.x id", cluster: "prod-eu", connection: "10.0.0.11:9094-10.0.1.23:51544-17", want: "prod-eu|10.0.0.11:9094-10.0.1.23:51544-17"},
		{name: "4.x id", cluster: "prod-eu", connection: "10.0.0.11:9094-10.0.1.23:51544-2-17", want: "prod-eu|10.0.0.11:9094-10.0.1.23:51544-2-17"},
		{name: "IPv6 id", cluster: "lab", connection: "fe80::1%eth0:9092-fe80::2%eth0:40000-1-2", want: "lab|fe80::1%eth0:9092-fe80::2%eth0:40000-1-2"},
		{name: "no cluster", cluster: "", connection: "::1:9092-::1:50000-3", want: "|::1:9092-::1:50000-3"},
		{name: "both empty", cluster: "", connection: "", want: "|"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ConnKey(tc.cluster, tc.connection)
			require.Equal(t, tc.want, got)
			// Connection ids never contain '|', so the key splits back
			// unambiguously at the last one.
			i := strings.LastIndexByte(got, '|')
			require.Equal(t, tc.cluster, got[:i])
			require.Equal(t, tc.connection, got[i+1:])
		})
	}
	t.Run("clusters keep the same connection apart", func(t *testing.T) {
		const conn = "10.0.0.11:9094-10.0.1.23:51544-17"
		require.NotEqual(t, ConnKey("a", conn), ConnKey("b", conn))
		require.NotEqual(t, ConnKey("a", conn), ConnKey("a", conn+"0"))
	})
}

// ms is 2024-10-25 09:14:03.117 UTC plus d, at millisecond precision.
func ms(d time.Duration) time.Time {
	return time.Date(2024, 10, 25, 9, 14, 3, 117*int(time.Millisecond), time.UTC).Add(d)
}

func TestConnStateCodecRoundTrip(t *testing.T) {
	full := func() *ConnState {
		return &ConnState{
			Cluster:          "prod-eu",
			Connection:       "10.0.0.11:9094-10.0.1.23:51544-17",
			Principal:        "User:orders-svc",
			ClientID:         "orders-producer",
			ClientAddress:    "10.0.1.23",
			Listener:         "EXTERNAL",
			SecurityProtocol: "SASL_SSL",
			FirstSeen:        ms(0),
			LastSeen:         ms(90*time.Minute + 42*time.Millisecond),
			Requests:         1234567,
		}
	}
	for _, tc := range []struct {
		name  string
		state *ConnState
	}{
		{name: "zero value", state: &ConnState{}},
		{name: "no first requests", state: full()},
		{
			name: "first produce only",
			state: func() *ConnState {
				s := full()
				s.FirstProduce = &FirstRequest{
					Time: ms(time.Second), CorrelationID: 12, Topics: []string{"orders"},
					SourcePartition: 3, SourceOffset: 48211,
				}
				s.SuppressedProduce, s.SuppressedBytes = 41, 1<<40
				return s
			}(),
		},
		{
			name: "first fetch only, by topic id",
			state: func() *ConnState {
				s := full()
				s.FirstFetch = &FirstRequest{
					Time: ms(2 * time.Second), CorrelationID: 41, Topics: []string{"Nw3xxZwVRceQiMGFMmRgCg"},
					SourcePartition: 0, SourceOffset: 7,
				}
				s.SuppressedFetch = 99
				return s
			}(),
		},
		{
			name: "both, several topics, extreme numbers",
			state: func() *ConnState {
				s := full()
				s.Connection = "fe80::1%eth0:9092-fe80::2%eth0:40000-1-2"
				s.ClientAddress = "fe80::2%eth0"
				s.Principal = "User:CN=app,OU=x"
				s.FirstProduce = &FirstRequest{
					Time: ms(-time.Hour), CorrelationID: -2147483648, Topics: []string{"a", "b", "ünïcødé"},
					SourcePartition: 2147483647, SourceOffset: 9223372036854775807,
				}
				s.FirstFetch = &FirstRequest{
					Time: ms(time.Hour), CorrelationID: 2147483647, Topics: []string{"a", ""},
					SourcePartition: -1, SourceOffset: -1,
				}
				s.Requests, s.SuppressedProduce, s.SuppressedFetch, s.SuppressedBytes = -1, 9223372036854775807, 1, -9223372036854775808
				return s
			}(),
		},
		{
			name: "first request without topics",
			state: func() *ConnState {
				s := full()
				s.FirstProduce = &FirstRequest{Time: ms(0), CorrelationID: 1}
				return s
			}(),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := new(ConnStateCodec)
			data, err := c.Encode(tc.state)
			require.NoError(t, err)
			require.NotEmpty(t, data)
			got, err := c.Decode(data)
			require.NoError(t, err)
			require.IsType(t, &ConnState{}, got)
			require.Equal(t, tc.state, got)

			again, err := c.Encode(got)
			require.NoError(t, err)
			require.Equal(t, data, again, "encoding is deterministic")
		})
	}
}

// TestCodecTimesAreUTCMillis: codecs keep the instant at millisecond
// precision and hand it back in UTC, whatever zone it came in.
func TestCodecTimesAreUTCMillis(t *testing.T) {
	in := time.Date(2024, 10, 25, 11, 14, 3, 117_999_999, time.FixedZone("CEST", 2*3600))
	want := time.Date(2024, 10, 25, 9, 14, 3, 117_000_000, time.UTC)
	t.Run("ConnState", func(t *testing.T) {
		c := new(ConnStateCodec)
		data, err := c.Encode(&ConnState{FirstSeen: in, LastSeen: in, FirstFetch: &FirstRequest{Time: in}})
		require.NoError(t, err)
		v, err := c.Decode(data)
		require.NoError(t, err)
		s := v.(*ConnState)
		for _, got := range []time.Time{s.FirstSeen, s.LastSeen, s.FirstFetch.Time} {
			require.Equal(t, want, got)
			require.Equal(t, time.UTC, got.Location())
		}
	})
	t.Run("RequestLog", func(t *testing.T) {
		c := new(RequestLogCodec)
		data, err := c.Encode(&RequestLog{Time: in, Request: []byte(`{}`), Response: []byte(`""`)})
		require.NoError(t, err)
		v, err := c.Decode(data)
		require.NoError(t, err)
		require.Equal(t, want, v.(*RequestLog).Time)
		require.Equal(t, time.UTC, v.(*RequestLog).Time.Location())
	})
}

func TestRequestLogCodecRoundTrip(t *testing.T) {
	type tcase struct {
		name string
		r    *RequestLog
	}
	cases := []tcase{
		{
			name: "hand-built",
			r: &RequestLog{
				Cluster: "prod-eu", Time: ms(0), APIKey: 0, APIVersion: 11, APIName: "PRODUCE",
				CorrelationID: 12, ClientID: "orders-producer", Connection: "10.0.0.11:9094-10.0.1.23:51544-2-17",
				Principal: "User:orders-svc", SecurityProtocol: "SASL_SSL", Listener: "EXTERNAL",
				SoftwareName: "apache-kafka-java", SoftwareVersion: "3.8.0", TotalTimeMs: 3.912,
				Request: []byte(`{"acks":-1}`), Response: []byte(`""`),
				Topics: []string{"orders", "clicks"}, RecordBytes: 1 << 40,
				SourcePartition: 7, SourceOffset: 1 << 50,
			},
		},
		{
			name: "extreme numbers",
			r: &RequestLog{
				Time: ms(-24 * time.Hour), APIKey: -32768, APIVersion: 32767, CorrelationID: -2147483648,
				TotalTimeMs: 1.0e7, Request: []byte(`null`), Response: []byte(`{}`),
				RecordBytes: -9223372036854775808, SourcePartition: 2147483647, SourceOffset: 9223372036854775807,
			},
		},
	}
	// Every parsed A.9 line, as the re-key step hands it to the loop codec.
	for i, line := range exampleLines {
		r, err := ParseLine([]byte(line), ParseOptions{Cluster: "prod-eu"})
		if err != nil {
			require.ErrorIs(t, err, ErrForwarded)
			continue
		}
		r.SourcePartition, r.SourceOffset = int32(i%3), int64(1000+i)
		cases = append(cases, tcase{name: "A.9 " + r.APIName + " " + r.Time.Format("15:04:05.000"), r: r})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := new(RequestLogCodec)
			data, err := c.Encode(tc.r)
			require.NoError(t, err)
			got, err := c.Decode(data)
			require.NoError(t, err)
			require.IsType(t, &RequestLog{}, got)
			require.Equal(t, tc.r, got)
		})
	}
}

func TestCodecEncodeWrongType(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec interface{ Encode(any) ([]byte, error) }
		value any
	}{
		{name: "ConnState codec, RequestLog", codec: new(ConnStateCodec), value: &RequestLog{}},
		{name: "ConnState codec, struct not pointer", codec: new(ConnStateCodec), value: ConnState{}},
		{name: "ConnState codec, untyped nil", codec: new(ConnStateCodec), value: nil},
		{name: "ConnState codec, bytes", codec: new(ConnStateCodec), value: []byte("x")},
		{name: "RequestLog codec, ConnState", codec: new(RequestLogCodec), value: &ConnState{}},
		{name: "RequestLog codec, struct not pointer", codec: new(RequestLogCodec), value: RequestLog{}},
		{name: "RequestLog codec, untyped nil", codec: new(RequestLogCodec), value: nil},
		{name: "RequestLog codec, string", codec: new(RequestLogCodec), value: "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := tc.codec.Encode(tc.value)
			require.Error(t, err)
			require.Nil(t, data)
		})
	}
}

// Values written before the loop chain fields (and passed, batch_other)
// existed still decode, with the fields zero: a new kaudit reads an old
// one's table and loop topic.
func TestCodecsReadValuesWithoutLoopChain(t *testing.T) {
	st := &ConnState{Cluster: "prod-eu", Connection: "10.0.0.11:9094-10.0.1.23:51544-17", Requests: 3, MaxCorrelationID: 9}
	b, err := new(ConnStateCodec).Encode(&ConnState{Cluster: st.Cluster, Connection: st.Connection, Requests: 3, MaxCorrelationID: 9,
		LoopedPartition: 2, LoopedOffset: 1 << 40})
	require.NoError(t, err)
	old := b[:len(b)-7] // zigzag varints: 1 byte for partition 2, 6 for the offset
	v, err := new(ConnStateCodec).Decode(old)
	require.NoError(t, err)
	require.Equal(t, st, v)

	r := &RequestLog{Cluster: "prod-eu", Connection: st.Connection, CorrelationID: 4, Topics: []string{"orders"}}
	b, err = new(RequestLogCodec).Encode(&RequestLog{Cluster: r.Cluster, Connection: r.Connection, CorrelationID: 4, Topics: r.Topics,
		LoopPrev: 7, Passed: true, BatchOther: 5})
	require.NoError(t, err)
	v, err = new(RequestLogCodec).Decode(b[:len(b)-3]) // 1 byte each: loop_prev 7, passed, batch_other 5
	require.NoError(t, err)
	require.Equal(t, r, v, "a record from before the loop chain")
	v, err = new(RequestLogCodec).Decode(b[:len(b)-2])
	require.NoError(t, err)
	r.LoopPrev = 7
	require.Equal(t, r, v, "a record from before passed")
	v, err = new(RequestLogCodec).Decode(b[:len(b)-1])
	require.NoError(t, err)
	r.Passed = true
	require.Equal(t, r, v, "a record from before batch_other")
}

func TestCodecDecodeGarbage(t *testing.T) {
	validState, err := new(ConnStateCodec).Encode(&ConnState{
		Cluster: "prod-eu", Connection: "10.0.0.11:9094-10.0.1.23:51544-17",
		FirstProduce: &FirstRequest{Topics: []string{"orders"}},
	})
	require.NoError(t, err)
	validLog, err := new(RequestLogCodec).Encode(&RequestLog{Cluster: "prod-eu", Topics: []string{"orders"}, BatchFetch: 1 << 20})
	require.NoError(t, err)

	for _, tc := range []struct {
		name  string
		codec interface{ Decode([]byte) (any, error) }
		data  []byte
	}{
		{name: "ConnState nil", codec: new(ConnStateCodec), data: nil},
		{name: "ConnState text", codec: new(ConnStateCodec), data: []byte("garbage")},
		{name: "ConnState JSON", codec: new(ConnStateCodec), data: []byte(`{"cluster":"prod-eu"}`)},
		{name: "ConnState 0xff", codec: new(ConnStateCodec), data: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{name: "ConnState truncated", codec: new(ConnStateCodec), data: validState[:len(validState)-1]},
		{name: "ConnState bad union index", codec: new(ConnStateCodec), data: []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08}},
		{name: "RequestLog nil", codec: new(RequestLogCodec), data: nil},
		{name: "RequestLog text", codec: new(RequestLogCodec), data: []byte("garbage")},
		{name: "RequestLog JSON line", codec: new(RequestLogCodec), data: []byte(lineProduceOK)},
		// The last three bytes are loop_prev, passed and batch_other, which
		// records of earlier versions lack.
		{name: "RequestLog truncated", codec: new(RequestLogCodec), data: validLog[:len(validLog)-4]}, // ends inside batch_fetch
		{name: "RequestLog given a ConnState", codec: new(RequestLogCodec), data: validState},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.codec.Decode(tc.data)
			require.Error(t, err)
			require.Nil(t, v)
		})
	}
}
