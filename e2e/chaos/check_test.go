package chaos

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology"
)

// lagReport is the consumer lag of every kaudit group over its inputs.
type lagReport struct {
	total int64
	hwms  map[string]int64 // topic -> sum of high watermarks
	lines []string         // per group and topic with lag
}

// groupLag compares each group's committed offsets with the high
// watermarks of its input and loop topics.
func groupLag(cfg *topology.Config) (lagReport, error) {
	rep := lagReport{hwms: map[string]int64{}}
	p, err := topology.New(*cfg)
	if err != nil {
		return rep, err
	}
	client, err := sarama.NewClient(cfg.Brokers, cfg.SaramaConfig())
	if err != nil {
		return rep, err
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return rep, err
	}
	// admin.Close would close the client too; the deferred Close does.
	hwm := map[string][]int64{}
	hwmOf := func(topic string) ([]int64, error) {
		if h, ok := hwm[topic]; ok {
			return h, nil
		}
		parts, err := client.Partitions(topic)
		if err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", topic, err)
		}
		h := make([]int64, len(parts))
		for _, part := range parts {
			off, err := client.GetOffset(topic, part, sarama.OffsetNewest)
			if err != nil {
				return nil, fmt.Errorf("offset of %s/%d: %w", topic, part, err)
			}
			h[part] = off
			rep.hwms[topic] += off
		}
		hwm[topic] = h
		return h, nil
	}
	for _, g := range p.Graphs() {
		var topics []string
		for _, e := range g.InputStreams() {
			topics = append(topics, e.Topic())
		}
		if l := g.LoopStream(); l != nil {
			topics = append(topics, l.Topic())
		}
		committed, err := admin.ListConsumerGroupOffsets(string(g.Group()), nil)
		if err != nil {
			return rep, fmt.Errorf("offsets of %s: %w", g.Group(), err)
		}
		for _, topic := range topics {
			h, err := hwmOf(topic)
			if err != nil {
				return rep, err
			}
			var lag int64
			for part, end := range h {
				off := int64(0)
				if b := committed.GetBlock(topic, int32(part)); b != nil && b.Offset >= 0 {
					off = b.Offset
				}
				lag += end - off
			}
			if lag != 0 {
				rep.lines = append(rep.lines, fmt.Sprintf("%s on %s: %d", g.Group(), topic, lag))
			}
			rep.total += lag
		}
	}
	return rep, nil
}

// readTopic reads every partition of topic from the start up to its high
// watermarks at the time of the call and hands each record to fn.
func readTopic(ctx context.Context, cfg *topology.Config, topic string, fn func(*kgo.Record)) (int, error) {
	client, err := sarama.NewClient(cfg.Brokers, cfg.SaramaConfig())
	if err != nil {
		return 0, err
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		_ = client.Close()
		return 0, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	want := map[int32]int64{}
	for _, part := range parts {
		off, err := client.GetOffset(topic, part, sarama.OffsetNewest)
		if err != nil {
			_ = client.Close()
			return 0, err
		}
		if off > 0 {
			want[part] = off
		}
	}
	if err := client.Close(); err != nil {
		return 0, err
	}
	if len(want) == 0 {
		return 0, nil
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	n := 0
	for len(want) > 0 {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			var left []string
			for p, end := range want {
				left = append(left, fmt.Sprintf("%d<%d", p, end))
			}
			return n, fmt.Errorf("read %s: %d records, partitions not at the end: %s: %w", topic, n, strings.Join(left, " "), ctx.Err())
		}
		var errs []error
		fs.EachError(func(t string, p int32, err error) { errs = append(errs, fmt.Errorf("%s/%d: %w", t, p, err)) })
		if len(errs) > 0 {
			return n, errors.Join(errs...)
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			for _, r := range p.Records {
				end, ok := want[r.Partition]
				if !ok || r.Offset >= end {
					continue
				}
				fn(r)
				n++
				if r.Offset+1 >= end {
					delete(want, r.Partition)
				}
			}
			// Compaction may have removed the last offsets below the mark.
			if end, ok := want[p.Partition]; ok && len(p.Records) == 0 && p.HighWatermark >= end && p.LogStartOffset >= end {
				delete(want, p.Partition)
			}
		})
	}
	return n, nil
}

// idCheck is the comparison of record ids.
type idCheck struct {
	expected, found, missing, unexpected, duplicates, configChanges, records int
	missingIDs, unexpectedIDs                                                []string
}

