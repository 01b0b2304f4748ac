package schemas

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/lovoo/goka"
	"github.com/stretchr/testify/require"
)

// The reference mappings below turn records into goavro's native form,
// field by field as the .avsc files declare them. The hand-written codecs
// must produce exactly the bytes goavro produces from them.

func requestLogNative(r *RequestLog) map[string]any {
	return map[string]any{
		"cluster": r.Cluster, "time_ms": r.Time.UnixMilli(), "api_key": int32(r.APIKey), "api_version": int32(r.APIVersion),
		"api_name": r.APIName, "correlation_id": r.CorrelationID, "client_id": r.ClientID, "connection": r.Connection,
		"principal": r.Principal, "security_protocol": r.SecurityProtocol, "listener": r.Listener,
		"software_name": r.SoftwareName, "software_version": r.SoftwareVersion, "total_time_ms": r.TotalTimeMs,
		"request": string(r.Request), "response": string(r.Response),
		"source_partition": r.SourcePartition, "source_offset": r.SourceOffset,
		"topics": stringsToNative(r.Topics), "record_bytes": r.RecordBytes, "follower": r.Follower,
		"error_code": int32(r.ErrorCode), "topic_bytes": int64sToNative(r.TopicBytes),
		"conn_epoch_ms": int64(0), "topic_errors": int16sToNative(r.TopicErrors),
		"batch": batchNative(r.Batch), "batch_produce": r.BatchProduce, "batch_fetch": r.BatchFetch,
		"loop_prev": r.LoopPrev, "passed": r.Passed, "batch_other": r.BatchOther,
	}
}

func batchNative(bs []BatchAccess) []any {
	out := make([]any, len(bs))
	for i, b := range bs {
		a := b.Access
		out[i] = map[string]any{"topic": b.Topic, "access": map[string]any{"produce": a.Produce, "fetch": a.Fetch,
			"denied": a.Denied, "bytes": a.Bytes, "first_ms": msOrZero(a.First), "last_ms": msOrZero(a.Last)}}
	}
	return out
}

func int64sToNative(ns []int64) []any {
	out := make([]any, len(ns))
	for i, n := range ns {
		out[i] = n
	}
	return out
}

func int16sToNative(ns []int16) []any {
	out := make([]any, len(ns))
	for i, n := range ns {
		out[i] = int32(n)
	}
	return out
}

func connStateNative(s *ConnState) map[string]any {
	first := func(f *FirstRequest) any {
		if f == nil {
			return nil
		}
		return map[string]any{"io.kaudit.FirstRequest": map[string]any{
			"time_ms": f.Time.UnixMilli(), "correlation_id": f.CorrelationID, "topics": stringsToNative(f.Topics),
			"source_partition": f.SourcePartition, "source_offset": f.SourceOffset,
		}}
	}
	counts := func(a Access) map[string]any {
		return map[string]any{"produce": a.Produce, "fetch": a.Fetch, "denied": a.Denied, "bytes": a.Bytes,
			"first_ms": msOrZero(a.First), "last_ms": msOrZero(a.Last)}
	}
	topics := make([]any, len(s.Topics))
	for i, t := range s.Topics {
		topics[i] = map[string]any{"topic": t.Topic, "total": counts(t.Total), "pending": counts(t.Pending)}
	}
	return map[string]any{
		"cluster": s.Cluster, "connection": s.Connection, "principal": s.Principal, "client_id": s.ClientID,
		"client_address": s.ClientAddress, "listener": s.Listener, "security_protocol": s.SecurityProtocol,
		"first_seen_ms": s.FirstSeen.UnixMilli(), "last_seen_ms": s.LastSeen.UnixMilli(), "requests": s.Requests,
		"first_produce": first(s.FirstProduce), "first_fetch": first(s.FirstFetch),
		"suppressed_produce": s.SuppressedProduce, "suppressed_fetch": s.SuppressedFetch, "suppressed_bytes": s.SuppressedBytes,
		"topics": topics, "last_report_ms": msOrZero(s.LastReport), "epoch_ms": msOrZero(s.Epoch),
		"max_correlation_id": s.MaxCorrelationID,
		"looped_partition":   s.LoopedPartition, "looped_offset": s.LoopedOffset,
	}
}

