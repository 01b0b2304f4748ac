package schemas

import (
	_ "embed"
	"fmt"
	"regexp"
	"time"

	"github.com/lovoo/goka"
)

// ConnState is the dedup group-table value for one connection: who it is,
// the first Produce and Fetch that were audited, and what was suppressed
// after them.
type ConnState struct {
	Cluster           string        `json:"cluster"`
	Connection        string        `json:"connection"`
	Principal         string        `json:"principal"`
	ClientID          string        `json:"clientId"`
	ClientAddress     string        `json:"clientAddress"`
	Listener          string        `json:"listener"`
	SecurityProtocol  string        `json:"securityProtocol"`
	FirstSeen         time.Time     `json:"firstSeen"`
	LastSeen          time.Time     `json:"lastSeen"`
	Requests          int64         `json:"requests"`
	FirstProduce      *FirstRequest `json:"firstProduce"`
	FirstFetch        *FirstRequest `json:"firstFetch"`
	SuppressedProduce int64         `json:"suppressedProduce"`
	SuppressedFetch   int64         `json:"suppressedFetch"`
	SuppressedBytes   int64         `json:"suppressedBytes"`
	// Topics is the connection's Produce/Fetch access per topic.
	Topics []TopicAccess `json:"topics"`
	// LastReport is the log time access was last reported to the topic and
	// principal tables.
	LastReport time.Time `json:"-"`
	// Epoch is the log time of the request that created this state. Broker
	// restarts reuse connection ids; the epoch tells two incarnations of
	// one id apart in record ids.
	Epoch time.Time `json:"epoch"`
	// MaxCorrelationID is the highest correlation id seen. Clients number
	// a connection's requests upwards, so a sharp drop means a new
	// connection reusing the id.
	MaxCorrelationID int32 `json:"-"`
}

// FirstRequest identifies the request that produced a connection's audited
// Produce or Fetch record, down to the raw line it came from.
type FirstRequest struct {
	Time            time.Time `json:"time"`
	CorrelationID   int32     `json:"correlationId"`
	Topics          []string  `json:"topics"`
	SourcePartition int32     `json:"sourcePartition"`
	SourceOffset    int64     `json:"sourceOffset"`
}

// ConnKey is the dedup key. Connection ids are unique only within one
// broker's lifetime and carry the broker's listener address, so the cluster
// id is enough to keep clusters apart (FORMATS.md A.5).
func ConnKey(cluster, connection string) string { return cluster + "|" + connection }

// connIDPattern matches `local:port-remote:port-index` (Kafka 1.0–3.9) and
// `local:port-remote:port-processor-index` (Kafka 4.x). Hosts are IP
// literals, IPv6 without brackets.
var connIDPattern = regexp.MustCompile(`^(.+?):(\d+)-(.+):(\d+)-(\d+)(?:-(\d+))?$`)

// ClientIP returns the client IP of a Kafka connection id, or "" when
// the id has neither known form.
func ClientIP(connection string) string {
	m := connIDPattern.FindStringSubmatch(connection)
	if m == nil {
		return ""
	}
	return m[3]
}

//go:embed connstate.avsc
var connStateSchema string

var connStateAvro = avroCodec(connStateSchema)

// ConnStateCodec encodes *ConnState as Avro binary for the dedup table.
type ConnStateCodec struct{}

var _ goka.Codec = (*ConnStateCodec)(nil)

// Encode implements goka.Codec.
func (*ConnStateCodec) Encode(value any) ([]byte, error) {
	s, ok := value.(*ConnState)
	if !ok || s == nil {
		return nil, fmt.Errorf("ConnStateCodec: cannot encode %T", value)
	}
	return avroEncode(connStateAvro, map[string]any{
		"cluster":            s.Cluster,
		"connection":         s.Connection,
		"principal":          s.Principal,
		"client_id":          s.ClientID,
		"client_address":     s.ClientAddress,
		"listener":           s.Listener,
		"security_protocol":  s.SecurityProtocol,
		"first_seen_ms":      s.FirstSeen.UnixMilli(),
		"last_seen_ms":       s.LastSeen.UnixMilli(),
		"requests":           s.Requests,
		"first_produce":      firstToNative(s.FirstProduce),
		"first_fetch":        firstToNative(s.FirstFetch),
		"suppressed_produce": s.SuppressedProduce,
		"suppressed_fetch":   s.SuppressedFetch,
		"suppressed_bytes":   s.SuppressedBytes,
		"topics":             topicsToNative(s.Topics),
		"last_report_ms":     msOrZero(s.LastReport),
		"epoch_ms":           msOrZero(s.Epoch),
		"max_correlation_id": s.MaxCorrelationID,
	})
}

