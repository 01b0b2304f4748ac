package topology

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaudit/kaudit/processors/dedup"
)

// Metrics are the pipeline's counters, registered on one registry per
// pipeline so that tests and the demo can run several side by side.
type Metrics struct {
	Registry   *prometheus.Registry
	linesIn    *prometheus.CounterVec
	deadLetter *prometheus.CounterVec
	suppressed *prometheus.CounterVec
	kept       *prometheus.CounterVec
	recordsOut *prometheus.CounterVec
	notAudited *prometheus.CounterVec
	audited    *prometheus.CounterVec
}

func newMetrics() *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kaudit_" + name, Help: help}, labels)
	}
	m := &Metrics{
		Registry:   prometheus.NewRegistry(),
		linesIn:    counter("lines_in_total", "Raw request-log lines read, by outcome (parsed, skipped, dead_letter).", "outcome"),
		deadLetter: counter("dead_letter_total", "Records sent to the dead-letter topic, by reason.", "reason"),
		suppressed: counter("suppressed_total", "Repeat Produce/Fetch requests counted and dropped, by API.", "api"),
		kept:       counter("kept_total", "Requests passed on to be audited, by API.", "api"),
		recordsOut: counter("records_out_total", "Audit records written, by destination topic.", "topic"),
		notAudited: counter("not_audited_total", "Parsed requests dropped because their method is not audited, by API.", "api"),
		audited:    counter("audit_requests_total", "Kept requests read by the audit group, by API.", "api"),
	}
	m.Registry.MustRegister(m.linesIn, m.deadLetter, m.suppressed, m.kept, m.recordsOut, m.notAudited, m.audited)
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
		Suppressed: func(api string) { m.suppressed.WithLabelValues(api).Inc() },
		Kept:       func(api string) { m.kept.WithLabelValues(api).Inc() },
		NotAudited: func(api string) { m.notAudited.WithLabelValues(api).Inc() },
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
