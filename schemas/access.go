package schemas

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/lovoo/goka"
)

// Access counts one principal's requests on one resource.
type Access struct {
	Produce int64     `json:"produce"`
	Fetch   int64     `json:"fetch"`
	Admin   int64     `json:"admin"`
	Denied  int64     `json:"denied"`
	Bytes   int64     `json:"bytes"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
}

// Add folds b into a.
func (a *Access) Add(b Access) {
	a.Produce += b.Produce
	a.Fetch += b.Fetch
	a.Admin += b.Admin
	a.Denied += b.Denied
	a.Bytes = addSize(a.Bytes, b.Bytes)
	if a.First.IsZero() || (!b.First.IsZero() && b.First.Before(a.First)) {
		a.First = b.First
	}
	if b.Last.After(a.Last) {
		a.Last = b.Last
	}
}

// Empty reports whether nothing was counted.
func (a Access) Empty() bool { return a.Produce == 0 && a.Fetch == 0 && a.Admin == 0 && a.Denied == 0 }

// BoundAccess keeps a map of access counts within max entries, folding the
// least recently seen entries into the overflow key, whose counts stay
// exact. Summaries are re-encoded on every delta, so their maps must stay
// bounded however many principals or resources appear.
func BoundAccess(m map[string]*Access, max int, overflow string) {
	for len(m) > max {
		oldest := ""
		for k, a := range m {
			if k != overflow && (oldest == "" || a.Last.Before(m[oldest].Last)) {
				oldest = k
			}
		}
		if oldest == "" {
			return
		}
		o := m[overflow]
		if o == nil {
			o = &Access{}
			m[overflow] = o
		}
		o.Add(*m[oldest])
		delete(m, oldest)
	}
}

// TopicAccess is a connection's access to one topic: the running total and
// the part of it not yet reported to the topic and principal tables.
type TopicAccess struct {
	Topic   string `json:"topic"`
	Total   Access `json:"total"`
	Pending Access `json:"-"`
}

// AccessDelta reports new access by one principal to one resource, from
// one connection. The dedup group sends them for Produce/Fetch, batched;
// the audit group for every other audited method.
type AccessDelta struct {
	Cluster      string `json:"cluster"`
	ResourceType string `json:"resourceType"` // TOPIC, GROUP, KAFKA_CLUSTER, ...
	Resource     string `json:"resource"`
	Principal    string `json:"principal"`
	Connection   string `json:"connection"`
	ClientID     string `json:"clientId"`
	Access       Access `json:"access"`
	// Denial details, set when the delta reports a denied request.
	Method    string `json:"method"`
	ErrorType string `json:"errorType"`
}

// Denial is one denied request, as the principal table lists them.
type Denial struct {
	Time         time.Time `json:"time"`
	Method       string    `json:"method"`
	ResourceType string    `json:"resourceType"`
	Resource     string    `json:"resource"`
	Connection   string    `json:"connection"`
	ErrorType    string    `json:"errorType"`
}

// TopicSummary is the topics-table value: who produced to and fetched
// from a topic, and who was denied there.
type TopicSummary struct {
	Cluster    string             `json:"cluster"`
	Topic      string             `json:"topic"`
	Total      Access             `json:"total"`
	Principals map[string]*Access `json:"principals"`
}

// SeenConnection is one connection of a principal.
type SeenConnection struct {
	Connection string    `json:"connection"`
	ClientID   string    `json:"clientId"`
	ClientIP   string    `json:"clientIp"`
	First      time.Time `json:"first"`
	Last       time.Time `json:"last"`
}

// PrincipalSummary is the principals-table value: what one principal
// touched, from which connections, and where it was denied.
type PrincipalSummary struct {
	Principal   string             `json:"principal"`
	Total       Access             `json:"total"`
	Resources   map[string]*Access `json:"resources"` // "TOPIC:orders", "GROUP:billing", ...
	Connections []SeenConnection   `json:"connections"`
	Denials     []Denial           `json:"denials"`
}

// TopicSummaryKey and PrincipalKey are the keys of the two tables.
func TopicSummaryKey(cluster, topic string) string { return cluster + "|" + topic }

//go:embed access.avsc
var accessSchemas string

// The summary tables change rarely (batched deltas), so their codecs go
// through Avro's JSON form: the Go structs' JSON is the Avro JSON of the
// schemas in access.avsc, which keeps one definition of each type.
var (
	accessDeltaAvro      = avroNamed("io.kaudit.AccessDelta")
	topicSummaryAvro     = avroNamed("io.kaudit.TopicSummary")
	principalSummaryAvro = avroNamed("io.kaudit.PrincipalSummary")
)

// avroNamed compiles the access schemas with one named type as the root.
func avroNamed(name string) func() (*goavro.Codec, error) {
	return avroCodec(fmt.Sprintf(`{"type":"record","name":"Root","namespace":"io.kaudit","fields":[{"name":"defs","type":{"type":"array","items":%s}},{"name":"value","type":%q}]}`, accessSchemas, name))
}

// normalizer fills nil maps and slices, which JSON writes as null but
// Avro's map and array types do not accept.
type normalizer interface{ normalize() }

func (*AccessDelta) normalize() {}

func (t *TopicSummary) normalize() {
	if t.Principals == nil {
		t.Principals = map[string]*Access{}
	}
}

func (p *PrincipalSummary) normalize() {
	if p.Resources == nil {
		p.Resources = map[string]*Access{}
	}
	if p.Connections == nil {
		p.Connections = []SeenConnection{}
	}
	if p.Denials == nil {
		p.Denials = []Denial{}
	}
}

// jsonAvroCodec encodes T as Avro binary via its JSON form.
type jsonAvroCodec[T any] struct{ codec func() (*goavro.Codec, error) }

func (c jsonAvroCodec[T]) encode(value any) ([]byte, error) {
	v, ok := value.(*T)
	if !ok || v == nil {
		return nil, fmt.Errorf("cannot encode %T as %T", value, new(T))
	}
	cp := *v
	if n, ok := any(&cp).(normalizer); ok {
		n.normalize()
	}
	js, err := json.Marshal(&cp)
	if err != nil {
		return nil, err
	}
	codec, err := c.codec()
	if err != nil {
		return nil, err
	}
	native, _, err := codec.NativeFromTextual([]byte(`{"defs":[],"value":` + string(js) + `}`))
	if err != nil {
		return nil, fmt.Errorf("%T: %w", v, err)
	}
	return codec.BinaryFromNative(nil, native)
}

func (c jsonAvroCodec[T]) decode(data []byte) (any, error) {
	m, err := avroDecode(c.codec, data)
	if err != nil {
		return nil, err
	}
	js, err := json.Marshal(m["value"])
	if err != nil {
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(js, v); err != nil {
		return nil, err
	}
	return v, nil
}

// AccessDeltaCodec encodes *AccessDelta as Avro binary.
type AccessDeltaCodec struct{}

// TopicSummaryCodec encodes *TopicSummary as Avro binary.
type TopicSummaryCodec struct{}

// PrincipalSummaryCodec encodes *PrincipalSummary as Avro binary.
type PrincipalSummaryCodec struct{}

var (
	_ goka.Codec = (*AccessDeltaCodec)(nil)
	_ goka.Codec = (*TopicSummaryCodec)(nil)
	_ goka.Codec = (*PrincipalSummaryCodec)(nil)
)

// Encode implements goka.Codec.
func (*AccessDeltaCodec) Encode(v any) ([]byte, error) {
	return jsonAvroCodec[AccessDelta]{accessDeltaAvro}.encode(v)
}

// Decode implements goka.Codec.
func (*AccessDeltaCodec) Decode(b []byte) (any, error) {
	return jsonAvroCodec[AccessDelta]{accessDeltaAvro}.decode(b)
}

// Encode implements goka.Codec.
func (*TopicSummaryCodec) Encode(v any) ([]byte, error) {
	return jsonAvroCodec[TopicSummary]{topicSummaryAvro}.encode(v)
}

// Decode implements goka.Codec.
func (*TopicSummaryCodec) Decode(b []byte) (any, error) {
	return jsonAvroCodec[TopicSummary]{topicSummaryAvro}.decode(b)
}

// Encode implements goka.Codec.
func (*PrincipalSummaryCodec) Encode(v any) ([]byte, error) {
	return jsonAvroCodec[PrincipalSummary]{principalSummaryAvro}.encode(v)
}

// Decode implements goka.Codec.
func (*PrincipalSummaryCodec) Decode(b []byte) (any, error) {
	return jsonAvroCodec[PrincipalSummary]{principalSummaryAvro}.decode(b)
}
