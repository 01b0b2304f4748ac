package schemas

import (
	"errors"
	"fmt"
	"math"

	"github.com/valyala/fastjson"
)

// The request log is kaudit's hot path: one line per Kafka request, ~80%
// of them repeat Produce/Fetch that the dedup drops. fastjson parses a
// 1 KB line and reads the fields kaudit needs in ~1.6 µs with no
// allocations, against ~12 µs for encoding/json into structs (BENCHMARKS.md),
// so lines are read with it; admin bodies, rare, keep encoding/json.
var parsers fastjson.ParserPool

// errType reports a JSON value of the wrong type.
func errType(field, want string, v *fastjson.Value) error {
	return fmt.Errorf("%s is %s, want %s", field, v.Type(), want)
}

// optString reads an optional string field; absent and null give "".
func optString(o *fastjson.Value, field string) (string, error) {
	v := o.Get(field)
	if v == nil || v.Type() == fastjson.TypeNull {
		return "", nil
	}
	b, err := v.StringBytes()
	if err != nil {
		return "", errType(field, "string", v)
	}
	return string(b), nil
}

// optInt reads an optional integer field within [lo, hi]; absent gives 0.
func optInt(o *fastjson.Value, field string, lo, hi int64) (int64, bool, error) {
	v := o.Get(field)
	if v == nil {
		return 0, false, nil
	}
	n, err := v.Int64()
	if err != nil {
		return 0, false, errType(field, "integer", v)
	}
	if n < lo || n > hi {
		return 0, false, fmt.Errorf("%s=%d is out of range [%d, %d]", field, n, lo, hi)
	}
	return n, true, nil
}

// optArray reads an optional array field; absent and null give nil.
func optArray(o *fastjson.Value, field string) ([]*fastjson.Value, error) {
	v := o.Get(field)
	if v == nil || v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	a, err := v.Array()
	if err != nil {
		return nil, errType(field, "array", v)
	}
	return a, nil
}

// parseBody reads the JSON object of a line into r. Type errors are
// ReasonBadJSON and missing required fields ReasonMissingField, as Kafka
// always writes them; Produce/Fetch bodies of the wrong shape are
// ReasonBadBody.
func parseBody(body []byte, r *RequestLog) error {
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return &ParseError{ReasonBadJSON, err}
	}
	if v.Type() != fastjson.TypeObject {
		return &ParseError{ReasonBadJSON, errType("line", "object", v)}
	}
	if f := v.Get("isForwarded"); f != nil && f.Type() != fastjson.TypeNull {
		b, err := f.Bool()
		if err != nil {
			return &ParseError{ReasonBadJSON, errType("isForwarded", "bool", f)}
		}
		if b {
			return ErrForwarded
		}
	}
	h := v.Get("requestHeader")
	if h == nil || h.Type() == fastjson.TypeNull {
		return &ParseError{ReasonMissingField, errors.New("no requestHeader")}
	}
	if h.Type() != fastjson.TypeObject {
		return &ParseError{ReasonBadJSON, errType("requestHeader", "object", h)}
	}
	if err := parseHeader(h, r); err != nil {
		return err
	}
	if err := parseConnectionFields(v, r); err != nil {
		return err
	}
	switch r.APIKey {
	case APIProduce:
		err = r.readProduce(v)
	case APIFetch:
		err = r.readFetch(v)
	default:
		// Other APIs keep their bodies for the audit mapping.
		r.Request, r.Response = marshalBody(v.Get("request")), marshalBody(v.Get("response"))
	}
	if err != nil {
		return &ParseError{ReasonBadBody, err}
	}
	return nil
}

