package schemas

import (
	_ "embed"
	"fmt"
	"strings"
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
	// LoopedPartition and LoopedOffset (source offset + 1, 0 for none)
	// locate the latest looped request applied; a request whose
	// RequestLog.LoopPrev lies beyond it is dropped until its sender sends
	// it again (dedup.Rules.Overtakes).
	LoopedPartition int32 `json:"-"`
	LoopedOffset    int64 `json:"-"`
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

// ClientIP returns the client IP of a Kafka connection id, or "" when
// the id has neither known form: `local:port-remote:port-index` (Kafka
// 1.0–3.9) or `local:port-remote:port-processor-index` (Kafka 4.x). Hosts
// are IP literals, IPv6 without brackets. It reads the id as the pattern
// `^(.+?):(\d+)-(.+):(\d+)-(\d+)(?:-(\d+))?$` does (FuzzClientIP checks),
// by hand: 18 ns a call against the regexp's 820 ns, and every kept
// request needs it several times.
func ClientIP(connection string) string {
	if strings.IndexByte(connection, '\n') >= 0 { // '.' does not match it
		return ""
	}
	// The remote port, index and processor hold no ':', so the remote host
	// ends at the last one.
	end := strings.LastIndexByte(connection, ':')
	if n := digitRuns(connection[end+1:]); end < 0 || n < 2 || n > 3 {
		return ""
	}
	// The local host is the shortest prefix followed by ":port-" that
	// leaves a non-empty remote host.
	for j := 1; j < end; j++ {
		if connection[j] != ':' {
			continue
		}
		k := j + 1
		for k < end && isDigit(connection[k]) {
			k++
		}
		if k > j+1 && k < end && connection[k] == '-' && k+1 < end {
			return connection[k+1 : end]
		}
	}
	return ""
}

// digitRuns counts the runs of ASCII digits that s joins with '-', or
// returns 0 when s is anything else.
func digitRuns(s string) int {
	runs, length := 1, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			length++
		case c == '-' && length > 0:
			runs, length = runs+1, 0
		default:
			return 0
		}
	}
	if length == 0 {
		return 0
	}
	return runs
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

//go:embed connstate.avsc
var connStateSchema string

// connStateAvro is the schema the hand-written codec implements; tests
// check the two agree.
var connStateAvro = avroCodec(connStateSchema)

// ConnStateCodec encodes *ConnState as Avro binary (connstate.avsc) for the
// dedup table.
type ConnStateCodec struct{}

var _ goka.Codec = (*ConnStateCodec)(nil)

// Encode implements goka.Codec.
func (*ConnStateCodec) Encode(value any) ([]byte, error) {
	s, ok := value.(*ConnState)
	if !ok || s == nil {
		return nil, fmt.Errorf("ConnStateCodec: cannot encode %T", value)
	}
	w := avroWriter{b: make([]byte, 0, 256)}
	w.str(s.Cluster)
	w.str(s.Connection)
	w.str(s.Principal)
	w.str(s.ClientID)
	w.str(s.ClientAddress)
	w.str(s.Listener)
	w.str(s.SecurityProtocol)
	w.long(s.FirstSeen.UnixMilli())
	w.long(s.LastSeen.UnixMilli())
	w.long(s.Requests)
	writeFirst(&w, s.FirstProduce)
	writeFirst(&w, s.FirstFetch)
	w.long(s.SuppressedProduce)
	w.long(s.SuppressedFetch)
	w.long(s.SuppressedBytes)
	w.array(len(s.Topics), func(i int) {
		w.str(s.Topics[i].Topic)
		writeCounts(&w, s.Topics[i].Total)
		writeCounts(&w, s.Topics[i].Pending)
	})
	w.long(msOrZero(s.LastReport))
	w.long(msOrZero(s.Epoch))
	w.int(s.MaxCorrelationID)
	w.int(s.LoopedPartition)
	w.long(s.LoopedOffset)
	return w.b, nil
}

// Decode implements goka.Codec.
func (*ConnStateCodec) Decode(data []byte) (any, error) {
	r := avroReader{b: data}
	s := &ConnState{}
	s.Cluster = r.str()
	s.Connection = r.str()
	s.Principal = r.str()
	s.ClientID = r.str()
	s.ClientAddress = r.str()
	s.Listener = r.str()
	s.SecurityProtocol = r.str()
	s.FirstSeen = time.UnixMilli(r.long()).UTC()
	s.LastSeen = time.UnixMilli(r.long()).UTC()
	s.Requests = r.long()
	s.FirstProduce = readFirst(&r)
	s.FirstFetch = readFirst(&r)
	s.SuppressedProduce = r.long()
	s.SuppressedFetch = r.long()
	s.SuppressedBytes = r.long()
	r.array(func() {
		t := TopicAccess{Topic: r.str()}
		t.Total = readCounts(&r)
		t.Pending = readCounts(&r)
		s.Topics = append(s.Topics, t)
	})
	s.LastReport = timeOrZero(r.long())
	s.Epoch = timeOrZero(r.long())
	s.MaxCorrelationID = r.int()
	if r.more() { // absent in states written before the loop chain
		s.LoopedPartition = r.int()
		s.LoopedOffset = r.long()
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("ConnStateCodec: %w", err)
	}
	return s, nil
}

// writeFirst writes a ["null", FirstRequest] union.
func writeFirst(w *avroWriter, f *FirstRequest) {
	if f == nil {
		w.long(0)
		return
	}
	w.long(1)
	w.long(f.Time.UnixMilli())
	w.int(f.CorrelationID)
	w.array(len(f.Topics), func(i int) { w.str(f.Topics[i]) })
	w.int(f.SourcePartition)
	w.long(f.SourceOffset)
}

func readFirst(r *avroReader) *FirstRequest {
	if !r.union() {
		return nil
	}
	f := &FirstRequest{Time: time.UnixMilli(r.long()).UTC(), CorrelationID: r.int()}
	r.array(func() { f.Topics = append(f.Topics, r.str()) })
	f.SourcePartition = r.int()
	f.SourceOffset = r.long()
	return f
}

// writeCounts writes an AccessCounts record.
func writeCounts(w *avroWriter, a Access) {
	w.long(a.Produce)
	w.long(a.Fetch)
	w.long(a.Denied)
	w.long(a.Bytes)
	w.long(msOrZero(a.First))
	w.long(msOrZero(a.Last))
}

func readCounts(r *avroReader) Access {
	return Access{
		Produce: r.long(), Fetch: r.long(), Denied: r.long(), Bytes: r.long(),
		First: timeOrZero(r.long()), Last: timeOrZero(r.long()),
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
