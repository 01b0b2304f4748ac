package topology

import (
	"context"
	"sort"
	"sync"

	"github.com/IBM/sarama"
)

// orderedGroup makes a sarama consumer group commit in offset order.
//
// goka marks an input message done as soon as its own emits are
// acknowledged, so marks arrive in completion order, and sarama keeps the
// highest. When one message's emit fails (a broker restart) while a later
// message's emits succeed, the later mark commits past the failed one and
// the rebuilt processor never reads it again: a lost audit record. Here a
// mark only moves the committed offset up to the first message of the
// partition that is not done yet, as Kafka Streams commits only what is
// fully processed. Replays after a failure are what the ids are built for.
type orderedGroup struct{ sarama.ConsumerGroup }

func (g orderedGroup) Consume(ctx context.Context, topics []string, h sarama.ConsumerGroupHandler) error {
	return g.ConsumerGroup.Consume(ctx, topics, &orderedHandler{h: h})
}

// orderedHandler hands goka a session and claims that track offsets.
type orderedHandler struct {
	h    sarama.ConsumerGroupHandler
	sess *orderedSession
}

func (o *orderedHandler) Setup(s sarama.ConsumerGroupSession) error {
	o.sess = &orderedSession{ConsumerGroupSession: s, parts: map[topicPartition]*pendingOffsets{}}
	return o.h.Setup(o.sess)
}

func (o *orderedHandler) Cleanup(sarama.ConsumerGroupSession) error { return o.h.Cleanup(o.sess) }

func (o *orderedHandler) ConsumeClaim(_ sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	return o.h.ConsumeClaim(o.sess, o.sess.track(c))
}

type topicPartition struct {
	topic     string
	partition int32
}

// orderedSession turns marks into in-order commits.
type orderedSession struct {
	sarama.ConsumerGroupSession
	mu    sync.Mutex
	parts map[topicPartition]*pendingOffsets
}

// track returns a claim whose messages are recorded as pending before the
// handler sees them. A goroutine forwards them until the claim or the
// session ends.
func (s *orderedSession) track(c sarama.ConsumerGroupClaim) sarama.ConsumerGroupClaim {
	p := &pendingOffsets{}
	s.mu.Lock()
	s.parts[topicPartition{c.Topic(), c.Partition()}] = p
	s.mu.Unlock()
	out := make(chan *sarama.ConsumerMessage)
	go func() {
		defer close(out)
		for m := range c.Messages() {
			p.deliver(m.Offset)
			select {
			case out <- m:
			case <-s.Context().Done():
				return
			}
		}
	}()
	return trackedClaim{c, out}
}

type trackedClaim struct {
	sarama.ConsumerGroupClaim
	msgs chan *sarama.ConsumerMessage
}

func (c trackedClaim) Messages() <-chan *sarama.ConsumerMessage { return c.msgs }

func (s *orderedSession) MarkMessage(m *sarama.ConsumerMessage, metadata string) {
	s.MarkOffset(m.Topic, m.Partition, m.Offset+1, metadata)
}

// MarkOffset takes next, the offset after a done message, and commits up
// to the first message still pending. Marks on partitions it did not
// track pass through unchanged.
func (s *orderedSession) MarkOffset(topic string, partition int32, next int64, metadata string) {
	s.mu.Lock()
	p := s.parts[topicPartition{topic, partition}]
	s.mu.Unlock()
	if p != nil {
		var ok bool
		if next, ok = p.done(next - 1); !ok {
			return
		}
	}
	s.ConsumerGroupSession.MarkOffset(topic, partition, next, metadata)
}

// pendingOffsets are one partition's delivered offsets that are not yet
// committable, in delivery (= offset) order.
type pendingOffsets struct {
	mu       sync.Mutex
	offsets  []int64
	finished []bool
}

func (p *pendingOffsets) deliver(off int64) {
	p.mu.Lock()
	p.offsets = append(p.offsets, off)
	p.finished = append(p.finished, false)
	p.mu.Unlock()
}

// done marks off and returns the offset to commit, the one after the
// longest done prefix, when that prefix grew; ok is false otherwise.
func (p *pendingOffsets) done(off int64) (next int64, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := sort.Search(len(p.offsets), func(i int) bool { return p.offsets[i] >= off })
	if i == len(p.offsets) || p.offsets[i] != off {
		return 0, false // not delivered here, or already committed
	}
	p.finished[i] = true
	if i > 0 {
		return 0, false // an earlier message is still in flight
	}
	n := 0
	for n < len(p.offsets) && p.finished[n] {
		n++
	}
	next = p.offsets[n-1] + 1
	p.offsets, p.finished = p.offsets[n:], p.finished[n:]
	return next, true
}
