package bench

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Percentile is the p-th percentile (0..100) of sorted values, by linear
// interpolation between closest ranks (the "R-7" method of numpy and
// spreadsheets). It is NaN for no values.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	if p <= 0 {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[len(sorted)-1]
	}
	rank := p / 100 * float64(len(sorted)-1)
	lo := int(rank)
	frac := rank - float64(lo)
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}

// Latency summarises latency samples in milliseconds.
type Latency struct {
	Samples int     `json:"samples"`
	P50     float64 `json:"p50_ms"`
	P90     float64 `json:"p90_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
}

// steadyRate is kaudit's rate after the first scrape that saw a line:
// the lines read by then (atFirst) are left out, as their time is not in
// d. It is 0 when every line was read by then, so that the latency phase
// falls back to the rate from start instead of half of a rate that
// divides a whole run by a few milliseconds.
func steadyRate(n, atFirst int64, d time.Duration) float64 {
	if n <= atFirst || d <= 0 {
		return 0
	}
	return float64(n-atFirst) / d.Seconds()
}

// Summarise sorts ms in place and summarises it.
func Summarise(ms []float64) Latency {
	slices.Sort(ms)
	l := Latency{Samples: len(ms)}
	if len(ms) == 0 {
		return l
	}
	l.P50, l.P90, l.P99, l.Max = Percentile(ms, 50), Percentile(ms, 90), Percentile(ms, 99), ms[len(ms)-1]
	return l
}

// stampMark starts the client id of a line whose send time the latency
// phase measures: `bench-<unix nanos>-<the usual client id>`.
const stampMark = "bench-"

// stampPrefix finds it in JSON (lines, audit records), avroStampPrefix in
// kaudit's Avro records, where the client id is a plain string.
var stampPrefix, avroStampPrefix = []byte(`"clientId":"` + stampMark), []byte(stampMark)

// appendStamp appends the client-id stamp for send time ns.
func appendStamp(b []byte, ns int64) []byte {
	b = append(b, stampMark...)
	b = strconv.AppendInt(b, ns, 10)
	return append(b, '-')
}

// stampOf finds the send time in a request-log line or an audit record
// (both carry the client id as "clientId":"...").
func stampOf(b []byte) (int64, bool) {
	return stampAfter(b, stampPrefix)
}

// avroStampOf finds the send time in one of kaudit's Avro records.
func avroStampOf(b []byte) (int64, bool) {
	return stampAfter(b, avroStampPrefix)
}

var produceFetchMethods = [][]byte{[]byte(`"methodName":"kafka.Produce"`), []byte(`"methodName":"kafka.Fetch"`)}

// isProduceFetch reports whether an audit record is of a Produce or Fetch.
func isProduceFetch(b []byte) bool {
	return bytes.Contains(b, produceFetchMethods[0]) || bytes.Contains(b, produceFetchMethods[1])
}

func stampAfter(b, prefix []byte) (int64, bool) {
	i := bytes.Index(b, prefix)
	if i < 0 {
		return 0, false
	}
	b = b[i+len(prefix):]
	end := bytes.IndexByte(b, '-')
	if end <= 0 {
		return 0, false
	}
	ns, err := strconv.ParseInt(string(b[:end]), 10, 64)
	return ns, err == nil
}

// ParseMetrics sums, per metric name, every sample of the wanted metrics
// in a Prometheus text exposition (labels are summed over); each labelled
// series is also there under its own name, e.g. `a_total{outcome="x"}`.
// Names not found are absent from the map.
func ParseMetrics(r io.Reader, names ...string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		if !want[name] {
			continue
		}
		// The value follows the labels (which may contain spaces in
		// quoted values) and may be followed by a timestamp.
		rest, series := line[len(name):], ""
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			series, rest = name+rest[:end+1], rest[end+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
		if series != "" {
			out[series] += v
		}
	}
	return out, sc.Err()
}