// compareIDs reads the routed topics and compares ids with want.
func compareIDs(ctx context.Context, cfg *topology.Config, want map[string]string) (idCheck, error) {
	r, err := cfg.Router()
	if err != nil {
		return idCheck{}, err
	}
	seen := map[string]int{}
	var bad error
	for _, topic := range r.Topics() {
		_, err := readTopic(ctx, cfg, topic, func(rec *kgo.Record) {
			id, typ, err := recordID(rec.Value)
			if err != nil {
				bad = errors.Join(bad, fmt.Errorf("%s/%d@%d: %w", topic, rec.Partition, rec.Offset, err))
				return
			}
			if typ == topology.TypeConfigChange {
				seen[""]++ // counted apart
				return
			}
			seen[id]++
		})
		if err != nil {
			return idCheck{}, err
		}
	}
	if bad != nil {
		return idCheck{}, bad
	}
	c := idCheck{expected: len(want), configChanges: seen[""]}
	delete(seen, "")
	c.found = len(seen)
	for id, n := range seen {
		c.records += n
		c.duplicates += n - 1
		if want[id] == "" {
			c.unexpected++
			c.unexpectedIDs = append(c.unexpectedIDs, id)
		}
	}
	for id := range want {
		if seen[id] == 0 {
			c.missing++
			c.missingIDs = append(c.missingIDs, id+" ("+want[id]+")")
		}
	}
	sort.Strings(c.missingIDs)
	sort.Strings(c.unexpectedIDs)
	return c, nil
}

// tableCheck is the comparison of the dedup table with the workload.
type tableCheck struct {
	entries, producers, consumers int // entries; with FirstProduce, FirstFetch set
	wantProducers, wantConsumers  int
	// Suppressed counts are not exact under faults: a replay counts a
	// repeat request again, and the input-side batcher loses up to
	// dedup.batch_age of counts in a crash (processors/dedup/batch.go).
	// They are reported, not checked.
	overcounted, undercounted int
	problems                  []string
}

// checkTable reads the compacted dedup table topic (latest value per key)
// and checks it against each connection's plan: one entry per connection,
// and its first Produce and first Fetch are the planned ones.
func checkTable(ctx context.Context, cfg *topology.Config, w *workload) (tableCheck, error) {
	latest := map[string][]byte{}
	_, err := readTopic(ctx, cfg, string(topology.DedupTable), func(r *kgo.Record) {
		if r.Value == nil {
			delete(latest, string(r.Key)) // tombstone: evicted
			return
		}
		latest[string(r.Key)] = r.Value
	})
	if err != nil {
		return tableCheck{}, err
	}
	var c tableCheck
	problem := func(format string, args ...any) {
		if len(c.problems) < 20 {
			c.problems = append(c.problems, fmt.Sprintf(format, args...))
		} else if len(c.problems) == 20 {
			c.problems = append(c.problems, "...")
		}
	}
	codec := new(schemas.ConnStateCodec)
	states := make(map[string]*schemas.ConnState, len(latest))
	for k, v := range latest {
		d, err := codec.Decode(v)
		if err != nil {
			return c, fmt.Errorf("table key %s: %w", k, err)
		}
		st := d.(*schemas.ConnState)
		states[k] = st
		c.entries++
		if st.FirstProduce != nil {
			c.producers++
		}
		if st.FirstFetch != nil {
			c.consumers++
		}
	}
	for _, pl := range w.conns {
		key := schemas.ConnKey(cfg.Cluster.ID, pl.id)
		st := states[key]
		if st == nil {
			problem("%s: no table entry", key)
			continue
		}
		delete(states, key)
		check := func(what string, first *schemas.FirstRequest, want int32, lines int, suppressed int64) {
			switch {
			case want == 0 && first != nil:
				problem("%s: First%s corr %d, want none", key, what, first.CorrelationID)
			case want != 0 && first == nil:
				problem("%s: First%s not set, want corr %d", key, what, want)
			case want != 0 && first.CorrelationID != want:
				problem("%s: First%s corr %d, want %d", key, what, first.CorrelationID, want)
			}
			switch {
			case want != 0 && suppressed < int64(lines-1):
				c.undercounted++
			case want != 0 && suppressed > int64(lines-1):
				c.overcounted++
			}
		}
		if pl.firstProduce != 0 {
			c.wantProducers++
		}
		if pl.firstFetch != 0 {
			c.wantConsumers++
		}
		check("Produce", st.FirstProduce, pl.firstProduce, pl.produces, st.SuppressedProduce)
		check("Fetch", st.FirstFetch, pl.firstFetch, pl.fetches, st.SuppressedFetch)
	}
	for k := range states {
		problem("%s: table entry for a connection not in the workload", k)
	}
	if c.producers != c.wantProducers {
		problem("%d entries with FirstProduce, want %d", c.producers, c.wantProducers)
	}
	if c.consumers != c.wantConsumers {
		problem("%d entries with FirstFetch, want %d", c.consumers, c.wantConsumers)
	}
	return c, nil
}

