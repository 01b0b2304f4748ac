package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Kafka API keys kaudit treats specially (FORMATS.md A.7).
const (
	APIProduce = 0
	APIFetch   = 1
)

// The request and response bodies below mirror Kafka's generated JSON
// converters (FORMATS.md A.8) for the fields kaudit reads. Version-dependent
// fields are all present; the ones a version lacks stay zero. Produce and
// Fetch are read on the hot path by fastparse.go instead.

// CreateTopicsRequest is the logged body of a CreateTopics request.
type CreateTopicsRequest struct {
	Topics []struct {
		Name              string          `json:"name"`
		NumPartitions     int32           `json:"numPartitions"`
		ReplicationFactor int16           `json:"replicationFactor"`
		Assignments       json.RawMessage `json:"assignments"`
		Configs           json.RawMessage `json:"configs"`
	} `json:"topics"`
	ValidateOnly bool `json:"validateOnly"`
}

// CreateTopicsResponse is the logged body of a CreateTopics response.
type CreateTopicsResponse struct {
	Topics []struct {
		Name         string  `json:"name"`
		TopicID      string  `json:"topicId"` // v7+
		ErrorCode    int16   `json:"errorCode"`
		ErrorMessage *string `json:"errorMessage"`
	} `json:"topics"`
}

// DeleteTopicsRequest is the logged body of a DeleteTopics request.
type DeleteTopicsRequest struct {
	Topics []struct {
		Name    *string `json:"name"`
		TopicID string  `json:"topicId"`
	} `json:"topics"` // v6+
	TopicNames []string `json:"topicNames"` // v0–5
}

// DeleteTopicsResponse is the logged body of a DeleteTopics response.
type DeleteTopicsResponse struct {
	Responses []struct {
		Name         *string `json:"name"`
		TopicID      string  `json:"topicId"`
		ErrorCode    int16   `json:"errorCode"`
		ErrorMessage *string `json:"errorMessage"`
	} `json:"responses"`
}

// ZeroUUID is Kafka's all-zero topic id, meaning "no id".
const ZeroUUID = "AAAAAAAAAAAAAAAAAAAAAA"

// DecodeBody decodes a logged request or response body. Kafka writes ""
// where no body was computed (NoOp responses, e.g. Produce acks=0); that
// decodes to the zero value.
func DecodeBody(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte(`""`)) || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}
