package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newProducer is the workload's shipper: franz-go, records placed on the
// partition the generator chose, LZ4 like kaudit's own producers.
func newProducer(brokers, topic string, linger time.Duration) (*kgo.Client, error) {
	return kgo.NewClient(
		kgo.SeedBrokers(brokers),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.ProducerLinger(linger),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(100_000),
	)
}

// createTopics creates topics with partitions (replication 1); existing
// ones are fine.
func createTopics(ctx context.Context, cl *kgo.Client, partitions int32, topics ...string) error {
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, topics...)
	if err != nil {
		return fmt.Errorf("create topics %v: %w", topics, err)
	}
	for _, t := range resp.Sorted() {
		if t.Err != nil && !errors.Is(t.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t.Topic, t.Err)
		}
	}
	return nil
}

// setCleanerBackoff sets the broker's log.cleaner.backoff.ms. The embedded
// broker (kfake) compacts every compacted topic in full on each tick, in
// the one goroutine that also serves every request, so with kaudit's
// changelogs at a million entries each pass stalls the whole broker; a
// real broker cleans in background threads. It must be set before the
// first compacted topic exists: kfake starts its ticker then.
func setCleanerBackoff(ctx context.Context, cl *kgo.Client, d time.Duration) error {
	v := strconv.FormatInt(d.Milliseconds(), 10)
	resp, err := kadm.NewClient(cl).AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.cleaner.backoff.ms", Value: &v}})
	if err != nil {
		return fmt.Errorf("set log.cleaner.backoff.ms: %w", err)
	}
	for _, r := range resp {
		if r.Err != nil {
			return fmt.Errorf("set log.cleaner.backoff.ms: %w", r.Err)
		}
	}
	return nil
}

// endOffsets are the end offsets of every partition of topic.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	lo, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	var errs []error
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, o.Err)
			return
		}
		out[o.Partition] = o.Offset
	})
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("topic %s has no partitions", topic))
	}
	return out, errors.Join(errs...)
}

// held is how many messages topic holds: its end offsets, summed (the
// harness's topics are never trimmed).
func held(ctx context.Context, cl *kgo.Client, topic string) (int64, error) {
	offs, err := endOffsets(ctx, cl, topic)
	var sum int64
	for _, o := range offs {
		sum += o
	}
	return sum, err
}

// sender produces generated lines and counts acks and errors.
type sender struct {
	cl    *kgo.Client
	gen   *Generator
	arena []byte
	sent  atomic.Int64
	acked atomic.Int64
	mu    sync.Mutex
	err   error
}

func newSender(cl *kgo.Client, gen *Generator) *sender { return &sender{cl: cl, gen: gen} }

// send produces the generator's next line, with the client-id stamp if
// stamp is set. Values are cut from 4 MiB arenas: one allocation per few
// thousand lines instead of one per line (kgo holds each value until it is
// acked, so the buffer cannot be reused).
func (s *sender) send(ctx context.Context, stamp []byte) {
	if cap(s.arena)-len(s.arena) < 4096 {
		s.arena = make([]byte, 0, 4<<20)
	}
	free := s.arena[len(s.arena):len(s.arena):cap(s.arena)]
	l := s.gen.Next(free, stamp)
	if len(l.Value) <= cap(free) {
		s.arena = s.arena[:len(s.arena)+len(l.Value)]
	}
	s.sent.Add(1)
	s.cl.Produce(ctx, &kgo.Record{Key: l.Key, Value: l.Value, Partition: l.Partition}, s.acknowledged)
}