func randomRequestLog(rng *rand.Rand) *RequestLog {
	str := func() string {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(' ' + rng.IntN(95))
		}
		return string(b)
	}
	t := time.UnixMilli(rng.Int64N(4e12)).UTC()
	r := &RequestLog{
		Cluster: str(), Time: t, APIKey: int16(rng.IntN(70)), APIVersion: int16(rng.IntN(17)), APIName: str(),
		CorrelationID: rng.Int32() - 1<<30, ClientID: str(), Connection: str(), Principal: str(),
		SecurityProtocol: str(), Listener: str(), SoftwareName: str(), SoftwareVersion: str(),
		TotalTimeMs: rng.Float64() * 1000, SourcePartition: rng.Int32N(64), SourceOffset: rng.Int64(),
		RecordBytes: rng.Int64(), Follower: rng.IntN(2) == 1, ErrorCode: int16(rng.IntN(130)),
		LoopPrev: rng.Int64N(3) * rng.Int64(), Passed: rng.IntN(2) == 1, BatchOther: rng.Int64N(3) * rng.Int64(),
	}
	if rng.IntN(2) == 1 {
		r.Request, r.Response = json.RawMessage(`{"a":[1,2]}`), json.RawMessage(`""`)
	}
	if rng.IntN(3) == 0 {
		r.Batch = []BatchAccess{{Topic: str(), Access: Access{Produce: rng.Int64N(1000), Bytes: rng.Int64N(1 << 30), First: t, Last: t}}}
		r.BatchProduce, r.BatchFetch = rng.Int64N(1000), rng.Int64N(1000)
	}
	for range rng.IntN(5) {
		r.Topics = append(r.Topics, str())
		r.TopicBytes = append(r.TopicBytes, rng.Int64N(1<<40)-1<<20)
		r.TopicErrors = append(r.TopicErrors, int16(rng.IntN(200))-50)
	}
	return r
}

func randomConnState(rng *rand.Rand) *ConnState {
	t := time.UnixMilli(rng.Int64N(4e12)).UTC()
	s := &ConnState{
		Cluster: "c", Connection: "10.0.0.1:9092-10.0.0.2:4000-1", Principal: "User:x", ClientID: "cl",
		ClientAddress: "10.0.0.2", Listener: "L", SecurityProtocol: "SASL_SSL", FirstSeen: t, LastSeen: t.Add(time.Minute),
		Requests: rng.Int64(), SuppressedProduce: rng.Int64N(1e9), SuppressedFetch: rng.Int64N(1e9), SuppressedBytes: rng.Int64(),
		MaxCorrelationID: rng.Int32(), LoopedPartition: rng.Int32N(64), LoopedOffset: rng.Int64N(3) * rng.Int64(),
	}
	if rng.IntN(2) == 1 {
		s.FirstProduce = &FirstRequest{Time: t, CorrelationID: rng.Int32(), Topics: []string{"a", "b"}, SourcePartition: 3, SourceOffset: rng.Int64()}
	}
	if rng.IntN(2) == 1 {
		s.FirstFetch = &FirstRequest{Time: t, CorrelationID: 7}
	}
	if rng.IntN(2) == 1 {
		s.Epoch, s.LastReport = t, t.Add(time.Second)
	}
	for i := range rng.IntN(4) {
		s.Topics = append(s.Topics, TopicAccess{Topic: string(rune('a' + i)),
			Total:   Access{Produce: rng.Int64N(1e6), Fetch: 2, Denied: 1, Bytes: rng.Int64(), First: t, Last: t},
			Pending: Access{Produce: 1}})
	}
	return s
}

// TestHandWrittenCodecsMatchGoavro proves the hand-written codecs speak
// exactly the Avro of requestlog.avsc and connstate.avsc.
func TestHandWrittenCodecsMatchGoavro(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rlAvro, err := requestLogAvro()
	require.NoError(t, err)
	csAvro, err := connStateAvro()
	require.NoError(t, err)
	for i := range 500 {
		r := randomRequestLog(rng)
		got, err := (&RequestLogCodec{}).Encode(r)
		require.NoError(t, err)
		want, err := rlAvro.BinaryFromNative(nil, requestLogNative(r))
		require.NoError(t, err)
		require.Equal(t, want, got, "RequestLog %d", i)
		back, err := (&RequestLogCodec{}).Decode(want)
		require.NoError(t, err)
		require.Equal(t, r, back)

		s := randomConnState(rng)
		got, err = (&ConnStateCodec{}).Encode(s)
		require.NoError(t, err)
		want, err = csAvro.BinaryFromNative(nil, connStateNative(s))
		require.NoError(t, err)
		require.Equal(t, want, got, "ConnState %d", i)
		cs, err := (&ConnStateCodec{}).Decode(want)
		require.NoError(t, err)
		require.Equal(t, s, cs)
	}
}

