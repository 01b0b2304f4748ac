package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Results are every figure of one run; the JSON keys are what
// bench-results.json holds. Figures a phase could not measure stay 0, and
// Notes say why.
type Results struct {
	StartedAt time.Time `json:"started_at"`
	// Seconds is the whole run, setup and teardown included.
	Seconds  float64 `json:"seconds"`
	Machine  Machine `json:"machine"`
	Workload Counts  `json:"workload"`
	// CleanerBackoffMs is the broker's log.cleaner.backoff.ms.
	CleanerBackoffMs int64 `json:"broker_cleaner_backoff_ms"`
	// PreloadLinesPerS is how fast franz-go wrote the workload.
	PreloadLinesPerS float64 `json:"preload_lines_per_s"`

	// The baseline: a sarama consumer group copying the raw topic, in the
	// harness process.
	BaselineLinesPerS      float64 `json:"baseline_lines_per_s"`
	BaselineSeconds        float64 `json:"baseline_seconds"`
	BaselineCPUSPerMillion float64 `json:"baseline_cpu_s_per_million"`
	// BaselineBrokerCPUSPerMillion is the broker's CPU time per million
	// lines during the copy: it shares the machine's cores.
	BaselineBrokerCPUSPerMillion float64 `json:"baseline_broker_cpu_s_per_million"`
	// BaselineCores is the CPU used during the copy (Harness is the copy).
	BaselineCores Cores `json:"baseline_cores"`

	// The goka yardsticks, in the harness process (runGoka): the issue's
	// trivial goka processor (a table write and an emit per line), and a
	// goka processor that only reads each line.
	GokaTrivial Yardstick `json:"goka_trivial"`
	GokaRead    Yardstick `json:"goka_read"`

	// kaudit end to end over the preloaded workload, from process start
	// (KauditLinesPerS, the headline) and from its first line
	// (KauditSteadyLinesPerS: without start-up, topic checks and the
	// groups' joins, which KauditStartupSeconds is).
	KauditLinesPerS       float64 `json:"kaudit_lines_per_s"`
	KauditSteadyLinesPerS float64 `json:"kaudit_steady_lines_per_s"`
	KauditSeconds         float64 `json:"kaudit_seconds"`
	KauditStartupSeconds  float64 `json:"kaudit_startup_seconds"`
	Ratio                 float64 `json:"ratio"`
	// GokaRatio is kaudit / the trivial goka processor.
	GokaRatio float64 `json:"goka_trivial_ratio"`
	// CPUSPerMillion is kaudit's user+system CPU time per million lines
	// over the throughput run; PeakRSSBytes its VmHWM then.
	CPUSPerMillion float64 `json:"cpu_s_per_million"`
	PeakRSSBytes   int64   `json:"peak_rss_bytes"`
	// BrokerCPUSPerMillion is the broker's CPU time per million lines
	// during kaudit's run.
	BrokerCPUSPerMillion float64 `json:"broker_cpu_s_per_million"`
	// CPUSPerMillionSettled also counts the work batching defers: kaudit's
	// CPU time until the table owners had applied every batched repeat,
	// SettleSeconds after the lines were settled (batches wait up to
	// dedup.batch_age). The latency phase starts after that.
	CPUSPerMillionSettled float64 `json:"cpu_s_per_million_settled"`
	SettleSeconds         float64 `json:"settle_s"`
	// KauditCores is the CPU used during kaudit's throughput run.
	KauditCores  Cores        `json:"kaudit_cores"`
	KauditCounts CounterState `json:"kaudit_counts"`

	// Latency at a fixed offered load of half kaudit's steady rate: only
	// lines that produce audit records can be timed (admin calls, denials,
	// first requests of a connection); repeats are suppressed by design.
	LatencyOfferedLinesPerS float64 `json:"latency_offered_lines_per_s"`
	LatencySeconds          float64 `json:"latency_seconds"`
	LatencyLines            int64   `json:"latency_lines"`
	LatencyRecords          int64   `json:"latency_records"`
	LatencySamples          int     `json:"latency_samples"`
	P50Ms                   float64 `json:"p50_ms"`
	P90Ms                   float64 `json:"p90_ms"`
	P99Ms                   float64 `json:"p99_ms"`
	MaxMs                   float64 `json:"max_ms"`
	// P99ProduceFetchMs and P99OtherMs split the p99 by the records' path:
	// a connection's first Produce or Fetch waits for the table's owner to
	// judge it; other requests always pass and leave from the re-key.
	P99ProduceFetchMs   float64 `json:"p99_produce_fetch_ms"`
	ProduceFetchSamples int     `json:"produce_fetch_samples"`
	P99OtherMs          float64 `json:"p99_other_ms"`
	// P50FirstQuarterMs and P50LastQuarterMs are the medians of lines sent
	// in the first and the last quarter of the phase: the second well above
	// the first means a queue was growing, i.e. kaudit did not keep up.
	P50FirstQuarterMs float64 `json:"p50_first_quarter_ms"`
	P50LastQuarterMs  float64 `json:"p50_last_quarter_ms"`
	// P99By5sMs is the p99 of the lines sent in each 5 s of the phase:
	// whether the tail is spread over the phase or one burst.
	P99By5sMs []float64 `json:"p99_by_5s_ms"`
	// LatencyBacklogLines is how far behind kaudit was when sending
	// stopped: near 0 when it kept up.
	LatencyBacklogLines int64 `json:"latency_backlog_lines"`
	// LatencyCores is the CPU each process used while load was offered,
	// in cores.
	LatencyCores Cores `json:"latency_cores"`
	// LatencyHops (with Options.Hops) splits the timed records' latency
	// at the points kaudit wrote them to its rekeyed, requests and audit
	// topics (each record's CreateTime), and where the harness read them.
	LatencyHops []Hop `json:"latency_hops,omitempty"`

	// The table phase, on a fresh broker: TableConnections new
	// connections, one Produce each.
	TableConnections int64 `json:"table_connections"`
	// TableFilled is how many of them kaudit had read when the phase
	// ended: TableConnections unless it ran out of time.
	TableFilled        int64   `json:"table_filled"`
	TableFillLinesPerS float64 `json:"table_fill_lines_per_s"`
	RSSEmptyBytes      int64   `json:"rss_empty_bytes"`
	RSSSmallBytes      int64   `json:"rss_small_table_bytes"`
	RSSLargeBytes      int64   `json:"rss_1m_table_bytes"`
	// BytesPerConnection is (RSS with the big table - RSS with a small
	// one) / TableConnections, in the same process.
	BytesPerConnection float64 `json:"bytes_per_connection"`
	// RecoveryS1M is start to /readyz 200 with an empty state dir (the
	// table rebuilt from its changelog); RecoveryWarmS1M with the state
	// dir the table was built in.
	RecoveryS1M     float64 `json:"recovery_s_1m"`
	RecoveryWarmS1M float64 `json:"recovery_warm_s_1m"`
	// RSSRecoveredBytes is the RSS of the instance that recovered from
	// the empty state dir, once ready; BytesPerConnectionRecovered is
	// (it - RSSEmptyBytes) / TableConnections: the table rebuilt, without
	// the garbage of auditing it, but with that of reading its changelog.
	RSSRecoveredBytes           int64   `json:"rss_recovered_1m_bytes"`
	BytesPerConnectionRecovered float64 `json:"bytes_per_connection_recovered"`
	// RSSWarmBytes is the RSS of the instance started on the warm state
	// dir, once ready, and BytesPerConnectionWarm (it - RSSEmptyBytes) /
	// TableConnections: what holding the table costs an instance that has
	// processed none of it.
	RSSWarmBytes           int64   `json:"rss_warm_1m_bytes"`
	BytesPerConnectionWarm float64 `json:"bytes_per_connection_warm"`

	Notes []string `json:"notes,omitempty"`
}

