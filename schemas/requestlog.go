package schemas

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/linkedin/goavro/v2"
	"github.com/lovoo/goka"
)

// RequestLog is one parsed kafka.request.logger line (FORMATS.md A.2). The
// request and response bodies stay as Kafka wrote them: only the audit step
// needs their per-API layout, and the dedup step must stay cheap.
type RequestLog struct {
	Cluster          string
	Time             time.Time
	APIKey           int16
	APIVersion       int16
	APIName          string
	CorrelationID    int32
	ClientID         string
	Connection       string
	Principal        string
	SecurityProtocol string
	Listener         string
	SoftwareName     string
	SoftwareVersion  string
	TotalTimeMs      float64
	Request          json.RawMessage
	Response         json.RawMessage
	// Topics and RecordBytes are read from Produce and Fetch bodies at parse
	// time, so the dedup step never decodes a body again. Topics holds names,
	// or topic ids for v13+.
	Topics      []string
	RecordBytes int64
	// TopicBytes and TopicErrors are the record bytes and the outcome per
	// entry of Topics. Produce and Fetch keep only these, not their bodies.
	TopicBytes  []int64
	TopicErrors []int16
	// Follower marks a Fetch sent by a replica rather than a consumer.
	Follower bool
	// ErrorCode is the Produce/Fetch outcome: an authorization error if any
	// partition got one, else the first non-zero partition error, else 0.
	ErrorCode int16
	// Batch, BatchProduce and BatchFetch are set on batch records only
	// (APIName BatchAPI): repeat Produce/Fetch requests of one connection
	// counted on the input side, per topic, and in total. BatchOther counts
	// the batch's requests of other methods, which the input side passed
	// (Passed) and counted instead of looping each.
	Batch        []BatchAccess
	BatchProduce int64
	BatchFetch   int64
	BatchOther   int64
	// SourcePartition and SourceOffset locate the raw line, so that a replay
	// of the same line can be recognised and yields the same record ids.
	SourcePartition int32
	SourceOffset    int64
	// LoopPrev chains a connection's requests on the loop topic: the
	// SourceOffset+1 of the request of the same connection and source
	// partition that the sending input instance looped before this one, 0
	// if it knows none. The table owner drops a request while it has
	// applied neither that predecessor nor a later request from the same
	// source partition (see dedup.Rules.Overtakes).
	LoopPrev int64
	// Passed marks a loop record whose request the input side has already
	// sent on to be audited: the owner takes it into the connection's state
	// and emits nothing. Such a record carries no bodies.
	Passed bool
}

// Parse-error reasons, written to the dead-letter header kaudit-reason.
const (
	ReasonEmpty        = "empty"
	ReasonTooLarge     = "too-large"
	ReasonInvalidUTF8  = "invalid-utf8"
	ReasonNotRequest   = "not-request-log"
	ReasonLegacyFormat = "legacy-format"
	ReasonBadJSON      = "bad-json"
	ReasonBadTimestamp = "bad-timestamp"
	ReasonMissingField = "missing-field"
	ReasonBadBody      = "bad-body"
	ReasonTooMany      = "too-many-resources"
)

// ParseError says why a line is not a usable request-log record.
type ParseError struct {
	Reason string
	Err    error
}

func (e *ParseError) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *ParseError) Unwrap() error { return e.Err }

// ErrForwarded marks a line the KRaft controller logged for a request a broker
// forwarded to it. The broker logged the same request already, so it is
// skipped, not dead-lettered (FORMATS.md A.6).
var ErrForwarded = errors.New("forwarded request (isForwarded:true)")

// MaxLineBytes is the default bound of one input line. Real lines are a
// few KB; CreateTopics responses with every effective config stay far
// below this.
const MaxLineBytes = 1 << 20

// MaxTopicsPerRequest bounds the topics of one Produce or Fetch. Real
// clients send a handful; a huge array would fan out into a huge state.
const MaxTopicsPerRequest = 10000

const (
	log4jTimeLayout = "2006-01-02 15:04:05,000"
	completedPrefix = "Completed request:"
	loggerSuffix    = " (kafka.request.logger)"
)

// ParseOptions carries what a line does not say about itself.
type ParseOptions struct {
	Cluster  string
	Location *time.Location // zone of log4j's %d, which has none; UTC if nil
	// Fallback is used as the record time for bare JSON lines.
	Fallback time.Time
	// MaxLineBytes bounds a line; 0 means the package default.
	MaxLineBytes int
}