// FuzzHotCodecs: decoding arbitrary bytes returns an error or a value,
// never a panic or a huge allocation.
func FuzzHotCodecs(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 4 {
		b, err := (&RequestLogCodec{}).Encode(randomRequestLog(rng))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		b, err = (&ConnStateCodec{}).Encode(randomConnState(rng))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xfe, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := (&RequestLogCodec{}).Decode(b); err == nil {
			if _, err := (&RequestLogCodec{}).Encode(v); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []goka.Codec{&ConnStateCodec{}, &TopicSummaryCodec{}, &PrincipalSummaryCodec{}} {
			if v, err := c.Decode(b); err == nil {
				if _, err := c.Encode(v); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

//go:embed access.avsc
var accessSchemas string

// accessAvro compiles access.avsc, a list of named types, with one of them
// as the value of a wrapper record; accessWire strips the wrapper's empty
// array so the bytes are the named type's own.
func accessAvro(t *testing.T, name string) *goavro.Codec {
	c, err := goavro.NewCodec(fmt.Sprintf(`{"type":"record","name":"Root","namespace":"io.kaudit","fields":[{"name":"defs","type":{"type":"array","items":%s}},{"name":"value","type":%q}]}`, accessSchemas, name))
	require.NoError(t, err)
	return c
}

func accessWire(t *testing.T, c *goavro.Codec, native any) []byte {
	b, err := c.BinaryFromNative(nil, map[string]any{"defs": []any{}, "value": native})
	require.NoError(t, err)
	require.Equal(t, byte(0), b[0])
	return b[1:]
}

func accessNative(a *Access) map[string]any {
	return map[string]any{"produce": a.Produce, "fetch": a.Fetch, "admin": a.Admin, "denied": a.Denied,
		"bytes": a.Bytes, "first_ms": msOrZero(a.First), "last_ms": msOrZero(a.Last)}
}

func randomAccess(rng *rand.Rand) *Access {
	t := time.UnixMilli(rng.Int64N(4e12)).UTC()
	a := &Access{Produce: rng.Int64N(1e9), Fetch: rng.Int64N(1e9), Admin: rng.Int64N(9), Denied: rng.Int64N(9), Bytes: rng.Int64()}
	if rng.IntN(4) > 0 {
		a.First, a.Last = t, t.Add(time.Duration(rng.IntN(1e6))*time.Millisecond)
	}
	return a
}

// TestAccessCodecsMatchGoavro proves the access codecs speak access.avsc.
// Maps have at most one entry so that goavro's map order cannot differ;
// larger maps are checked by decoding goavro's bytes.
func TestAccessCodecsMatchGoavro(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	topicAvro, principalAvro := accessAvro(t, "io.kaudit.TopicSummary"), accessAvro(t, "io.kaudit.PrincipalSummary")
	str := func() string { return fmt.Sprintf("s%d", rng.IntN(1000)) }
	for i := range 300 {
		n := rng.IntN(3)
		ts := &TopicSummary{Cluster: str(), Topic: str(), Total: *randomAccess(rng), Principals: map[string]*Access{}}
		ps := &PrincipalSummary{Principal: str(), Total: *randomAccess(rng), Resources: map[string]*Access{},
			Connections: []SeenConnection{}, Denials: []Denial{}}
		nativeMap := map[string]any{}
		for range n {
			k, a := str(), randomAccess(rng)
			ts.Principals[k], ps.Resources[k], nativeMap[k] = a, a, accessNative(a)
		}
		var conns, denials []any
		for range rng.IntN(3) {
			a := randomAccess(rng)
			c := SeenConnection{Connection: str(), ClientID: str(), ClientIP: str(), First: a.First, Last: a.Last}
			ps.Connections = append(ps.Connections, c)
			conns = append(conns, map[string]any{"connection": c.Connection, "clientId": c.ClientID, "clientIp": c.ClientIP,
				"first_ms": msOrZero(c.First), "last_ms": msOrZero(c.Last)})
			dn := Denial{Time: a.Last, Method: str(), ResourceType: "TOPIC", Resource: str(), Connection: str(), ErrorType: str()}
			ps.Denials = append(ps.Denials, dn)
			denials = append(denials, map[string]any{"time_ms": msOrZero(dn.Time), "method": dn.Method, "resourceType": dn.ResourceType,
				"resource": dn.Resource, "connection": dn.Connection, "errorType": dn.ErrorType})
		}
		wantTopic := accessWire(t, topicAvro, map[string]any{"cluster": ts.Cluster, "topic": ts.Topic,
			"total": accessNative(&ts.Total), "principals": nativeMap})
		wantPrincipal := accessWire(t, principalAvro, map[string]any{"principal": ps.Principal, "total": accessNative(&ps.Total),
			"resources": nativeMap, "connections": append([]any{}, conns...), "denials": append([]any{}, denials...)})
		if len(nativeMap) <= 1 {
			got, err := (&TopicSummaryCodec{}).Encode(ts)
			require.NoError(t, err)
			require.Equal(t, wantTopic, got, "topic summary %d", i)
			got, err = (&PrincipalSummaryCodec{}).Encode(ps)
			require.NoError(t, err)
			require.Equal(t, wantPrincipal, got, "principal summary %d", i)
		}
		back, err := (&TopicSummaryCodec{}).Decode(wantTopic)
		require.NoError(t, err)
		require.Equal(t, ts, back)
		back, err = (&PrincipalSummaryCodec{}).Decode(wantPrincipal)
		require.NoError(t, err)
		require.Equal(t, ps, back)
	}
}