// Hop is one leg of the latency: from one point to the next.
type Hop struct {
	From    string  `json:"from"`
	To      string  `json:"to"`
	Samples int     `json:"samples"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
}

// Yardstick is what a goka yardstick measured.
type Yardstick struct {
	LinesPerS            float64 `json:"lines_per_s"`
	Seconds              float64 `json:"seconds"`
	CPUSPerMillion       float64 `json:"cpu_s_per_million"`
	BrokerCPUSPerMillion float64 `json:"broker_cpu_s_per_million"`
	Cores                Cores   `json:"cores"` // Harness is the processor
}

// Cores is CPU use in cores (CPU seconds per second) per process.
type Cores struct {
	Kaudit  float64 `json:"kaudit"`
	Broker  float64 `json:"broker"`
	Harness float64 `json:"harness"`
	// Others is every other process on the machine: near 0 on a quiet one.
	Others float64 `json:"others"`
}

// CounterState is kaudit's counters at the end of the throughput run.
type CounterState struct {
	LinesIn    int64 `json:"lines_in"`
	Kept       int64 `json:"kept"`
	Suppressed int64 `json:"suppressed"`
	// Batched of the suppressed were counted on the input side; the rest
	// went round the loop to the table owner one by one.
	Batched    int64 `json:"batched"`
	Audited    int64 `json:"audited"`
	RecordsOut int64 `json:"records_out"`
	DeadLetter int64 `json:"dead_letter"`
	Restarts   int64 `json:"restarts"`
}

func (c counters) state() CounterState {
	return CounterState{LinesIn: c.LinesIn, Kept: c.Kept, Suppressed: c.Suppressed, Batched: c.Batched, Audited: c.Audited,
		RecordsOut: c.RecordsOut, DeadLetter: c.DeadLetter, Restarts: c.Restarts}
}

func (r *Results) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// WriteJSON writes the results, indented, to path.
func (r *Results) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Targets of issue 7.
const (
	targetRatio       = 0.6
	targetP99Ms       = 250
	targetRecoveryS   = 10
	targetBytesPerCon = 200
)

// WriteTable prints the results as a table, with issue 7's targets.
func (r *Results) WriteTable(w io.Writer) error {
	m := r.Machine
	fmt.Fprintf(w, "\nkaudit bench: %s lines (%s B on average, %d to %d B), %s connections; %d CPUs (%s), %s RAM, %s\n\n",
		count(r.Workload.Lines), count(avg(r.Workload.Bytes, r.Workload.Lines)), r.Workload.MinBytes, r.Workload.MaxBytes,
		count(r.Workload.Connections), m.CPUs, m.CPUModel, bytesIEC(m.MemBytes), m.Go)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(what, value, target string, ok bool, measured bool) {
		verdict := ""
		if target != "" && measured {
			verdict = "MISSED"
			if ok {
				verdict = "met"
			}
		} else if target != "" {
			verdict = "not measured"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", what, value, target, verdict)
	}
	fmt.Fprintln(tw, "figure\tmeasured\ttarget\t")
	fmt.Fprintln(tw, "------\t--------\t------\t")
	row("baseline: sarama copy, lines/s", count(int64(r.BaselineLinesPerS)), "", false, false)
	row("trivial goka processor (table write + emit), lines/s", count(int64(r.GokaTrivial.LinesPerS)), "", false, false)
	row("goka processor that only reads, lines/s", count(int64(r.GokaRead.LinesPerS)), "", false, false)
	row("kaudit end to end, lines/s (from start)", count(int64(r.KauditLinesPerS)), "", false, false)
	steady := "not measured: every line was read by the first scrape"
	if r.KauditSteadyLinesPerS > 0 {
		steady = count(int64(r.KauditSteadyLinesPerS))
	}
	row("kaudit, lines/s after its first line", fmt.Sprintf("%s (start-up %.1f s)", steady, r.KauditStartupSeconds), "", false, false)
	row("ratio kaudit/baseline", fmt.Sprintf("%.2f", r.Ratio), fmt.Sprintf(">= %.1f", targetRatio), r.Ratio >= targetRatio, r.BaselineLinesPerS > 0 && r.KauditLinesPerS > 0)
	row("  ratio kaudit/trivial goka processor", fmt.Sprintf("%.2f", r.GokaRatio), "", false, false)
	row(fmt.Sprintf("latency p50 / p99 at %s lines/s", count(int64(r.LatencyOfferedLinesPerS))),
		fmt.Sprintf("%.1f / %.1f ms (%s records)", r.P50Ms, r.P99Ms, count(int64(r.LatencySamples))),
		fmt.Sprintf("p99 < %d ms", targetP99Ms), r.P99Ms < targetP99Ms, r.LatencySamples > 0)
	row("  p99 of first Produce/Fetch records / of the others", fmt.Sprintf("%.1f ms (%s records) / %.1f ms", r.P99ProduceFetchMs, count(int64(r.ProduceFetchSamples)), r.P99OtherMs), "", false, false)
	row("  p50 of lines sent in the first / last quarter", fmt.Sprintf("%.1f / %.1f ms", r.P50FirstQuarterMs, r.P50LastQuarterMs), "", false, false)
	c := r.LatencyCores
	row("  cores then: kaudit / broker / harness / others", fmt.Sprintf("%.2f / %.2f / %.2f / %.2f (%s lines behind at the end)", c.Kaudit, c.Broker, c.Harness, c.Others, count(r.LatencyBacklogLines)), "", false, false)
	for _, h := range r.LatencyHops {
		row(fmt.Sprintf("  %s -> %s, p50 / p99", h.From, h.To), fmt.Sprintf("%.1f / %.1f ms (max %.1f, %s records)", h.P50Ms, h.P99Ms, h.MaxMs, count(int64(h.Samples))), "", false, false)
	}
	row("CPU per million lines: kaudit (broker)", fmt.Sprintf("%.1f s (%.1f s)", r.CPUSPerMillion, r.BrokerCPUSPerMillion), "", false, false)
	row(fmt.Sprintf("  kaudit with its batches applied (%.1f s later)", r.SettleSeconds), fmt.Sprintf("%.1f s", r.CPUSPerMillionSettled), "", false, false)
	row("  baseline copy (broker)", fmt.Sprintf("%.1f s (%.1f s)", r.BaselineCPUSPerMillion, r.BaselineBrokerCPUSPerMillion), "", false, false)
	for _, y := range []struct {
		what string
		y    Yardstick
	}{{gokaTrivial.what, r.GokaTrivial}, {gokaRead.what, r.GokaRead}} {
		row(fmt.Sprintf("  %s (broker)", y.what), fmt.Sprintf("%.1f s (%.1f s)", y.y.CPUSPerMillion, y.y.BrokerCPUSPerMillion), "", false, false)
	}
	kc, bc := r.KauditCores, r.BaselineCores
	row("  cores in kaudit's run: kaudit / broker / others", fmt.Sprintf("%.2f / %.2f / %.2f", kc.Kaudit, kc.Broker, kc.Others), "", false, false)
	row("  cores in the copy: copy / broker / others", fmt.Sprintf("%.2f / %.2f / %.2f", bc.Harness, bc.Broker, bc.Others), "", false, false)
	row("kaudit peak RSS (throughput run)", bytesIEC(r.PeakRSSBytes), "", false, false)
	row(fmt.Sprintf("recovery of %s connections, empty state dir", count(r.TableFilled)), fmt.Sprintf("%.1f s", r.RecoveryS1M),
		fmt.Sprintf("< %d s", targetRecoveryS), r.RecoveryS1M < targetRecoveryS, r.RecoveryS1M > 0)
	row("  same, warm state dir", fmt.Sprintf("%.1f s", r.RecoveryWarmS1M), "", false, false)
	row("RSS per tracked connection", fmt.Sprintf("%.0f B (%s -> %s)", r.BytesPerConnection, bytesIEC(r.RSSSmallBytes), bytesIEC(r.RSSLargeBytes)),
		// A table too small to lift the RSS above its noise (a quick run's
		// --table-connections) gives no figure, not a "met".
		fmt.Sprintf("< %d B", targetBytesPerCon), r.BytesPerConnection < targetBytesPerCon, r.RSSLargeBytes > r.RSSSmallBytes)
	row("  same, after recovery from empty state dir", fmt.Sprintf("%.0f B (%s -> %s)", r.BytesPerConnectionRecovered, bytesIEC(r.RSSEmptyBytes), bytesIEC(r.RSSRecoveredBytes)), "", false, false)
	row("  same, started on the warm state dir", fmt.Sprintf("%.0f B (%s -> %s)", r.BytesPerConnectionWarm, bytesIEC(r.RSSEmptyBytes), bytesIEC(r.RSSWarmBytes)), "", false, false)
	row("table fill, new-connection lines/s", count(int64(r.TableFillLinesPerS)), "", false, false)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	_, err := fmt.Fprintf(w, "(%.0f s in all)\n", r.Seconds)
	return err
}

func avg(sum, n int64) int64 {
	if n == 0 {
		return 0
	}
	return sum / n
}

// count writes n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + count(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// bytesIEC writes n in KiB, MiB or GiB.
func bytesIEC(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
		if math.Abs(f) < 1024 || u == "GiB" {
			if u == "B" {
				return fmt.Sprintf("%d B", n)
			}
			return fmt.Sprintf("%.1f %s", f, u)
		}
		f /= 1024
	}
	return ""
}
