package bench

import (
	"encoding/binary"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kaudit/kaudit/schemas"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// sarama's and go-metrics' process-wide background goroutine.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		// BenchmarkPipeline only: a closed LevelDB store's pool drainer
		// waits up to 1 s before it returns.
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
	)
}

func TestPercentile(t *testing.T) {
	oneToHundred := make([]float64, 100)
	for i := range oneToHundred {
		oneToHundred[i] = float64(i + 1)
	}
	for _, tc := range []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"single value", []float64{7}, 99, 7},
		{"median of two interpolates", []float64{1, 3}, 50, 2},
		{"median of odd count", []float64{1, 2, 10}, 50, 2},
		{"p0 is the minimum", []float64{1, 2, 10}, 0, 1},
		{"p100 is the maximum", []float64{1, 2, 10}, 100, 10},
		{"p50 of 1..100", oneToHundred, 50, 50.5},
		{"p99 of 1..100", oneToHundred, 99, 99.01},
		{"p90 of 1..100", oneToHundred, 90, 90.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.InDelta(t, tc.want, Percentile(tc.sorted, tc.p), 1e-9)
		})
	}
	require.True(t, math.IsNaN(Percentile(nil, 50)))
}

func TestSummarise(t *testing.T) {
	l := Summarise([]float64{5, 1, 4, 2, 3})
	require.Equal(t, Latency{Samples: 5, P50: 3, P90: 4.6, P99: 4.96, Max: 5}, roundLatency(l))
	require.Equal(t, Latency{}, Summarise(nil))
}

func roundLatency(l Latency) Latency {
	r := func(v float64) float64 { return math.Round(v*1e6) / 1e6 }
	l.P50, l.P90, l.P99, l.Max = r(l.P50), r(l.P90), r(l.P99), r(l.Max)
	return l
}

func TestStampOf(t *testing.T) {
	rec := `{"data":{"requestMetadata":{"connectionId":"c","requestId":["2"],"clientId":"bench-1712000000123456789-adminclient-7"}}}`
	ns, ok := stampOf([]byte(rec))
	require.True(t, ok)
	require.EqualValues(t, 1712000000123456789, ns)
	require.Equal(t, "bench-42-", string(appendStamp(nil, 42)))
	for _, bad := range []string{`{"clientId":"orders-producer"}`, `"clientId":"bench-x-1"`, `"clientId":"bench-"`} {
		_, ok := stampOf([]byte(bad))
		require.False(t, ok, bad)
	}
}

func TestAvroStampOf(t *testing.T) {
	b, err := new(schemas.RequestLogCodec).Encode(&schemas.RequestLog{ClientID: "bench-1712000000123456789-producer-7", Connection: "c"})
	require.NoError(t, err)
	ns, ok := avroStampOf(b)
	require.True(t, ok)
	require.EqualValues(t, 1712000000123456789, ns)
	b, err = new(schemas.RequestLogCodec).Encode(&schemas.RequestLog{ClientID: "producer-7", Connection: "c"})
	require.NoError(t, err)
	_, ok = avroStampOf(b)
	require.False(t, ok)
}

// TestHops splits samples at the hop topics' CreateTimes; a sample that
// misses a point is left out.
func TestHops(t *testing.T) {
	at := func(ms int64) time.Time { return time.Unix(0, ms*1e6) }
	r := &latencyReader{created: map[string]map[int64]time.Time{
		"loop":     {1e6: at(3), 2e6: at(5)},
		"requests": {1e6: at(10)}, // line 2's record never got here
	}}
	hops := r.hops([]sample{
		{sent: 1e6, created: at(30), fetched: at(31)},
		{sent: 2e6, created: at(50), fetched: at(60)},
	}, []string{"loop", "requests"})
	require.Equal(t, []Hop{
		{From: "sent", To: "loop", Samples: 1, P50Ms: 2, P99Ms: 2, MaxMs: 2},
		{From: "loop", To: "requests", Samples: 1, P50Ms: 7, P99Ms: 7, MaxMs: 7},
		{From: "requests", To: auditTopic, Samples: 1, P50Ms: 20, P99Ms: 20, MaxMs: 20},
		{From: auditTopic, To: "read", Samples: 1, P50Ms: 1, P99Ms: 1, MaxMs: 1},
	}, hops)
}

func TestParseMetrics(t *testing.T) {
	const text = `# HELP kaudit_lines_in_total Raw request-log lines read, by outcome.
# TYPE kaudit_lines_in_total counter
kaudit_lines_in_total{outcome="dead_letter"} 2
kaudit_lines_in_total{outcome="parsed"} 999997
kaudit_lines_in_total{outcome="skipped"} 1
kaudit_kept_total{api="kafka.Produce"} 1.5e+06
kaudit_kept_total{api="kafka.Fetch",note="a } brace"} 10 1712000000000
kaudit_restarts_total 3
kaudit_lines_in_total_other 5
`
	got, err := ParseMetrics(strings.NewReader(text), "kaudit_lines_in_total", "kaudit_kept_total", "kaudit_restarts_total", "kaudit_absent")
	require.NoError(t, err)
	require.Equal(t, map[string]float64{
		"kaudit_lines_in_total":                                 1_000_000,
		`kaudit_lines_in_total{outcome="dead_letter"}`:          2,
		`kaudit_lines_in_total{outcome="parsed"}`:               999_997,
		`kaudit_lines_in_total{outcome="skipped"}`:              1,
		"kaudit_kept_total":                                     1_500_010,
		`kaudit_kept_total{api="kafka.Produce"}`:                1.5e6,
		`kaudit_kept_total{api="kafka.Fetch",note="a } brace"}`: 10,
		"kaudit_restarts_total":                                 3,
	}, got)
}

