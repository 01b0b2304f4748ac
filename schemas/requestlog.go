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
	// TopicBytes are the record bytes per entry of Topics.
	TopicBytes []int64
	// Follower marks a Fetch sent by a replica rather than a consumer.
	Follower bool
	// ErrorCode is the Produce/Fetch outcome: an authorization error if any
	// partition got one, else the first non-zero partition error, else 0.
	ErrorCode int16
	// ConnEpoch is the epoch of the connection state that kept the request
	// (ConnState.Epoch); it is part of record ids. Set by the dedup step.
	ConnEpoch time.Time
	// SourcePartition and SourceOffset locate the raw line, so that a replay
	// of the same line can be recognised and yields the same record ids.
	SourcePartition int32
	SourceOffset    int64
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

type lineJSON struct {
	IsForwarded   *bool `json:"isForwarded"`
	RequestHeader *struct {
		RequestAPIKey     *int16  `json:"requestApiKey"`
		RequestAPIVersion int16   `json:"requestApiVersion"`
		CorrelationID     int32   `json:"correlationId"`
		ClientID          *string `json:"clientId"`
		RequestAPIKeyName string  `json:"requestApiKeyName"`
	} `json:"requestHeader"`
	Request           json.RawMessage `json:"request"`
	Response          json.RawMessage `json:"response"`
	Connection        string          `json:"connection"`
	TotalTimeMs       float64         `json:"totalTimeMs"`
	SecurityProtocol  string          `json:"securityProtocol"`
	Principal         string          `json:"principal"`
	Listener          string          `json:"listener"`
	ClientInformation struct {
		SoftwareName    string `json:"softwareName"`
		SoftwareVersion string `json:"softwareVersion"`
	} `json:"clientInformation"`
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
	var j lineJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return nil, &ParseError{ReasonBadJSON, err}
	}
	if j.IsForwarded != nil && *j.IsForwarded {
		return nil, ErrForwarded
	}
	h := j.RequestHeader
	switch {
	case h == nil:
		return nil, &ParseError{ReasonMissingField, errors.New("no requestHeader")}
	case h.RequestAPIKey == nil:
		return nil, &ParseError{ReasonMissingField, errors.New("no requestHeader.requestApiKey")}
	case h.RequestAPIKeyName == "":
		return nil, &ParseError{ReasonMissingField, errors.New("no requestHeader.requestApiKeyName")}
	case j.Connection == "":
		return nil, &ParseError{ReasonMissingField, errors.New("no connection")}
	case j.Principal == "":
		return nil, &ParseError{ReasonMissingField, errors.New("no principal")}
	}
	r := &RequestLog{
		Cluster:          opts.Cluster,
		Time:             ts.UTC(),
		APIKey:           *h.RequestAPIKey,
		APIVersion:       h.RequestAPIVersion,
		APIName:          h.RequestAPIKeyName,
		CorrelationID:    h.CorrelationID,
		Connection:       j.Connection,
		Principal:        j.Principal,
		SecurityProtocol: j.SecurityProtocol,
		Listener:         j.Listener,
		SoftwareName:     j.ClientInformation.SoftwareName,
		SoftwareVersion:  j.ClientInformation.SoftwareVersion,
		TotalTimeMs:      j.TotalTimeMs,
		Request:          j.Request,
		Response:         j.Response,
	}
	if h.ClientID != nil {
		r.ClientID = *h.ClientID
	}
	if err := r.readDataTopics(); err != nil {
		return nil, &ParseError{ReasonBadBody, err}
	}
	if len(r.Topics) > MaxTopicsPerRequest {
		return nil, &ParseError{ReasonTooMany, fmt.Errorf("%d topics in one request, limit %d", len(r.Topics), MaxTopicsPerRequest)}
	}
	return r, nil
}