func parseHeader(h *fastjson.Value, r *RequestLog) error {
	key, ok, err := optInt(h, "requestApiKey", math.MinInt16, math.MaxInt16)
	switch {
	case err != nil:
		return &ParseError{ReasonBadJSON, fmt.Errorf("requestHeader.%w", err)}
	case !ok || h.Get("requestApiKey").Type() == fastjson.TypeNull:
		return &ParseError{ReasonMissingField, errors.New("no requestHeader.requestApiKey")}
	}
	version, _, err := optInt(h, "requestApiVersion", math.MinInt16, math.MaxInt16)
	if err != nil {
		return &ParseError{ReasonBadJSON, fmt.Errorf("requestHeader.%w", err)}
	}
	corr, _, err := optInt(h, "correlationId", math.MinInt32, math.MaxInt32)
	if err != nil {
		return &ParseError{ReasonBadJSON, fmt.Errorf("requestHeader.%w", err)}
	}
	name, err := optString(h, "requestApiKeyName")
	if err != nil {
		return &ParseError{ReasonBadJSON, fmt.Errorf("requestHeader.%w", err)}
	}
	if name == "" {
		return &ParseError{ReasonMissingField, errors.New("no requestHeader.requestApiKeyName")}
	}
	client, err := optString(h, "clientId")
	if err != nil {
		return &ParseError{ReasonBadJSON, fmt.Errorf("requestHeader.%w", err)}
	}
	r.APIKey, r.APIVersion, r.CorrelationID = int16(key), int16(version), int32(corr)
	r.APIName, r.ClientID = name, client
	return nil
}

func parseConnectionFields(v *fastjson.Value, r *RequestLog) error {
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"connection", &r.Connection}, {"principal", &r.Principal},
		{"securityProtocol", &r.SecurityProtocol}, {"listener", &r.Listener},
	} {
		s, err := optString(v, f.name)
		if err != nil {
			return &ParseError{ReasonBadJSON, err}
		}
		*f.dst = s
	}
	switch {
	case r.Connection == "":
		return &ParseError{ReasonMissingField, errors.New("no connection")}
	case r.Principal == "":
		return &ParseError{ReasonMissingField, errors.New("no principal")}
	}
	if ci := v.Get("clientInformation"); ci != nil && ci.Type() != fastjson.TypeNull {
		if ci.Type() != fastjson.TypeObject {
			return &ParseError{ReasonBadJSON, errType("clientInformation", "object", ci)}
		}
		var err1, err2 error
		r.SoftwareName, err1 = optString(ci, "softwareName")
		r.SoftwareVersion, err2 = optString(ci, "softwareVersion")
		if err := errors.Join(err1, err2); err != nil {
			return &ParseError{ReasonBadJSON, fmt.Errorf("clientInformation.%w", err)}
		}
	}
	if t := v.Get("totalTimeMs"); t != nil && t.Type() != fastjson.TypeNull {
		f, err := t.Float64()
		if err != nil {
			return &ParseError{ReasonBadJSON, errType("totalTimeMs", "number", t)}
		}
		r.TotalTimeMs = f
	}
	return nil
}

// marshalBody keeps a body as JSON; Kafka writes "" where none was
// computed, which stays "".
func marshalBody(v *fastjson.Value) []byte {
	if v == nil {
		return nil
	}
	return v.MarshalTo(nil)
}

// noBody reports a body Kafka did not compute: absent, null or "".
func noBody(v *fastjson.Value) bool {
	if v == nil || v.Type() == fastjson.TypeNull {
		return true
	}
	s, err := v.StringBytes()
	return err == nil && len(s) == 0
}

// object checks that a body is a JSON object.
func object(field string, v *fastjson.Value) (*fastjson.Value, error) {
	if noBody(v) {
		return nil, nil
	}
	if v.Type() != fastjson.TypeObject {
		return nil, errType(field, "object", v)
	}
	return v, nil
}

// bodies returns a line's request and response, each an object or nil
// when absent.
func bodies(line *fastjson.Value) (req, resp *fastjson.Value, err error) {
	if req, err = object("request", line.Get("request")); err != nil {
		return nil, nil, err
	}
	resp, err = object("response", line.Get("response"))
	return req, resp, err
}

// topicKey is how Produce/Fetch name a topic: by name, or by id from v13.
func topicKey(t *fastjson.Value, nameField string) (string, error) {
	if t.Type() != fastjson.TypeObject {
		return "", errType("topic entry", "object", t)
	}
	name, err := optString(t, nameField)
	if err != nil {
		return "", err
	}
	id, err := optString(t, "topicId")
	if err != nil {
		return "", err
	}
	return nonEmpty(name, id), nil
}

