package topology

import (
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
)

// defaultPurgeInterval is topics.purge_interval's default, Kafka Streams'
// repartition.purge.interval.ms.
const defaultPurgeInterval = 30 * time.Second

// purgeable maps each stream that kaudit both writes and reads to the
// groups that read it: Kafka Streams' repartition topics. Once each of
// those groups has committed past a record, nothing reads it again: a
// rebuilt processor resumes at its commit, and a replay starts from the
// raw topic. Compacted streams hold state and are left alone, and so are
// streams kaudit only reads (raw, directory) or only writes (dead
// letters, destinations).
func purgeable(c *Config, graphs []*goka.GroupGraph) map[string][]goka.Group {
	written := map[string]bool{}
	for _, g := range graphs {
		for _, e := range g.OutputStreams() {
			written[e.Topic()] = true
		}
	}
	out := map[string][]goka.Group{}
	for _, g := range graphs {
		for _, e := range g.InputStreams() {
			if t := e.Topic(); written[t] && !c.compacted(t) {
				out[t] = append(out[t], g.Group())
			}
		}
	}
	return out
}

// purger deletes the records of the purgeable streams below the lowest
// offset their readers have committed, at most once per interval.
type purger struct {
	admin   sarama.ClusterAdmin
	streams map[string][]goka.Group
	every   time.Duration
	log     *slog.Logger
	gauge   *prometheus.GaugeVec

	last time.Time
	done map[streamPartition]int64 // purged below this
}

// streamPartition is one partition of a stream.
type streamPartition struct {
	topic string
	id    int32
}

// purge deletes what every reader has committed, if the interval has
// passed. committed holds each group's committed offset per input
// partition; a partition that one of its readers has not committed yet
// is skipped.
func (pu *purger) purge(now time.Time, committed map[lagKey]int64) {
	if now.Sub(pu.last) < pu.every {
		return
	}
	pu.last = now
	type low struct {
		offset  int64
		readers int
	}
	lows := map[streamPartition]low{}
	for k, off := range committed {
		if !slices.Contains(pu.streams[k.topic], goka.Group(k.group)) {
			continue
		}
		tp := streamPartition{k.topic, k.partition}
		l, seen := lows[tp]
		if !seen || off < l.offset {
			l.offset = off
		}
		l.readers++
		lows[tp] = l
	}
	for tp, l := range lows {
		readers, ok := pu.streams[tp.topic]
		if !ok || l.readers < len(readers) || l.offset <= pu.done[tp] {
			continue
		}
		err := pu.admin.DeleteRecords(tp.topic, map[int32]int64{tp.id: l.offset})
		switch {
		case errors.Is(err, sarama.ErrOffsetOutOfRange):
			// Below the log start: another instance purged further.
			pu.log.Debug("purge: already purged further", "topic", tp.topic, "partition", tp.id, "offset", l.offset)
		case errors.Is(err, sarama.ErrTopicAuthorizationFailed):
			pu.log.Warn("purge: kaudit may not delete records of an internal stream, which keeps them for the broker's retention: "+
				"grant it the Delete operation on the topic, or set topics.purge_interval: -1s", "topic", tp.topic, "err", err)
			delete(pu.streams, tp.topic) // once, not every interval
			continue
		case err != nil:
			pu.log.Warn("purge: records of an internal stream not deleted; next time", "topic", tp.topic, "partition", tp.id, "err", err)
			continue
		}
		pu.done[tp] = l.offset
		pu.gauge.WithLabelValues(tp.topic, strconv.Itoa(int(tp.id))).Set(float64(l.offset))
	}
}