func TestParseStatTicks(t *testing.T) {
	// A command name with a space and a parenthesis; utime 1234, stime 56.
	stat := "4242 (kau dit) x) S 1 4242 4242 0 -1 4194560 5000 0 0 0 1234 56 0 0 20 0 12 0 100 2000000 5000 18446744073709551615\n"
	ticks, err := parseStatTicks([]byte(stat))
	require.NoError(t, err)
	require.EqualValues(t, 1290, ticks)
	_, err = parseStatTicks([]byte("4242 (short) S 1"))
	require.Error(t, err)

	// This process's own stat parses.
	own, err := os.ReadFile("/proc/self/stat")
	if err == nil {
		_, err = parseStatTicks(own)
		require.NoError(t, err)
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\tkaudit\nVmPeak:\t 2000000 kB\nVmHWM:\t  524288 kB\nVmRSS:\t  262144 kB\nThreads:\t12\n"
	rss, hwm := parseStatus([]byte(status))
	require.EqualValues(t, 256<<20, rss)
	require.EqualValues(t, 512<<20, hwm)
}

func TestParseAuxv(t *testing.T) {
	auxv := make([]byte, 0, 64)
	for _, w := range []uint64{6, 4096, atClkTck, 250, 0, 0} { // AT_PAGESZ, AT_CLKTCK, AT_NULL
		auxv = binary.NativeEndian.AppendUint64(auxv, w)
	}
	hz, ok := parseAuxvClkTck(auxv, 8)
	require.True(t, ok)
	require.EqualValues(t, 250, hz)
	_, ok = parseAuxvClkTck(auxv[:16], 8)
	require.False(t, ok)
	require.Positive(t, clockTicks())
}

func TestMachineInfo(t *testing.T) {
	require.Equal(t, "AMD EPYC 7B13", cpuModel([]byte("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n")))
	require.EqualValues(t, 24683840*1024, memTotal([]byte("MemTotal:       24683840 kB\nMemFree:        19000000 kB\n")))
	require.Positive(t, ReadMachine().CPUs)
}

func TestParseMachineBusy(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	stat := "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\nintr 12345\n"
	busy, err := parseMachineBusy([]byte(stat))
	require.NoError(t, err)
	require.EqualValues(t, 100+5+50+3+2+1, busy)
	_, err = parseMachineBusy([]byte("intr 1\n"))
	require.Error(t, err)

	w := watchCPU(os.Getpid())
	each, others, _ := w.cores()
	require.Len(t, each, 1)
	require.GreaterOrEqual(t, others, 0.0)
}

// Validate names each bad option.
func TestOptionsValidate(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		set  func(*Options)
		want string
	}{
		{"defaults", func(*Options) {}, ""},
		{"few lines", func(o *Options) { o.Lines = 10 }, "lines: at least 1000"},
		{"short latency phase", func(o *Options) { o.LatencyFor = time.Millisecond }, "latency duration"},
		{"negative latency rate", func(o *Options) { o.LatencyRate = -1 }, "latency rate"},
		{"no binary", func(o *Options) { o.Binary = t.TempDir() }, "not a file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Binary: exe}
			require.NoError(t, o.setDefaults())
			tc.set(&o)
			err := o.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// The table's verdict on RSS per connection: a shrinking RSS (a table too
// small to measure) is no figure, not a "met".
func TestWriteTableBytesPerConnection(t *testing.T) {
	for _, tc := range []struct {
		name         string
		small, large int64
		perConn      float64
		want         string
	}{
		{"met", 200 << 20, 340 << 20, 147, "met"},
		{"missed", 200 << 20, 410 << 20, 220, "MISSED"},
		{"shrank", 245 << 20, 233 << 20, -6228, "not measured"},
		{"no table phase", 0, 0, 0, "not measured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Results{RSSSmallBytes: tc.small, RSSLargeBytes: tc.large, BytesPerConnection: tc.perConn}
			var b strings.Builder
			require.NoError(t, r.WriteTable(&b))
			var row string
			for l := range strings.Lines(b.String()) {
				if strings.HasPrefix(l, "RSS per tracked connection") {
					row = l
				}
			}
			require.NotEmpty(t, row)
			require.True(t, strings.HasSuffix(strings.TrimSpace(row), " "+tc.want), "verdict %q in %q", tc.want, row)
		})
	}
}

func TestSteadyRate(t *testing.T) {
	for _, tc := range []struct {
		name       string
		n, atFirst int64
		d          time.Duration
		want       float64
	}{
		{"lines read by the first scrape are left out", 1_000_000, 4_000, 50 * time.Second, 19_920},
		{"every line read by the first scrape", 1_000, 1_000, 3 * time.Millisecond, 0},
		{"no time after the first scrape", 1_000, 10, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.InDelta(t, tc.want, steadyRate(tc.n, tc.atFirst, tc.d), 1e-9)
		})
	}
}
