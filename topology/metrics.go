package topology

import (
	"context"
	"maps"
	"slices"
	"strconv"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kaudit/kaudit/processors/dedup"
)

// Metrics are the pipeline's counters, registered on one registry per
// pipeline so that tests and the demo can run several side by side.
type Metrics struct {
	Registry   *prometheus.Registry
	linesIn    *prometheus.CounterVec
	deadLetter *prometheus.CounterVec
	suppressed *prometheus.CounterVec
	batched    *prometheus.CounterVec
	applied    prometheus.Counter
	dropped    prometheus.Counter
	overtaken  prometheus.Counter
	kept       *prometheus.CounterVec
	recordsOut *prometheus.CounterVec
	notAudited *prometheus.CounterVec
	audited    *prometheus.CounterVec
	rebalances *prometheus.CounterVec
	recovery   *prometheus.GaugeVec
	lag        *prometheus.GaugeVec
	viewLag    *prometheus.GaugeVec
	viewReady  *prometheus.GaugeVec
	purgedTo   *prometheus.GaugeVec
	evicted    prometheus.Counter
	expiring   prometheus.Counter
	restarts   prometheus.Counter
}

func newMetrics() *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kaudit_" + name, Help: help}, labels)
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kaudit_" + name, Help: help}, labels)
	}
	m := &Metrics{
		Registry:   prometheus.NewRegistry(),
		linesIn:    counter("lines_in_total", "Raw request-log lines read, by outcome (parsed, skipped, dead_letter).", "outcome"),
		deadLetter: counter("dead_letter_total", "Records sent to the dead-letter topic, by reason.", "reason"),
		suppressed: counter("suppressed_total", "Repeat Produce/Fetch requests counted and dropped, by API.", "api"),
		batched:    counter("batched_total", "Of the suppressed requests, those counted on the input side and sent to the table in batches, by API.", "api"),
		kept:       counter("kept_total", "Requests passed on to be audited, by API.", "api"),
		recordsOut: counter("records_out_total", "Audit records written, by destination topic.", "topic"),
		notAudited: counter("not_audited_total", "Parsed requests dropped because their method is not audited, by API.", "api"),
		audited:    counter("audit_requests_total", "Kept requests turned into audit records (or dead-lettered), by API.", "api"),
		rebalances: counter("rebalances_total", "Partition assignments received, by group.", "group"),
		recovery:   gauge("recovery_seconds", "Seconds from start until the group or view had recovered its table.", "component"),
		lag:        gauge("consumer_lag", "Messages not yet committed by the group, by group, input topic and partition (the whole group, read from Kafka).", "group", "topic", "partition"),
		viewLag:    gauge("view_lag", "Table messages a view has not applied yet: how stale its answers are.", "table"),
		viewReady:  gauge("view_recovered", "1 when the view has recovered every partition of its table.", "table"),
		purgedTo:   gauge("purged_offset", "Offset below which kaudit deleted the records of an internal stream, by topic and partition (topics.purge_interval).", "topic", "partition"),
	}
	m.applied = prometheus.NewCounter(prometheus.CounterOpts{Name: "kaudit_batched_applied_total", Help: "Batched repeat requests the table owners have applied; kaudit_batched_total minus this is still in open batches or on the loop topic."})
	m.dropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "kaudit_batched_dropped_total", Help: "Batched repeat requests dropped because the table held no state of their connection: after a failure their lines are read again, or the connection was evicted."})
	m.overtaken = prometheus.NewCounter(prometheus.CounterOpts{Name: "kaudit_loop_out_of_order_total", Help: "Looped requests the table owners dropped because they overtook a request of their connection whose loop write had failed; they are applied when their sender sends them again, in order."})
	m.evicted = prometheus.NewCounter(prometheus.CounterOpts{Name: "kaudit_connections_evicted_total", Help: "Idle connections evicted from the dedup table."})
	m.expiring = prometheus.NewCounter(prometheus.CounterOpts{Name: "kaudit_expire_markers_total", Help: "Expire markers the sweeper sent for idle connections."})
	m.restarts = prometheus.NewCounter(prometheus.CounterOpts{Name: "kaudit_restarts_total", Help: "Times the processors were rebuilt after a recoverable error."})
	m.Registry.MustRegister(m.evicted, m.expiring, m.restarts, m.applied, m.dropped, m.overtaken)
	m.Registry.MustRegister(m.linesIn, m.deadLetter, m.suppressed, m.batched, m.kept, m.recordsOut, m.notAudited, m.audited,
		m.rebalances, m.recovery, m.lag, m.viewLag, m.viewReady, m.purgedTo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) dedupObserver() dedup.Observer {
	return dedup.Observer{
		Parsed:  func() { m.linesIn.WithLabelValues("parsed").Inc() },
		Skipped: func(string) { m.linesIn.WithLabelValues("skipped").Inc() },
		DeadLetter: func(reason string) {
			m.linesIn.WithLabelValues("dead_letter").Inc()
			m.deadLetter.WithLabelValues(reason).Inc()
		},
		Suppressed:   func(api string) { m.suppressed.WithLabelValues(api).Inc() },
		Batched:      func(api string) { m.batched.WithLabelValues(api).Inc() },
		BatchApplied: func(n int64) { m.applied.Add(float64(n)) },
		BatchDropped: func(n int64) { m.dropped.Add(float64(n)) },
		OutOfOrder:   m.overtaken.Inc,
		Kept:         func(api string) { m.kept.WithLabelValues(api).Inc() },
		Evicted:      m.evicted.Inc,
		NotAudited:   func(api string) { m.notAudited.WithLabelValues(api).Inc() },
	}
}