// waitDrained waits until every group has consumed every input record
// and the high watermarks stayed put between two looks.
func waitDrained(ctx context.Context, cfg *topology.Config, logf func(string, ...any)) error {
	var last lagReport
	stable := 0
	lastLog := time.Now()
	for {
		rep, err := groupLag(cfg)
		switch {
		case err != nil:
			stable = 0
			logf("lag: %v", err)
		case rep.total == 0 && sameHWMs(rep.hwms, last.hwms):
			stable++
		default:
			stable = 0
		}
		if err == nil {
			last = rep
		}
		if stable >= 2 {
			return nil
		}
		if time.Since(lastLog) > 15*time.Second && err == nil {
			logf("draining: lag %d (%s)", rep.total, strings.Join(rep.lines, "; "))
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not drained: lag %d: %s: %w", last.total, strings.Join(last.lines, "; "), ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

func sameHWMs(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// describe describes every kaudit group.
func describe(cfg *topology.Config) ([]*sarama.GroupDescription, error) {
	p, err := topology.New(*cfg)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, g := range p.Graphs() {
		names = append(names, string(g.Group()))
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, cfg.SaramaConfig())
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	return admin.DescribeConsumerGroups(names)
}

// describeGroups says, per kaudit group, its state and which member (by
// client id and host) holds which partitions: what a stuck group needs.
func describeGroups(cfg *topology.Config) (string, error) {
	ds, err := describe(cfg)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "group %s: state %s, %d members\n", d.GroupId, d.State, len(d.Members))
		ids := make([]string, 0, len(d.Members))
		for id := range d.Members {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			m := d.Members[id]
			a, err := m.GetMemberAssignment()
			assigned := "?"
			if err == nil && a != nil {
				assigned = fmt.Sprint(a.Topics)
			}
			fmt.Fprintf(&b, "  %s (client %s, host %s): %s\n", id, m.ClientId, m.ClientHost, assigned)
		}
	}
	return b.String(), nil
}

// rawCheck reads the raw topic back and reports the workload lines that
// are not on it, and how many records it holds: the broker must keep
// every line it acknowledged. asRead is the workload as the raw topic
// holds it: each connection's lines in the order of its partition, which
// is the order kaudit reads them in; reordered counts the connections
// whose lines the producer and broker did not keep in generation order.
func rawCheck(ctx context.Context, cfg *topology.Config, w *workload) (records int, missing []string, asRead *workload, reordered int, err error) {
	have := map[[32]byte]bool{}
	byConn := map[string][]string{}
	records, err = readTopic(ctx, cfg, cfg.Topics.Raw, func(r *kgo.Record) {
		have[sha256.Sum256(r.Value)] = true
		byConn[string(r.Key)] = append(byConn[string(r.Key)], string(r.Value))
	})
	if err != nil {
		return records, nil, nil, 0, err
	}
	for i, l := range w.lines {
		if !have[sha256.Sum256([]byte(l.text))] {
			missing = append(missing, fmt.Sprintf("line %d of %s", i+1, l.conn))
		}
	}
	perConn := map[string]int{}
	for _, l := range w.lines {
		perConn[l.conn]++
	}
	// The k-th line of a connection becomes the k-th it has on the topic
	// (unless some are missing, reported above); lines of different
	// connections keep their interleaving.
	asRead = &workload{conns: w.conns, lines: make([]line, len(w.lines))}
	next := map[string]int{}
	out := map[string]bool{}
	for i, l := range w.lines {
		k := next[l.conn]
		next[l.conn]++
		asRead.lines[i] = l
		if seq := byConn[l.conn]; k < len(seq) && len(seq) == perConn[l.conn] {
			asRead.lines[i].text = seq[k]
			if seq[k] != l.text {
				out[l.conn] = true
			}
		}
	}
	if len(out) > 0 {
		asRead.conns, err = replan(w.conns, asRead.lines, out)
	}
	return records, missing, asRead, len(out), err
}

// replan recomputes the first Produce and Fetch of the reordered
// connections from their lines in topic order, as the dedup rule picks
// them: the first of each that names a topic.
func replan(plans []*connPlan, lines []line, reordered map[string]bool) ([]*connPlan, error) {
	out := make([]*connPlan, len(plans))
	byID := map[string]*connPlan{}
	for i, pl := range plans {
		out[i] = pl
		if reordered[pl.id] {
			cp := *pl
			cp.firstProduce, cp.firstFetch = 0, 0
			out[i], byID[pl.id] = &cp, &cp
		}
	}
	for _, l := range lines {
		pl := byID[l.conn]
		if pl == nil {
			continue
		}
		r, err := schemas.ParseLine([]byte(l.text), schemas.ParseOptions{Cluster: "c"})
		if err != nil {
			return nil, err
		}
		if len(r.Topics) == 0 {
			continue
		}
		switch {
		case r.APIKey == schemas.APIProduce && pl.firstProduce == 0:
			pl.firstProduce = r.CorrelationID
		case r.APIKey == schemas.APIFetch && pl.firstFetch == 0:
			pl.firstFetch = r.CorrelationID
		}
	}
	return out, nil
}
