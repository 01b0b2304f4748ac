package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// yardstickConfig makes the promises every yardstick shares with kaudit's
// clients (acks=all, LZ4) and has it read from the start of the topic.
func yardstickConfig(c *sarama.Config, clientID string) *sarama.Config {
	c.Version = sarama.V3_6_0_0
	c.ClientID = clientID
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Compression = sarama.CompressionLZ4
	return c
}

// baselineConfig is the sarama config of the baseline copy. It is fixed
// here, not taken from topology.Config.SaramaConfig, so that tuning
// kaudit's clients moves kaudit's figure and not the yardstick. It asks
// for what kaudit's producers promise (acks=all, LZ4) and batches well.
func baselineConfig() *sarama.Config {
	c := yardstickConfig(sarama.NewConfig(), "kaudit-bench-baseline")
	c.Consumer.Fetch.Default = 1 << 20
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Flush.Bytes = 512 << 10
	c.Producer.Flush.Frequency = 5 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	return c
}

// BaselineResult is what the baseline copy measured.
type BaselineResult struct {
	Lines   int64
	Elapsed time.Duration // from start until the last copy was acked
	// FirstAt is when the first line was consumed, after the group join.
	FirstAt    time.Duration
	CPUSeconds float64 // the harness process's CPU time over the copy
	Errors     int64
}

// runBaseline copies n lines from src to dst with a sarama consumer group
// and async producer, no parsing, each line to the same partition, and
// measures from before the group is created until n copies are acked.
func runBaseline(ctx context.Context, brokers []string, src, dst, group string, n int64, timeout time.Duration) (BaselineResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	self, err := ReadProc(os.Getpid())
	if err != nil {
		self = ProcUsage{}
	}
	start := time.Now()
	cfg := baselineConfig()
	prod, err := sarama.NewAsyncProducer(brokers, cfg)
	if err != nil {
		return BaselineResult{}, fmt.Errorf("baseline producer: %w", err)
	}
	cg, err := sarama.NewConsumerGroup(brokers, group, cfg)
	if err != nil {
		prod.Close()
		return BaselineResult{}, fmt.Errorf("baseline consumer group: %w", err)
	}

	var acked, failed atomic.Int64
	done := make(chan struct{})
	var once sync.Once
	count := func(c *atomic.Int64) {
		if c.Add(1); acked.Load()+failed.Load() >= n {
			once.Do(func() { close(done) })
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range prod.Successes() {
			count(&acked)
		}
	}()
	go func() {
		defer wg.Done()
		for range prod.Errors() {
			count(&failed)
		}
	}()

	h := &copyHandler{prod: prod, dst: dst}
	consumeErr := make(chan error, 1)
	gctx, stopGroup := context.WithCancel(ctx)
	go func() {
		var err error
		for gctx.Err() == nil {
			if err = cg.Consume(gctx, []string{src}, h); err != nil {
				break
			}
		}
		consumeErr <- err
	}()

	var res BaselineResult
	select {
	case <-done:
		res.Elapsed = time.Since(start)
	case <-ctx.Done():
		res.Elapsed = time.Since(start)
		err = fmt.Errorf("baseline copied %d of %d lines before %w", acked.Load(), n, ctx.Err())
	}
	stopGroup()
	cerr := <-consumeErr
	res.Lines, res.Errors = acked.Load(), failed.Load()
	if first := h.first.Load(); first > 0 {
		res.FirstAt = time.Unix(0, first).Sub(start)
	}
	if after, perr := ReadProc(os.Getpid()); perr == nil && self.CPUSeconds > 0 {
		res.CPUSeconds = after.CPUSeconds - self.CPUSeconds
	}
	cgErr := cg.Close()
	prod.AsyncClose()
	wg.Wait()
	if err == nil && cerr != nil && !errors.Is(cerr, sarama.ErrClosedConsumerGroup) && !errors.Is(cerr, context.Canceled) {
		err = fmt.Errorf("baseline consume: %w", cerr)
	}
	if err == nil && cgErr != nil {
		err = fmt.Errorf("baseline close: %w", cgErr)
	}
	return res, err
}

// copyHandler hands every consumed message to the producer, unchanged.
type copyHandler struct {
	prod  sarama.AsyncProducer
	dst   string
	first atomic.Int64 // unix nanos of the first message
}

func (h *copyHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *copyHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *copyHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.first.CompareAndSwap(0, time.Now().UnixNano())
			m := &sarama.ProducerMessage{Topic: h.dst, Partition: msg.Partition, Value: sarama.ByteEncoder(msg.Value)}
			if msg.Key != nil {
				m.Key = sarama.ByteEncoder(msg.Key)
			}
			select {
			case h.prod.Input() <- m:
			case <-sess.Context().Done():
				return nil
			}
			sess.MarkMessage(msg, "")
		case <-sess.Context().Done():
			return nil
		}
	}
}