// Counts is a snapshot of the counters, summed over their labels except
// where a map keeps them apart.
type Counts struct {
	LinesIn     int64
	Parsed      int64
	Skipped     int64
	DeadLetter  int64
	Suppressed  int64
	Kept        int64
	NotAudited  int64
	Audited     int64
	RecordsOut  map[string]int64
	DeadReasons map[string]int64
}

// Snapshot reads the counters.
func (m *Metrics) Snapshot() Counts {
	c := Counts{RecordsOut: map[string]int64{}, DeadReasons: map[string]int64{}}
	mfs, err := m.Registry.Gather()
	if err != nil {
		return c
	}
	for _, mf := range mfs {
		for _, met := range mf.GetMetric() {
			v := int64(met.GetCounter().GetValue())
			label := ""
			if len(met.GetLabel()) > 0 {
				label = met.GetLabel()[0].GetValue()
			}
			switch mf.GetName() {
			case "kaudit_lines_in_total":
				c.LinesIn += v
				switch label {
				case "parsed":
					c.Parsed += v
				case "skipped":
					c.Skipped += v
				}
			case "kaudit_dead_letter_total":
				c.DeadLetter += v
				c.DeadReasons[label] += v
			case "kaudit_suppressed_total":
				c.Suppressed += v
			case "kaudit_kept_total":
				c.Kept += v
			case "kaudit_audit_requests_total":
				c.Audited += v
			case "kaudit_not_audited_total":
				c.NotAudited += v
			case "kaudit_records_out_total":
				c.RecordsOut[label] += v
			}
		}
	}
	return c
}

// Staleness says how current a view's answers are.
type Staleness struct {
	Recovered bool  `json:"recovered"`
	Lag       int64 `json:"lag"`
}

// observe refreshes the lag gauges from goka's stats.
func (m *Metrics) observe(ctx context.Context, lag map[lagKey]int64, views map[goka.Table]*goka.View) map[goka.Table]Staleness {
	m.lag.Reset()
	for k, n := range lag {
		m.lag.WithLabelValues(k.group, k.topic, strconv.Itoa(int(k.partition))).Set(float64(n))
	}
	out := map[goka.Table]Staleness{}
	for t, v := range views {
		st := Staleness{Recovered: v.Recovered()}
		for _, ps := range v.Stats(ctx).Partitions {
			if ps.Input != nil {
				st.Lag += max(ps.Input.OffsetLag-1, 0) // as above
			}
		}
		out[t] = st
		m.viewLag.WithLabelValues(string(t)).Set(float64(st.Lag))
		ready := 0.0
		if st.Recovered {
			ready = 1
		}
		m.viewReady.WithLabelValues(string(t)).Set(ready)
	}
	return out
}

