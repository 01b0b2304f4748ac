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
// fields are all present; the ones a version lacks stay zero.

// ProduceRequest is the logged body of a Produce request.
type ProduceRequest struct {
	TransactionalID *string `json:"transactionalId"`
	Acks            int16   `json:"acks"`
	TopicData       []struct {
		Name          string `json:"name"`
		TopicID       string `json:"topicId"` // v13+
		PartitionData []struct {
			Index              int32 `json:"index"`
			RecordsSizeInBytes int64 `json:"recordsSizeInBytes"`
		} `json:"partitionData"`
	} `json:"topicData"`
}

// ProduceResponse is the logged body of a Produce response; "" for acks=0.
type ProduceResponse struct {
	Responses []struct {
		Name               string `json:"name"`
		TopicID            string `json:"topicId"`
		PartitionResponses []struct {
			Index        int32   `json:"index"`
			ErrorCode    int16   `json:"errorCode"`
			ErrorMessage *string `json:"errorMessage"`
		} `json:"partitionResponses"`
	} `json:"responses"`
}

// FetchRequest is the logged body of a Fetch request.
type FetchRequest struct {
	ReplicaID    *int32          `json:"replicaId"`    // v0–14; -1 for consumers
	ReplicaState json.RawMessage `json:"replicaState"` // v15+, followers only
	Topics       []struct {
		Topic   string `json:"topic"`   // v0–12
		TopicID string `json:"topicId"` // v13+
	} `json:"topics"`
}

// IsFollower reports whether the fetch came from a replica, not a consumer.
func (f *FetchRequest) IsFollower() bool {
	return (f.ReplicaID != nil && *f.ReplicaID >= 0) || len(f.ReplicaState) > 0
}

// FetchResponse is the logged body of a Fetch response.
type FetchResponse struct {
	ErrorCode int16 `json:"errorCode"`
	Responses []struct {
		Topic      string `json:"topic"`
		TopicID    string `json:"topicId"`
		Partitions []struct {
			PartitionIndex     int32 `json:"partitionIndex"`
			ErrorCode          int16 `json:"errorCode"`
			RecordsSizeInBytes int64 `json:"recordsSizeInBytes"`
		} `json:"partitions"`
	} `json:"responses"`
}

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
