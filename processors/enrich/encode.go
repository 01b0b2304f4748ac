package enrich

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"
	kafka_sarama "github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/lovoo/goka"

	"github.com/kaudit/kaudit/schemas"
)

// ContentTypeAvro is the datacontenttype of avro-encoded records.
const ContentTypeAvro = "application/avro"

// AuditDataSchemaURI is the dataschema of avro-encoded records.
const AuditDataSchemaURI = "https://github.com/kaudit/kaudit/blob/main/schemas/auditdata.avsc"

// Encode renders an event for a destination through sdk-go's Kafka binding:
//   - structured: the value is the whole CloudEvent as JSON, and the
//     content-type header (application/cloudevents+json) lets CloudEvents
//     readers recognise it (Confluent's format);
//   - binary: attributes go to ce_ headers and the value is the JSON data;
//   - avro: binary mode with the data Avro-encoded (schemas/auditdata.avsc).
func Encode(ev cloudevents.Event, encoding string) ([]byte, goka.Headers, error) {
	ctx := context.Background()
	switch encoding {
	case schemas.EncodingStructured, "":
		if value, ok := structuredJSON(ev); ok {
			return value, goka.Headers{contentTypeHeader: []byte(cloudevents.ApplicationCloudEventsJSON)}, nil
		}
		ctx = binding.WithForceStructured(ctx)
	case schemas.EncodingBinary:
		ctx = binding.WithForceBinary(ctx)
	case schemas.EncodingAvro:
		var d schemas.AuditData
		if err := ev.DataAs(&d); err != nil {
			return nil, nil, fmt.Errorf("encode event %s as avro: %w", ev.ID(), err)
		}
		raw, err := (&schemas.AuditDataCodec{}).Encode(&d)
		if err != nil {
			return nil, nil, err
		}
		ev = ev.Clone()
		if err := ev.SetData(ContentTypeAvro, raw); err != nil {
			return nil, nil, err
		}
		ev.SetDataSchema(AuditDataSchemaURI)
		ctx = binding.WithForceBinary(ctx)
	default:
		return nil, nil, fmt.Errorf("unknown encoding %q", encoding)
	}
	return viaBinding(ctx, ev)
}

// viaBinding writes ev as kafka_sarama would, in the mode ctx forces.
func viaBinding(ctx context.Context, ev cloudevents.Event) ([]byte, goka.Headers, error) {
	var pm sarama.ProducerMessage
	if err := kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(&ev), &pm); err != nil {
		return nil, nil, fmt.Errorf("encode event %s: %w", ev.ID(), err)
	}
	var value []byte
	if pm.Value != nil {
		var err error
		if value, err = pm.Value.Encode(); err != nil {
			return nil, nil, err
		}
	}
	headers := goka.Headers{}
	for _, h := range pm.Headers {
		headers[string(h.Key)] = h.Value
	}
	return value, headers, nil
}

// contentTypeHeader is the header kafka_sarama sets in structured mode.
const contentTypeHeader = "content-type"

// structuredJSON is the hot path of structured encoding, a quarter of the
// audit callback's CPU: the binding runs the event through json.Marshal,
// which re-scans (compacts) Event.MarshalJSON's output only to escape
// <, >, & and U+2028/9. Records without those bytes come out the same
// straight from MarshalJSON (TestStructuredFastPath); others take the
// binding so the bytes never depend on the path (0xE2 leads U+2028/9's
// UTF-8 and a few other symbols, which just take the slow path).
func structuredJSON(ev cloudevents.Event) ([]byte, bool) {
	b, err := ev.MarshalJSON()
	if err != nil {
		return nil, false
	}
	for _, c := range b {
		switch c {
		case '<', '>', '&', 0xE2:
			return nil, false
		}
	}
	return b, true
}

// EncodeStructured is Encode in Confluent's structured JSON mode.
func EncodeStructured(ev cloudevents.Event) ([]byte, goka.Headers, error) {
	return Encode(ev, schemas.EncodingStructured)
}

// RecordKey is the Kafka key of a record on a destination. goka hashes
// every key, even "", so "spread evenly" uses the record id.
func RecordKey(info schemas.RouteInfo, key, id string) string {
	switch key {
	case schemas.KeyPrincipal:
		return info.Principal
	case schemas.KeyConnection:
		return info.Connection
	case schemas.KeyID:
		return id
	default:
		return info.Subject
	}
}

// ServiceName is the serviceName and source of a cluster's records.
func ServiceName(c Cluster) string { return c.serviceName() }

// ClusterCRN is the CRN of the cluster itself.
func ClusterCRN(c Cluster) string {
	crn, _ := c.resourceCRN(ResKafkaCluster, c.ID)
	return crn
}