// ParseLine parses one request-log line: either the whole log4j line
// `[ts] DEBUG Completed request:{json} (kafka.request.logger)` or the bare
// JSON object. It returns ErrForwarded for controller-side duplicates and a
// *ParseError for anything else it cannot use.
func ParseLine(line []byte, opts ParseOptions) (*RequestLog, error) {
	line = bytes.TrimRight(line, "\r\n \t")
	limit := opts.MaxLineBytes
	if limit <= 0 {
		limit = MaxLineBytes
	}
	switch {
	case len(line) == 0:
		return nil, &ParseError{ReasonEmpty, errors.New("empty line")}
	case len(line) > limit:
		return nil, &ParseError{ReasonTooLarge, fmt.Errorf("line is %d bytes, limit %d", len(line), limit)}
	case !utf8.Valid(line):
		return nil, &ParseError{ReasonInvalidUTF8, errors.New("line is not valid UTF-8")}
	}
	body, ts := line, opts.Fallback
	if line[0] == '[' {
		var err error
		if body, ts, err = splitLog4j(line, opts.Location); err != nil {
			return nil, err
		}
	} else if line[0] != '{' {
		return nil, &ParseError{ReasonNotRequest, errors.New("line starts with neither '[' nor '{'")}
	}
	r := &RequestLog{Cluster: opts.Cluster, Time: ts.UTC()}
	if err := parseBody(body, r); err != nil {
		return nil, err
	}
	if len(r.Topics) > MaxTopicsPerRequest {
		return nil, &ParseError{ReasonTooMany, fmt.Errorf("%d topics in one request, limit %d", len(r.Topics), MaxTopicsPerRequest)}
	}
	return r, nil
}

// worseError keeps the error that matters more for auditing: an
// authorization failure beats any other error, any error beats none.
func worseError(have, next int16) int16 {
	switch {
	case have == 0:
		return next
	case IsAuthorizationCode(next) && !IsAuthorizationCode(have):
		return next
	default:
		return have
	}
}

// Denied reports whether the request was refused by an ACL check.
func (r *RequestLog) Denied() bool { return IsAuthorizationCode(r.ErrorCode) }

// ProduceOrFetch reports whether r is a Produce or a Fetch: the requests
// that the dedup rule judges per connection and whose access the dedup
// group tracks. Any other audited request is kept whatever its
// connection's state.
func (r *RequestLog) ProduceOrFetch() bool { return r.APIKey == APIProduce || r.APIKey == APIFetch }

// addSize adds a logged byte count, ignoring negative ones and saturating
// instead of wrapping: sizes come from untrusted input.
func addSize(total, n int64) int64 {
	if n <= 0 {
		return total
	}
	if total > math.MaxInt64-n {
		return math.MaxInt64
	}
	return total + n
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// splitLog4j cuts `[ts] LEVEL Completed request:{json} (kafka.request.logger)`
// into the JSON body and the parsed timestamp.
func splitLog4j(line []byte, loc *time.Location) ([]byte, time.Time, error) {
	end := bytes.IndexByte(line, ']')
	i := bytes.Index(line, []byte(completedPrefix))
	if end < 0 || i < end {
		return nil, time.Time{}, &ParseError{ReasonNotRequest, errors.New(`not "[timestamp] LEVEL Completed request:..."`)}
	}
	body := line[i+len(completedPrefix):]
	if bytes.HasPrefix(body, []byte("RequestHeader(")) {
		// Kafka < 2.8 wrote `Completed request:RequestHeader(...) -- {...}`.
		return nil, time.Time{}, &ParseError{ReasonLegacyFormat, errors.New("pre-2.8 text request log is not supported")}
	}
	if loc == nil {
		loc = time.UTC
	}
	ts, err := time.ParseInLocation(log4jTimeLayout, string(line[1:end]), loc)
	if err != nil {
		return nil, time.Time{}, &ParseError{ReasonBadTimestamp, err}
	}
	return bytes.TrimSuffix(body, []byte(loggerSuffix)), ts, nil
}

//go:embed requestlog.avsc
var requestLogSchema string

// requestLogAvro is the schema the hand-written codec implements; tests
// check the two agree.
var requestLogAvro = avroCodec(requestLogSchema)

// limitAvroBlocks caps goavro's array and bytes block sizes (default 2^31)
// before any codec is built: a corrupt table or loop record could
// otherwise make Decode allocate tens of GB and kill the process, which no
// recover can catch. No kaudit record comes near these limits.
var limitAvroBlocks = sync.OnceFunc(func() {
	goavro.MaxBlockCount = 1 << 20
	goavro.MaxBlockSize = 64 << 20
})

// avroCodec compiles an embedded schema once, on first use. An error is a
// programming error that every codec test catches; it is returned, not
// panicked, so a bad build fails loudly without crashing a caller.
func avroCodec(schema string) func() (*goavro.Codec, error) {
	limitAvroBlocks()
	return sync.OnceValues(func() (*goavro.Codec, error) { return goavro.NewCodec(schema) })
}

// avroEncode encodes a native map with a lazily built codec.
func avroEncode(codec func() (*goavro.Codec, error), native map[string]any) ([]byte, error) {
	c, err := codec()
	if err != nil {
		return nil, err
	}
	return c.BinaryFromNative(nil, native)
}

// avroDecode decodes one record into its native map. Trailing bytes are an
// error: a table value is exactly one record.
func avroDecode(codec func() (*goavro.Codec, error), data []byte) (map[string]any, error) {
	c, err := codec()
	if err != nil {
		return nil, err
	}
	native, rest, err := c.NativeFromBinary(data)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%d trailing bytes after the record", len(rest))
	}
	m, ok := native.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decoded %T, want a record", native)
	}
	return m, nil
}

