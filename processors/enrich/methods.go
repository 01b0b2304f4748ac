package enrich

import (
	"encoding/json"

	"github.com/kaudit/kaudit/schemas"
)

// methods maps requestApiKeyName to how its resources are found. Each row
// only says that and the per-resource data; everything common is built once
// in build. Names and categories come from schemas.LookupAPI.
var methods = map[string]resourcesFunc{
	"PRODUCE":       produceResources,
	"FETCH":         fetchResources,
	"CREATE_TOPICS": createTopicsResources,
	"DELETE_TOPICS": deleteTopicsResources,
}

// genericResources maps an API without a specific mapping: one record on
// the cluster, with Kafka's logged request as request.data and the
// response's top-level error code, if it has one, as the result.
func genericResources(r *schemas.RequestLog, _ Lookups) ([]resource, error) {
	var resp struct {
		ErrorCode    int16   `json:"errorCode"`
		ErrorMessage *string `json:"errorMessage"`
	}
	if err := schemas.DecodeBody(r.Response, &resp); err != nil {
		return nil, err
	}
	req := r.Request
	if len(req) == 0 {
		req = json.RawMessage("null")
	}
	return []resource{{
		Type: ResKafkaCluster, Name: "", ErrorCode: resp.ErrorCode,
		Request: req,
		Result:  defaultResult(resp.ErrorCode, resp.ErrorMessage),
	}}, nil
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

func produceResources(r *schemas.RequestLog, l Lookups) ([]resource, error) {
	var req schemas.ProduceRequest
	var resp schemas.ProduceResponse
	if err := decodeBoth(r, &req, &resp); err != nil {
		return nil, err
	}
	codes := map[string]int16{}
	for _, t := range resp.Responses {
		for _, p := range t.PartitionResponses {
			if codes[t.Name+t.TopicID] == 0 {
				codes[t.Name+t.TopicID] = p.ErrorCode
			}
		}
	}
	out := make([]resource, 0, len(req.TopicData))
	for _, t := range req.TopicData {
		name := topicName(r, l, t.Name, t.TopicID)
		code := codes[t.Name+t.TopicID]
		out = append(out, resource{
			Type: ResTopic, Name: name, ErrorCode: code,
			Request: struct {
				Topic     string `json:"topic"`
				Partition *int32 `json:"partition"`
			}{name, nil},
			Result: struct {
				Offset    *int64  `json:"offset"`
				Message   *string `json:"message"`
				ErrorCode int16   `json:"errorCode"`
				ErrorType string  `json:"errorType"`
			}{nil, nil, code, ErrorName(code)},
		})
	}
	return out, nil
}

func fetchResources(r *schemas.RequestLog, l Lookups) ([]resource, error) {
	var req schemas.FetchRequest
	var resp schemas.FetchResponse
	if err := decodeBoth(r, &req, &resp); err != nil {
		return nil, err
	}
	codes := map[string]int16{}
	for _, t := range resp.Responses {
		for _, p := range t.Partitions {
			if codes[t.Topic+t.TopicID] == 0 {
				codes[t.Topic+t.TopicID] = p.ErrorCode
			}
		}
	}
	out := make([]resource, 0, len(req.Topics))
	for _, t := range req.Topics {
		code := codes[t.Topic+t.TopicID]
		if code == 0 {
			code = resp.ErrorCode
		}
		// The seed writes the error name as the message on success, and
		// Kafka's default message on failure.
		msg := ErrorName(code)
		if code != 0 {
			msg = ErrorMessage(code)
		}
		out = append(out, resource{
			Type: ResTopic, Name: topicName(r, l, t.Topic, t.TopicID), ErrorCode: code,
			Request: struct {
				Partition *int32 `json:"partition"`
				Offset    *int64 `json:"offset"`
			}{},
			Result: defaultResult(code, &msg),
		})
	}
	return out, nil
}

func createTopicsResources(r *schemas.RequestLog, _ Lookups) ([]resource, error) {
	var req schemas.CreateTopicsRequest
	var resp schemas.CreateTopicsResponse
	if err := decodeBoth(r, &req, &resp); err != nil {
		return nil, err
	}
	type result struct {
		code int16
		msg  *string
	}
	results := map[string]result{}
	for _, t := range resp.Topics {
		results[t.Name] = result{t.ErrorCode, t.ErrorMessage}
	}
	out := make([]resource, 0, len(req.Topics))
	for _, t := range req.Topics {
		res := results[t.Name]
		out = append(out, resource{
			Type: ResTopic, Name: t.Name, ErrorCode: res.code,
			Request: struct {
				Name              string          `json:"name"`
				NumPartitions     int32           `json:"numPartitions"`
				ReplicationFactor int16           `json:"replicationFactor"`
				Assignments       json.RawMessage `json:"assignments"`
				Configs           json.RawMessage `json:"configs"`
				ValidateOnly      bool            `json:"validateOnly"`
			}{t.Name, t.NumPartitions, t.ReplicationFactor, orEmptyArray(t.Assignments), orEmptyArray(t.Configs), req.ValidateOnly},
			Result: defaultResult(res.code, res.msg),
		})
	}
	return out, nil
}

func deleteTopicsResources(r *schemas.RequestLog, l Lookups) ([]resource, error) {
	var req schemas.DeleteTopicsRequest
	var resp schemas.DeleteTopicsResponse
	if err := decodeBoth(r, &req, &resp); err != nil {
		return nil, err
	}
	codes := map[string]int16{}
	for _, t := range resp.Responses {
		if t.Name != nil {
			codes[*t.Name] = t.ErrorCode
		}
		codes[t.TopicID] = t.ErrorCode
	}
	names := req.TopicNames
	for _, t := range req.Topics {
		if t.Name != nil && *t.Name != "" {
			names = append(names, *t.Name)
		} else {
			names = append(names, topicName(r, l, "", t.TopicID))
		}
	}
	out := make([]resource, 0, len(names))
	for _, n := range names {
		code := codes[n]
		out = append(out, resource{
			Type: ResTopic, Name: n, ErrorCode: code,
			Request: struct {
				Name string `json:"name"`
			}{n},
			// The seed's DeleteTopics records carry no message, even on failure.
			Result: defaultResult(code, nil),
		})
	}
	return out, nil
}

func decodeBoth(r *schemas.RequestLog, req, resp any) error {
	if err := schemas.DecodeBody(r.Request, req); err != nil {
		return err
	}
	return schemas.DecodeBody(r.Response, resp)
}

func orEmptyArray(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("[]")
	}
	return raw
}