// topicStat is one topic entry of a Produce/Fetch body: its partitions'
// record bytes, summed, and their error codes, folded.
type topicStat struct {
	bytes int64
	code  int16
}

// eachTopic walks body[list], the topic entries of a Produce/Fetch body in
// order, with each entry's partitions (entry[parts]) summarised.
func eachTopic(body *fastjson.Value, list, name, parts string, each func(key string, s topicStat)) error {
	topics, err := optArray(body, list)
	if err != nil {
		return err
	}
	for _, t := range topics {
		k, err := topicKey(t, name)
		if err != nil {
			return err
		}
		ps, err := optArray(t, parts)
		if err != nil {
			return err
		}
		var st topicStat
		for _, p := range ps {
			size, _, err := optInt(p, "recordsSizeInBytes", math.MinInt64, math.MaxInt64)
			if err != nil {
				return err
			}
			code, _, err := optInt(p, "errorCode", math.MinInt16, math.MaxInt16)
			if err != nil {
				return err
			}
			st.bytes = addSize(st.bytes, size)
			st.code = worseError(st.code, int16(code))
		}
		each(k, st)
	}
	return nil
}

// readProduce keeps what auditing needs of a Produce: each topic with its
// record bytes and outcome. The bodies themselves are dropped: the dedup
// step never needs them and the audit record shows only topics and codes.
func (r *RequestLog) readProduce(line *fastjson.Value) error {
	req, resp, err := bodies(line)
	if err != nil {
		return err
	}
	codes := map[string]int16{}
	if resp != nil {
		if err := eachTopic(resp, "responses", "name", "partitionResponses", func(k string, s topicStat) {
			codes[k] = worseError(codes[k], s.code)
		}); err != nil {
			return err
		}
	}
	if req == nil {
		return nil
	}
	return eachTopic(req, "topicData", "name", "partitionData", func(k string, s topicStat) {
		r.addTopic(k, s.bytes, codes[k])
	})
}

// readFetch keeps what auditing needs of a Fetch: each requested topic with
// the bytes and outcome of its response, and whether a replica sent it.
func (r *RequestLog) readFetch(line *fastjson.Value) error {
	req, resp, err := bodies(line)
	if err != nil {
		return err
	}
	var top int16
	stats := map[string]topicStat{}
	if resp != nil {
		c, _, err := optInt(resp, "errorCode", math.MinInt16, math.MaxInt16)
		if err != nil {
			return err
		}
		top = int16(c)
		if err := eachTopic(resp, "responses", "topic", "partitions", func(k string, s topicStat) {
			have := stats[k]
			stats[k] = topicStat{addSize(have.bytes, s.bytes), worseError(have.code, s.code)}
		}); err != nil {
			return err
		}
	}
	r.ErrorCode = top
	if req == nil {
		return nil
	}
	if replica, ok, err := optInt(req, "replicaId", math.MinInt32, math.MaxInt32); err != nil {
		return err
	} else if ok && replica >= 0 {
		r.Follower = true
	}
	if rs := req.Get("replicaState"); rs != nil && rs.Type() == fastjson.TypeObject {
		r.Follower = true
	}
	return eachTopic(req, "topics", "topic", "partitions", func(k string, _ topicStat) {
		s := stats[k]
		if s.code == 0 {
			s.code = top
		}
		r.addTopic(k, s.bytes, s.code)
	})
}

// addTopic records one topic of a Produce/Fetch and folds its outcome into
// the request's.
func (r *RequestLog) addTopic(topic string, n int64, code int16) {
	r.Topics = append(r.Topics, topic)
	r.TopicBytes = append(r.TopicBytes, n)
	r.TopicErrors = append(r.TopicErrors, code)
	r.RecordBytes = addSize(r.RecordBytes, n)
	r.ErrorCode = worseError(r.ErrorCode, code)
}