// RequestLogCodec encodes *RequestLog as Avro binary (requestlog.avsc) for
// the internal loop topic (and an older kaudit's requests topic).
type RequestLogCodec struct{}

var _ goka.Codec = (*RequestLogCodec)(nil)

// Encode implements goka.Codec.
func (*RequestLogCodec) Encode(value any) ([]byte, error) {
	r, ok := value.(*RequestLog)
	if !ok || r == nil {
		return nil, fmt.Errorf("RequestLogCodec: cannot encode %T", value)
	}
	w := avroWriter{b: make([]byte, 0, 256+len(r.Request)+len(r.Response))}
	w.str(r.Cluster)
	w.long(r.Time.UnixMilli())
	w.int(int32(r.APIKey))
	w.int(int32(r.APIVersion))
	w.str(r.APIName)
	w.int(r.CorrelationID)
	w.str(r.ClientID)
	w.str(r.Connection)
	w.str(r.Principal)
	w.str(r.SecurityProtocol)
	w.str(r.Listener)
	w.str(r.SoftwareName)
	w.str(r.SoftwareVersion)
	w.double(r.TotalTimeMs)
	w.raw(r.Request)
	w.raw(r.Response)
	w.int(r.SourcePartition)
	w.long(r.SourceOffset)
	w.array(len(r.Topics), func(i int) { w.str(r.Topics[i]) })
	w.long(r.RecordBytes)
	w.boolean(r.Follower)
	w.int(int32(r.ErrorCode))
	w.array(len(r.TopicBytes), func(i int) { w.long(r.TopicBytes[i]) })
	w.long(0) // conn_epoch_ms: unused since record ids take the log time instead
	w.array(len(r.TopicErrors), func(i int) { w.int(int32(r.TopicErrors[i])) })
	w.array(len(r.Batch), func(i int) {
		w.str(r.Batch[i].Topic)
		writeCounts(&w, r.Batch[i].Access)
	})
	w.long(r.BatchProduce)
	w.long(r.BatchFetch)
	w.long(r.LoopPrev)
	w.boolean(r.Passed)
	w.long(r.BatchOther)
	return w.b, nil
}

// Decode implements goka.Codec.
func (*RequestLogCodec) Decode(data []byte) (any, error) {
	rd := avroReader{b: data}
	r := &RequestLog{}
	r.Cluster = rd.str()
	r.Time = time.UnixMilli(rd.long()).UTC()
	r.APIKey = int16(rd.int())
	r.APIVersion = int16(rd.int())
	r.APIName = rd.str()
	r.CorrelationID = rd.int()
	r.ClientID = rd.str()
	r.Connection = rd.str()
	r.Principal = rd.str()
	r.SecurityProtocol = rd.str()
	r.Listener = rd.str()
	r.SoftwareName = rd.str()
	r.SoftwareVersion = rd.str()
	r.TotalTimeMs = rd.double()
	r.Request = rawOrNil(rd.str())
	r.Response = rawOrNil(rd.str())
	r.SourcePartition = rd.int()
	r.SourceOffset = rd.long()
	rd.array(func() { r.Topics = append(r.Topics, rd.str()) })
	r.RecordBytes = rd.long()
	r.Follower = rd.boolean()
	r.ErrorCode = int16(rd.int())
	rd.array(func() { r.TopicBytes = append(r.TopicBytes, rd.long()) })
	rd.long() // conn_epoch_ms
	rd.array(func() { r.TopicErrors = append(r.TopicErrors, int16(rd.int())) })
	rd.array(func() {
		b := BatchAccess{Topic: rd.str()}
		b.Access = readCounts(&rd)
		r.Batch = append(r.Batch, b)
	})
	r.BatchProduce = rd.long()
	r.BatchFetch = rd.long()
	if rd.more() { // absent in records of kaudit before the loop chain
		r.LoopPrev = rd.long()
	}
	if rd.more() { // absent in records of kaudit before admin requests passed on the input side
		r.Passed = rd.boolean()
	}
	if rd.more() { // absent in records of kaudit before admin requests were batched
		r.BatchOther = rd.long()
	}
	if err := rd.done(); err != nil {
		return nil, fmt.Errorf("RequestLogCodec: %w", err)
	}
	return r, nil
}

func stringsToNative(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func stringsFromNative(v any) []string {
	raw, _ := v.([]any)
	if len(raw) == 0 {
		return nil
	}
	out := make([]string, len(raw))
	for i, s := range raw {
		out[i], _ = s.(string)
	}
	return out
}

// BatchAccess is one topic's share of a batch record.
type BatchAccess struct {
	Topic  string
	Access Access
}

// BatchAPI marks the dedup group's batch records on its loop topic.
const BatchAPI = "KAUDIT_BATCH"

// ExpireAPI marks the dedup group's own eviction messages on its loop
// topic; no Kafka API has this name.
const ExpireAPI = "KAUDIT_EXPIRE"

// API describes the record's API (method, category, audited by default).
func (r *RequestLog) API() API { return LookupAPI(r.APIName, r.Follower) }

// rawOrNil keeps an absent body absent across a round trip.
func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}