func (s *sender) acknowledged(_ *kgo.Record, err error) {
	if err == nil {
		s.acked.Add(1)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// flush waits for every record sent so far to be acked.
func (s *sender) flush(ctx context.Context) error {
	if err := s.cl.Flush(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return fmt.Errorf("produce: %w (%d of %d acked)", s.err, s.acked.Load(), s.sent.Load())
	}
	return nil
}

// preload sends n lines as fast as the producer takes them.
func preload(ctx context.Context, s *sender, n int64) (time.Duration, error) {
	start := time.Now()
	for i := int64(0); i < n; i++ {
		if i%1024 == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		s.send(ctx, nil)
	}
	err := s.flush(ctx)
	return time.Since(start), err
}

// paced sends lines at rate per second for d, each stamped with its send
// time, and returns how many it sent. A line's stamp is taken just before
// it is handed to the producer.
func paced(ctx context.Context, s *sender, rate float64, d time.Duration) (int64, error) {
	start := time.Now()
	var n int64
	var stamp []byte
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		elapsed := time.Since(start)
		if elapsed >= d {
			break
		}
		for want := int64(rate * elapsed.Seconds()); n < want; n++ {
			stamp = appendStamp(stamp[:0], time.Now().UnixNano())
			s.send(ctx, stamp)
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-tick.C:
		}
	}
	return n, s.flush(ctx)
}

// latencyReader consumes a destination topic from given offsets and
// records, for each record that carries a send stamp, the time from send
// to receipt.
type latencyReader struct {
	cl      *kgo.Client
	mu      sync.Mutex
	samples []sample
	records int64
	last    time.Time // when the last record arrived
	// created holds, for each hop topic read, when kaudit wrote each
	// stamped line's record there (its CreateTime, set by kaudit's
	// producer): the points between which a record's time is split.
	created map[string]map[int64]time.Time
}

// newLatencyReader reads each topic in from (the audit topic, and any hop
// topics: internal ones whose records carry the client id) from its
// offsets there.
func newLatencyReader(brokers string, from map[string]map[int32]int64) (*latencyReader, error) {
	topics := map[string]map[int32]kgo.Offset{}
	created := map[string]map[int64]time.Time{}
	for t, offsets := range from {
		topics[t] = map[int32]kgo.Offset{}
		for p, o := range offsets {
			topics[t][p] = kgo.NewOffset().At(o)
		}
		if t != auditTopic {
			created[t] = map[int64]time.Time{}
		}
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers),
		kgo.ConsumePartitions(topics),
		kgo.FetchMaxWait(50*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	return &latencyReader{cl: cl, created: created}, nil
}

// run polls until ctx is done.
func (r *latencyReader) run(ctx context.Context) {
	for ctx.Err() == nil {
		fetches := r.cl.PollFetches(ctx)
		now := time.Now()
		r.mu.Lock()
		fetches.EachRecord(func(rec *kgo.Record) {
			if rec.Topic != auditTopic {
				// The first record of a line counts: a replay is later.
				if ns, ok := avroStampOf(rec.Value); ok {
					if _, seen := r.created[rec.Topic][ns]; !seen {
						r.created[rec.Topic][ns] = rec.Timestamp
					}
				}
				return
			}
			r.records++
			r.last = now
			if ns, ok := stampOf(rec.Value); ok {
				r.samples = append(r.samples, sample{sent: ns, ms: float64(now.UnixNano()-ns) / 1e6, created: rec.Timestamp, fetched: now,
					produceFetch: isProduceFetch(rec.Value)})
			}
		})
		r.mu.Unlock()
	}
}

// sample is one timed record: when its line was sent (unix nanos), how
// long it took to come out, when kaudit wrote it and when it was read.
type sample struct {
	sent             int64
	ms               float64
	created, fetched time.Time
	// produceFetch marks a Produce or Fetch record, which only the table's
	// owner can pass.
	produceFetch bool
}

// snapshot returns the records read, the stamped ones' samples and when
// the last record came.
func (r *latencyReader) snapshot() (int64, []sample, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.records, append([]sample(nil), r.samples...), r.last
}

// hops splits each sample's time at the points in through (hop topics in
// the order a record passes them) and summarises each leg. A sample
// counts only when the harness read the line's record on every hop topic.
func (r *latencyReader) hops(samples []sample, through []string) []Hop {
	r.mu.Lock()
	defer r.mu.Unlock()
	legs := make([][]float64, len(through)+2)
	for _, s := range samples {
		points := []time.Time{time.Unix(0, s.sent)}
		for _, t := range through {
			at, ok := r.created[t][s.sent]
			if !ok {
				break
			}
			points = append(points, at)
		}
		if len(points) < len(through)+1 {
			continue
		}
		points = append(points, s.created, s.fetched)
		for i := range legs {
			legs[i] = append(legs[i], float64(points[i+1].Sub(points[i]))/1e6)
		}
	}
	names := append(append([]string{"sent"}, through...), auditTopic, "read")
	out := make([]Hop, len(legs))
	for i, ms := range legs {
		l := Summarise(ms)
		out[i] = Hop{From: names[i], To: names[i+1], Samples: l.Samples, P50Ms: round1(l.P50), P99Ms: round1(l.P99), MaxMs: round1(l.Max)}
	}
	return out
}

// rawProducer prepares a fresh broker (the cleaner backoff, then topics)
// and returns a producer to the raw topic; the caller closes it.
func rawProducer(ctx context.Context, addr string, cleanerBackoff time.Duration, topics ...string) (*kgo.Client, error) {
	cl, err := newProducer(addr, rawTopic, 5*time.Millisecond)
	if err != nil {
		return nil, err
	}
	if err := setCleanerBackoff(ctx, cl, cleanerBackoff); err != nil {
		cl.Close()
		return nil, err
	}
	if err := createTopics(ctx, cl, partitions, topics...); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}
