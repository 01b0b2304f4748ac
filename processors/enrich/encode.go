package enrich

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"
	kafka_sarama "github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/lovoo/goka"
)

// EncodeStructured renders an event in structured mode through sdk-go's
// Kafka binding: the value is the whole CloudEvent as JSON, and the
// content-type header (application/cloudevents+json) lets CloudEvents
// readers recognise it.
func EncodeStructured(ev cloudevents.Event) ([]byte, goka.Headers, error) {
	ctx := binding.WithForceStructured(context.Background())
	var pm sarama.ProducerMessage
	if err := kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(&ev), &pm); err != nil {
		return nil, nil, fmt.Errorf("encode event %s: %w", ev.ID(), err)
	}
	value, err := pm.Value.Encode()
	if err != nil {
		return nil, nil, err
	}
	headers := goka.Headers{}
	for _, h := range pm.Headers {
		headers[string(h.Key)] = h.Value
	}
	return value, headers, nil
}
