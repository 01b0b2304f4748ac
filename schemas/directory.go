package schemas

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lovoo/goka"
)

// Identity kinds, as Confluent's principal objects name them.
const (
	IdentityUser           = "confluentUser"
	IdentityServiceAccount = "confluentServiceAccount"
)

// Identity is a principal-directory entry: the identity a Kafka principal
// maps to in audit records.
type Identity struct {
	Type  string `json:"type" yaml:"type"`
	ID    string `json:"id" yaml:"id"`
	Email string `json:"email,omitempty" yaml:"email"`
}

// Validate checks an entry before it is written or used.
func (i Identity) Validate() error {
	var errs []error
	if i.Type != IdentityUser && i.Type != IdentityServiceAccount {
		errs = append(errs, fmt.Errorf("type: %q is neither %s nor %s", i.Type, IdentityUser, IdentityServiceAccount))
	}
	if i.ID == "" {
		errs = append(errs, errors.New("id: must not be empty"))
	}
	return errors.Join(errs...)
}

// IdentityCodec encodes *Identity as JSON. The directory topic is written
// by people and tools (kaudit principals put, kcat), so it stays readable.
type IdentityCodec struct{}

var _ goka.Codec = (*IdentityCodec)(nil)

// Encode implements goka.Codec.
func (*IdentityCodec) Encode(value any) ([]byte, error) {
	i, ok := value.(*Identity)
	if !ok || i == nil {
		return nil, fmt.Errorf("IdentityCodec: cannot encode %T", value)
	}
	return json.Marshal(i)
}

// Decode implements goka.Codec. A bad entry is an error, not a zero value.
func (*IdentityCodec) Decode(data []byte) (any, error) {
	var i Identity
	if err := json.Unmarshal(data, &i); err != nil {
		return nil, fmt.Errorf("IdentityCodec: %w", err)
	}
	return &i, nil
}

// TopicInfo is a topic-catalog entry: what a topic id names.
type TopicInfo struct {
	Cluster string `json:"cluster"`
	ID      string `json:"id"`
	Name    string `json:"name"`
	// Deleted is set once a DeleteTopics response confirmed the deletion;
	// ids are never reused, so the name still resolves old records.
	Deleted bool `json:"deleted"`
}

// TopicKey is the catalog key of a topic id.
func TopicKey(cluster, id string) string { return cluster + "|" + id }

// TopicIDs harvests (id, name) pairs from the responses that carry them:
// CreateTopics v7+, DeleteTopics v6+ and Metadata v10+ (FORMATS.md A.11).
// Entries with Kafka's zero id are skipped.
func TopicIDs(r *RequestLog) ([]TopicInfo, error) {
	var out []TopicInfo
	add := func(id, name string, deleted bool) {
		if id != "" && id != ZeroUUID && name != "" {
			out = append(out, TopicInfo{Cluster: r.Cluster, ID: id, Name: name, Deleted: deleted})
		}
	}
	switch r.APIName {
	case "CREATE_TOPICS":
		var resp CreateTopicsResponse
		if err := DecodeBody(r.Response, &resp); err != nil {
			return nil, err
		}
		for _, t := range resp.Topics {
			if t.ErrorCode == 0 {
				add(t.TopicID, t.Name, false)
			}
		}
	case "DELETE_TOPICS":
		var resp DeleteTopicsResponse
		if err := DecodeBody(r.Response, &resp); err != nil {
			return nil, err
		}
		for _, t := range resp.Responses {
			if t.ErrorCode == 0 && t.Name != nil {
				add(t.TopicID, *t.Name, true)
			}
		}
	case "METADATA":
		var resp struct {
			Topics []struct {
				ErrorCode int16   `json:"errorCode"`
				Name      *string `json:"name"`
				TopicID   string  `json:"topicId"`
			} `json:"topics"`
		}
		if err := DecodeBody(r.Response, &resp); err != nil {
			return nil, err
		}
		for _, t := range resp.Topics {
			if t.ErrorCode == 0 && t.Name != nil {
				add(t.TopicID, *t.Name, false)
			}
		}
	}
	return out, nil
}

//go:embed topicinfo.avsc
var topicInfoSchema string

var topicInfoAvro = avroCodec(topicInfoSchema)

// TopicInfoCodec encodes *TopicInfo as Avro binary for the catalog.
type TopicInfoCodec struct{}

var _ goka.Codec = (*TopicInfoCodec)(nil)

// Encode implements goka.Codec.
func (*TopicInfoCodec) Encode(value any) ([]byte, error) {
	t, ok := value.(*TopicInfo)
	if !ok || t == nil {
		return nil, fmt.Errorf("TopicInfoCodec: cannot encode %T", value)
	}
	return avroEncode(topicInfoAvro, map[string]any{"cluster": t.Cluster, "id": t.ID, "name": t.Name, "deleted": t.Deleted})
}

// Decode implements goka.Codec.
func (*TopicInfoCodec) Decode(data []byte) (any, error) {
	m, err := avroDecode(topicInfoAvro, data)
	if err != nil {
		return nil, fmt.Errorf("TopicInfoCodec: %w", err)
	}
	return &TopicInfo{Cluster: m["cluster"].(string), ID: m["id"].(string), Name: m["name"].(string), Deleted: m["deleted"].(bool)}, nil
}

//go:embed identity.avsc
var identitySchema string

var identityAvro = avroCodec(identitySchema)

// IdentityTableCodec encodes *Identity as Avro binary for the principal
// table; the directory topic itself is JSON (IdentityCodec).
type IdentityTableCodec struct{}

var _ goka.Codec = (*IdentityTableCodec)(nil)

// Encode implements goka.Codec.
func (*IdentityTableCodec) Encode(value any) ([]byte, error) {
	i, ok := value.(*Identity)
	if !ok || i == nil {
		return nil, fmt.Errorf("IdentityTableCodec: cannot encode %T", value)
	}
	return avroEncode(identityAvro, map[string]any{"type": i.Type, "id": i.ID, "email": i.Email})
}

// Decode implements goka.Codec.
func (*IdentityTableCodec) Decode(data []byte) (any, error) {
	m, err := avroDecode(identityAvro, data)
	if err != nil {
		return nil, fmt.Errorf("IdentityTableCodec: %w", err)
	}
	return &Identity{Type: m["type"].(string), ID: m["id"].(string), Email: m["email"].(string)}, nil
}
