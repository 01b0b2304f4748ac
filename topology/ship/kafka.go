package ship

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/kaudit/kaudit/schemas"
)

// Record headers a shipper sets besides schemas.HeaderCluster.
const (
	HeaderBrokerID = "kaudit-broker-id"
	HeaderHost     = "kaudit-host"
)

// Line is one request-log line to ship.
type Line struct {
	// Key is the line's connection id, or nil.
	Key   []byte
	Value []byte
}

// Sink delivers batches of lines. Send returns nil only once every line is
// acknowledged or deliberately dropped (it returns how many it dropped:
// lines too large for a record); on error none of the batch may be assumed
// delivered. It must not keep batch.
type Sink interface {
	Send(ctx context.Context, batch []Line) (dropped int, err error)
}

// KafkaOptions configure a KafkaSink.
type KafkaOptions struct {
	Brokers []string
	Topic   string
	// Sarama is the client config (topology.Config.SaramaConfig()); the
	// sink sets what a shipper needs on a copy of it.
	Sarama *sarama.Config
	// Headers are set on every record; empty values are left out.
	Headers map[string]string
	Log     *slog.Logger
}

// KafkaSink produces lines with sarama, acks=all, idempotent when the
// cluster allows it, and one request in flight per broker so that a retry
// never reorders a connection's lines.
type KafkaSink struct {
	p       sarama.SyncProducer
	topic   string
	headers []sarama.RecordHeader
	log     *slog.Logger
	// Idempotent reports whether the producer is idempotent.
	Idempotent bool

	saidMissing bool // the missing topic was explained once
}

// NewKafkaSink connects a producer. It asks for idempotence when the
// configured protocol version has it (Kafka ≥ 0.11) and falls back to a
// plain acks=all producer if the cluster refuses (e.g. an ACL without
// IdempotentWrite on old clusters).
func NewKafkaSink(o KafkaOptions) (*KafkaSink, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	base := *o.Sarama
	base.Producer.RequiredAcks = sarama.WaitForAll
	base.Producer.Return.Successes = true
	base.Producer.Return.Errors = true
	base.Producer.Partitioner = sarama.NewHashPartitioner
	base.Net.MaxOpenRequests = 1
	if base.Producer.Retry.Max < 1 {
		base.Producer.Retry.Max = 10
	}
	s := &KafkaSink{topic: o.Topic, log: o.Log}
	for _, k := range []string{schemas.HeaderCluster, HeaderBrokerID, HeaderHost} {
		if v := o.Headers[k]; v != "" {
			s.headers = append(s.headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
		}
	}
	var err error
	if base.Version.IsAtLeast(sarama.V0_11_0_0) {
		idem := base
		idem.Producer.Idempotent = true
		if s.p, err = sarama.NewSyncProducer(o.Brokers, &idem); err == nil {
			s.Idempotent = true
			return s, nil
		}
		o.Log.Warn("idempotent producer refused; using acks=all without idempotence", "err", err)
	}
	if s.p, err = sarama.NewSyncProducer(o.Brokers, &base); err != nil {
		return nil, fmt.Errorf("connect to %v: %w", o.Brokers, err)
	}
	return s, nil
}

// Send produces batch and waits for every ack. Messages that fail are
// retried, alone and in order, with backoff until ctx is done; ones the
// client refuses as too large are dropped.
func (s *KafkaSink) Send(ctx context.Context, batch []Line) (dropped int, err error) {
	msgs := make([]*sarama.ProducerMessage, 0, len(batch))
	for _, l := range batch {
		m := &sarama.ProducerMessage{Topic: s.topic, Value: sarama.ByteEncoder(l.Value), Headers: s.headers}
		if l.Key != nil {
			m.Key = sarama.ByteEncoder(l.Key)
		}
		msgs = append(msgs, m)
	}
	backoff := 100 * time.Millisecond
	for {
		err := s.p.SendMessages(msgs)
		if err == nil {
			return dropped, nil
		}
		var perrs sarama.ProducerErrors
		if !errors.As(err, &perrs) {
			return dropped, err
		}
		failed := make(map[*sarama.ProducerMessage]bool, len(perrs))
		for _, pe := range perrs {
			if errors.Is(pe.Err, sarama.ErrMessageSizeTooLarge) {
				s.log.Warn("line dropped: too large for one Kafka record", "bytes", pe.Msg.Value.Length())
				dropped++
				continue
			}
			failed[pe.Msg] = true
		}
		retry := msgs[:0]
		for _, m := range msgs {
			if failed[m] {
				retry = append(retry, m)
			}
		}
		if msgs = retry; len(msgs) == 0 {
			return dropped, nil
		}
		s.log.Warn("produce failed; retrying", "lines", len(msgs), "err", perrs[0].Err, "backoff", backoff)
		if !s.saidMissing && errors.Is(perrs[0].Err, sarama.ErrUnknownTopicOrPartition) {
			// sarama's circuit breaker hides this error on the next tries.
			s.saidMissing = true
			s.log.Warn("the topic does not exist; lines wait until it does. kaudit ship does not create it: the first `kaudit run` does", "topic", s.topic)
		}
		select {
		case <-ctx.Done():
			return dropped, fmt.Errorf("produce: %w (last error: %v)", ctx.Err(), perrs[0].Err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// Close flushes and closes the producer.
func (s *KafkaSink) Close() error { return s.p.Close() }