// Decode implements goka.Codec.
func (*ConnStateCodec) Decode(data []byte) (any, error) {
	m, err := avroDecode(connStateAvro, data)
	if err != nil {
		return nil, fmt.Errorf("ConnStateCodec: %w", err)
	}
	return &ConnState{
		Cluster:           m["cluster"].(string),
		Connection:        m["connection"].(string),
		Principal:         m["principal"].(string),
		ClientID:          m["client_id"].(string),
		ClientAddress:     m["client_address"].(string),
		Listener:          m["listener"].(string),
		SecurityProtocol:  m["security_protocol"].(string),
		FirstSeen:         time.UnixMilli(m["first_seen_ms"].(int64)).UTC(),
		LastSeen:          time.UnixMilli(m["last_seen_ms"].(int64)).UTC(),
		Requests:          m["requests"].(int64),
		FirstProduce:      firstFromNative(m["first_produce"]),
		FirstFetch:        firstFromNative(m["first_fetch"]),
		SuppressedProduce: m["suppressed_produce"].(int64),
		SuppressedFetch:   m["suppressed_fetch"].(int64),
		SuppressedBytes:   m["suppressed_bytes"].(int64),
		Topics:            topicsFromNative(m["topics"]),
		LastReport:        timeOrZero(m["last_report_ms"].(int64)),
		Epoch:             timeOrZero(m["epoch_ms"].(int64)),
		MaxCorrelationID:  m["max_correlation_id"].(int32),
	}, nil
}

const firstRequestName = "io.kaudit.FirstRequest"

func firstToNative(f *FirstRequest) any {
	if f == nil {
		return nil
	}
	return map[string]any{firstRequestName: map[string]any{
		"time_ms":          f.Time.UnixMilli(),
		"correlation_id":   f.CorrelationID,
		"topics":           stringsToNative(f.Topics),
		"source_partition": f.SourcePartition,
		"source_offset":    f.SourceOffset,
	}}
}

func firstFromNative(v any) *FirstRequest {
	u, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	m := u[firstRequestName].(map[string]any)
	return &FirstRequest{
		Time:            time.UnixMilli(m["time_ms"].(int64)).UTC(),
		CorrelationID:   m["correlation_id"].(int32),
		Topics:          stringsFromNative(m["topics"]),
		SourcePartition: m["source_partition"].(int32),
		SourceOffset:    m["source_offset"].(int64),
	}
}

func topicsToNative(ts []TopicAccess) []any {
	out := make([]any, len(ts))
	for i, t := range ts {
		out[i] = map[string]any{"topic": t.Topic, "total": countsToNative(t.Total), "pending": countsToNative(t.Pending)}
	}
	return out
}

func topicsFromNative(v any) []TopicAccess {
	raw, _ := v.([]any)
	if len(raw) == 0 {
		return nil
	}
	out := make([]TopicAccess, len(raw))
	for i, r := range raw {
		m, _ := r.(map[string]any)
		out[i] = TopicAccess{Topic: str(m["topic"]), Total: countsFromNative(m["total"]), Pending: countsFromNative(m["pending"])}
	}
	return out
}

func countsToNative(a Access) map[string]any {
	return map[string]any{
		"produce": a.Produce, "fetch": a.Fetch, "denied": a.Denied, "bytes": a.Bytes,
		"first_ms": msOrZero(a.First), "last_ms": msOrZero(a.Last),
	}
}

func countsFromNative(v any) Access {
	m, _ := v.(map[string]any)
	i := func(k string) int64 { n, _ := m[k].(int64); return n }
	return Access{
		Produce: i("produce"), Fetch: i("fetch"), Denied: i("denied"), Bytes: i("bytes"),
		First: timeOrZero(i("first_ms")), Last: timeOrZero(i("last_ms")),
	}
}

// msOrZero and timeOrZero keep the zero time as 0 rather than a negative
// millisecond count, so an unset time survives a round trip.
func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func timeOrZero(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