type lagKey struct {
	group, topic string
	partition    int32
}

// groupOffsets reads each group's committed offsets and lag from Kafka,
// per input partition; lag is the high watermark minus the committed
// offset, and committed leaves out partitions with no commit yet. goka's
// own stats are not used: Processor.Stats reads its lookup views while a
// failing processor tears them down (goka v1.1.17), which races.
func groupOffsets(admin sarama.ClusterAdmin, client sarama.Client, inputs map[goka.Group][]string) (lag, committed map[lagKey]int64) {
	lag, committed = map[lagKey]int64{}, map[lagKey]int64{}
	all := map[string][]int32{}
	for _, topics := range inputs {
		for _, t := range topics {
			if ps, err := client.Partitions(t); err == nil {
				all[t] = ps
			}
		}
	}
	hwm := endOffsets(client, all)
	for g, topics := range inputs {
		parts := map[string][]int32{}
		for _, t := range topics {
			if ps, ok := all[t]; ok {
				parts[t] = ps
			}
		}
		offsets, err := admin.ListConsumerGroupOffsets(string(g), parts)
		if err != nil {
			continue
		}
		for _, t := range topics {
			for part, block := range offsets.Blocks[t] {
				k := lagKey{string(g), t, part}
				if block.Offset >= 0 { // -1: nothing committed yet
					committed[k] = block.Offset
				}
				if end, ok := hwm[streamPartition{t, part}]; ok {
					lag[k] = max(end-max(block.Offset, 0), 0)
				}
			}
		}
	}
	return lag, committed
}

// endOffsets returns the high watermark of each partition it can, with one
// ListOffsets request per leader; client.GetOffset sends one per partition,
// which was ~50 requests per instance every 2 s with the default topics.
// Partitions whose leader fails to answer are asked again once, after a
// metadata refresh (as GetOffset does), and are otherwise left out.
func endOffsets(client sarama.Client, parts map[string][]int32) map[streamPartition]int64 {
	out := map[streamPartition]int64{}
	if failed := askLeaders(client, parts, out); len(failed) > 0 {
		if client.RefreshMetadata(slices.Collect(maps.Keys(failed))...) == nil {
			askLeaders(client, failed, out)
		}
	}
	return out
}

// askLeaders puts the high watermarks the leaders give into out and
// returns the partitions they did not.
func askLeaders(client sarama.Client, parts map[string][]int32, out map[streamPartition]int64) (failed map[string][]int32) {
	failed = map[string][]int32{}
	asked := map[*sarama.Broker][]streamPartition{}
	for t, ps := range parts {
		for _, p := range ps {
			if b, err := client.Leader(t, p); err == nil {
				asked[b] = append(asked[b], streamPartition{t, p})
			} else {
				failed[t] = append(failed[t], p)
			}
		}
	}
	for b, sps := range asked {
		req := sarama.NewOffsetRequest(client.Config().Version)
		for _, sp := range sps {
			req.AddBlock(sp.topic, sp.id, sarama.OffsetNewest, 1)
		}
		resp, err := b.GetAvailableOffsets(req)
		if err != nil {
			_ = b.Close() // the next request reconnects
		}
		for _, sp := range sps {
			if resp != nil {
				if blk := resp.GetBlock(sp.topic, sp.id); blk != nil && blk.Err == sarama.ErrNoError && len(blk.Offsets) == 1 {
					out[sp] = blk.Offsets[0]
					continue
				}
			}
			failed[sp.topic] = append(failed[sp.topic], sp.id)
		}
	}
	return failed
}