// readDataTopics fills Topics and RecordBytes for Produce and Fetch.
func (r *RequestLog) readDataTopics() error {
	switch r.APIKey {
	case APIProduce:
		var req ProduceRequest
		var resp ProduceResponse
		if err := DecodeBody(r.Request, &req); err != nil {
			return err
		}
		if err := DecodeBody(r.Response, &resp); err != nil {
			return err
		}
		for _, t := range req.TopicData {
			var n int64
			for _, p := range t.PartitionData {
				n = addSize(n, p.RecordsSizeInBytes)
			}
			r.Topics = append(r.Topics, nonEmpty(t.Name, t.TopicID))
			r.TopicBytes = append(r.TopicBytes, n)
			r.RecordBytes = addSize(r.RecordBytes, n)
		}
		for _, t := range resp.Responses {
			for _, p := range t.PartitionResponses {
				r.ErrorCode = worseError(r.ErrorCode, p.ErrorCode)
			}
		}
	case APIFetch:
		var req FetchRequest
		var resp FetchResponse
		if err := DecodeBody(r.Request, &req); err != nil {
			return err
		}
		if err := DecodeBody(r.Response, &resp); err != nil {
			return err
		}
		r.Follower = req.IsFollower()
		r.ErrorCode = resp.ErrorCode
		bytes := map[string]int64{}
		for _, t := range resp.Responses {
			for _, p := range t.Partitions {
				bytes[nonEmpty(t.Topic, t.TopicID)] = addSize(bytes[nonEmpty(t.Topic, t.TopicID)], p.RecordsSizeInBytes)
				r.ErrorCode = worseError(r.ErrorCode, p.ErrorCode)
			}
		}
		for _, t := range req.Topics {
			name := nonEmpty(t.Topic, t.TopicID)
			r.Topics = append(r.Topics, name)
			r.TopicBytes = append(r.TopicBytes, bytes[name])
			r.RecordBytes = addSize(r.RecordBytes, bytes[name])
		}
	}
	return nil
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

// RequestLogCodec encodes *RequestLog as Avro binary for the internal
// loop and requests topics.
type RequestLogCodec struct{}

var _ goka.Codec = (*RequestLogCodec)(nil)

// Encode implements goka.Codec.
func (*RequestLogCodec) Encode(value any) ([]byte, error) {
	r, ok := value.(*RequestLog)
	if !ok || r == nil {
		return nil, fmt.Errorf("RequestLogCodec: cannot encode %T", value)
	}
	return avroEncode(requestLogAvro, map[string]any{
		"cluster":           r.Cluster,
		"time_ms":           r.Time.UnixMilli(),
		"api_key":           int32(r.APIKey),
		"api_version":       int32(r.APIVersion),
		"api_name":          r.APIName,
		"correlation_id":    r.CorrelationID,
		"client_id":         r.ClientID,
		"connection":        r.Connection,
		"principal":         r.Principal,
		"security_protocol": r.SecurityProtocol,
		"listener":          r.Listener,
		"software_name":     r.SoftwareName,
		"software_version":  r.SoftwareVersion,
		"total_time_ms":     r.TotalTimeMs,
		"request":           string(r.Request),
		"response":          string(r.Response),
		"source_partition":  r.SourcePartition,
		"source_offset":     r.SourceOffset,
		"topics":            stringsToNative(r.Topics),
		"record_bytes":      r.RecordBytes,
		"follower":          r.Follower,
		"error_code":        int32(r.ErrorCode),
		"topic_bytes":       int64sToNative(r.TopicBytes),
		"conn_epoch_ms":     msOrZero(r.ConnEpoch),
	})
}

// Decode implements goka.Codec.
func (*RequestLogCodec) Decode(data []byte) (any, error) {
	m, err := avroDecode(requestLogAvro, data)
	if err != nil {
		return nil, fmt.Errorf("RequestLogCodec: %w", err)
	}
	return &RequestLog{
		Cluster:          m["cluster"].(string),
		Time:             time.UnixMilli(m["time_ms"].(int64)).UTC(),
		APIKey:           int16(m["api_key"].(int32)),
		APIVersion:       int16(m["api_version"].(int32)),
		APIName:          m["api_name"].(string),
		CorrelationID:    m["correlation_id"].(int32),
		ClientID:         m["client_id"].(string),
		Connection:       m["connection"].(string),
		Principal:        m["principal"].(string),
		SecurityProtocol: m["security_protocol"].(string),
		Listener:         m["listener"].(string),
		SoftwareName:     m["software_name"].(string),
		SoftwareVersion:  m["software_version"].(string),
		TotalTimeMs:      m["total_time_ms"].(float64),
		Request:          json.RawMessage(m["request"].(string)),
		Response:         json.RawMessage(m["response"].(string)),
		SourcePartition:  m["source_partition"].(int32),
		SourceOffset:     m["source_offset"].(int64),
		Topics:           stringsFromNative(m["topics"]),
		RecordBytes:      m["record_bytes"].(int64),
		Follower:         m["follower"].(bool),
		ErrorCode:        int16(m["error_code"].(int32)),
		TopicBytes:       int64sFromNative(m["topic_bytes"]),
		ConnEpoch:        timeOrZero(m["conn_epoch_ms"].(int64)),
	}, nil
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

// ExpireAPI marks the dedup group's own eviction messages on its loop
// topic; no Kafka API has this name.
const ExpireAPI = "KAUDIT_EXPIRE"

// API describes the record's API (method, category, audited by default).
func (r *RequestLog) API() API { return LookupAPI(r.APIName, r.Follower) }

func int64sToNative(ns []int64) []any {
	out := make([]any, len(ns))
	for i, n := range ns {
		out[i] = n
	}
	return out
}

func int64sFromNative(v any) []int64 {
	raw, _ := v.([]any)
	if len(raw) == 0 {
		return nil
	}
	out := make([]int64, len(raw))
	for i, n := range raw {
		out[i], _ = n.(int64)
	}
	return out
}
