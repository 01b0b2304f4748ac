package enrich

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/kaudit/kaudit/schemas"
)

// methods maps requestApiKeyName to how its resources are found. Each row
// only says that and the per-resource data; everything common is built once
// in build. Names and categories come from schemas.LookupAPI. The layouts
// of request.data and result.data, and whether a request yields one record
// per resource or one on the cluster, follow the Confluent Cloud records of
// seed 002 (testdata/seed holds them, TestSeedConformance checks them).
var methods = map[string]resourcesFunc{
	// Data plane: one record per topic.
	"PRODUCE": produceResources,
	"FETCH":   fetchResources,
	// Topics, partitions and groups: one record per named resource.
	"CREATE_TOPICS":     createTopicsResources,
	"DELETE_TOPICS":     deleteTopicsResources,
	"CREATE_PARTITIONS": createPartitionsResources,
	"DELETE_GROUPS":     deleteGroupsResources,
	// ACLs and configs: one record on the cluster for the whole request.
	"CREATE_ACLS":               createAclsResources,
	"DELETE_ACLS":               deleteAclsResources,
	"ALTER_CONFIGS":             alterConfigsResources,
	"INCREMENTAL_ALTER_CONFIGS": alterConfigsResources,
	// Confluent Server cluster linking (methods_links.go).
	"ALTER_MIRRORS":        alterMirrorsResources,
	"CREATE_CLUSTER_LINKS": createClusterLinksResources,
	"DELETE_CLUSTER_LINKS": deleteClusterLinksResources,
}

// genericResources maps an API without a specific mapping: one record on
// the cluster, with Kafka's logged request (secrets masked by redactBody)
// as request.data. The outcome is the response's top-level error code with
// its message; when that is 0 or absent (Metadata and OffsetCommit report
// errors per topic or partition), the first nested non-zero errorCode
// decides, preferring an authorization error, so a denied request is never
// recorded as allowed. Its message is then null: nested messages belong to
// one partition, not to the request.
func genericResources(r *schemas.RequestLog, _ Lookups) ([]resource, error) {
	var top struct {
		ErrorCode    int16   `json:"errorCode"`
		ErrorMessage *string `json:"errorMessage"`
	}
	if err := schemas.DecodeBody(r.Response, &top); err != nil {
		return nil, err
	}
	code, msg := top.ErrorCode, top.ErrorMessage
	if code == 0 {
		nested, err := nestedErrorCodes(r.Response)
		if err != nil {
			return nil, err
		}
		code = firstError(nested...)
	}
	req := json.RawMessage("null")
	if !isEmptyBody(r.Request) {
		var err error
		if req, err = redactBody(r.Request); err != nil {
			return nil, fmt.Errorf("redact request: %w", err)
		}
	}
	return []resource{{
		Type: ResKafkaCluster, ErrorCode: code,
		Request: req,
		Result:  defaultResult(code, msg),
	}}, nil
}

// nestedErrorCodes lists every errorCode in a logged body, in order.
func nestedErrorCodes(raw json.RawMessage) ([]int16, error) {
	if isEmptyBody(raw) {
		return nil, nil
	}
	v, err := parseJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	var codes []int16
	v.walk(func(x *jsonValue) {
		var c int16
		if e := x.get("errorCode"); e != nil && json.Unmarshal(e.scalar, &c) == nil {
			codes = append(codes, c)
		}
	})
	return codes, nil
}

// isEmptyBody reports a body Kafka did not compute ("" or absent).
func isEmptyBody(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) == 0 || string(s) == `""` || string(s) == "null"
}

// firstError picks the code that decides a record's outcome when one
// request yields several: an authorization error if there is one (so the
// record says DENY), else the first non-zero code, else 0.
func firstError(codes ...int16) int16 {
	var first int16
	for _, c := range codes {
		if IsAuthorizationError(c) {
			return c
		}
		if first == 0 {
			first = c
		}
	}
	return first
}

// onCluster is the one record of a request the seed audits on the cluster
// as a whole (ACLs, configs, mirrors): build fills in the cluster id.
func onCluster(code int16, req, result any) []resource {
	return []resource{{Type: ResKafkaCluster, ErrorCode: code, Request: req, Result: result}}
}

// topicName resolves a v13+ topic id, keeping the id when it is unknown
// (as the seed's Fetch records do).
func topicName(r *schemas.RequestLog, l Lookups, name, id string) string {
	if name != "" {
		return name
	}
	if l.TopicName != nil {
		if n, ok := l.TopicName(r.Cluster, id); ok {
			return n
		}
	}
	return id
}

// dataTopics walks the topics of a Produce or Fetch as the parser kept
// them (schemas.ParseLine keeps topics and outcomes, not the bodies),
// naming v13+ topic ids through the catalog.
func dataTopics(r *schemas.RequestLog, l Lookups, each func(name string, code int16)) {
	for i, t := range r.Topics {
		name := t
		if r.APIVersion >= 13 { // Produce and Fetch name topics by id from v13
			name = topicName(r, l, "", t)
		}
		var code int16
		if i < len(r.TopicErrors) {
			code = r.TopicErrors[i]
		}
		each(name, code)
	}
}

func produceResources(r *schemas.RequestLog, l Lookups) ([]resource, error) {
	out := make([]resource, 0, len(r.Topics))
	dataTopics(r, l, func(name string, code int16) {
		out = append(out, resource{
			Type: ResTopic, Name: name, ErrorCode: code,
			// The seed records neither partition nor offset: one record
			// stands for the connection's first produce to the topic.
			Request: struct {
				Topic     string `json:"topic"`
				Partition *int32 `json:"partition"`
			}{name, nil},
			Result: struct {
				Offset    *int64  `json:"offset"`
				Message   *string `json:"message"`
				ErrorCode int16   `json:"errorCode"`
				ErrorType string  `json:"errorType"`
			}{nil, nil, code, errorType(code)},
		})
	})
	return out, nil
}

func fetchResources(r *schemas.RequestLog, l Lookups) ([]resource, error) {
	out := make([]resource, 0, len(r.Topics))
	dataTopics(r, l, func(name string, code int16) {
		// The seed writes the error name as the message on success, and
		// Kafka's default message on failure.
		msg := errorType(code)
		if code != 0 {
			msg = ErrorMessage(code)
		}
		out = append(out, resource{
			Type: ResTopic, Name: name, ErrorCode: code,
			Request: struct {
				Partition *int32 `json:"partition"`
				Offset    *int64 `json:"offset"`
			}{},
			Result: defaultResult(code, &msg),
		})
	})
	return out, nil
}

func decodeBoth(r *schemas.RequestLog, req, resp any) error {
	if err := schemas.DecodeBody(r.Request, req); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if err := schemas.DecodeBody(r.Response, resp); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	return nil
}

// orEmptyArray renders an absent or null list as [], as the seed does.
func orEmptyArray(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("[]")
	}
	return raw
}

// orNull renders an absent value as JSON null.
func orNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

// orEmpty renders a null message as "", for the records whose seed
// examples never carry null (DeleteGroups, cluster links).
func orEmpty(msg *string) string {
	if msg == nil {
		return ""
	}
	return *msg
}
