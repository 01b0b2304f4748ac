package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
)

// The fast builders write exactly what topology/demo writes for the same
// request.
func TestBuildersMatchDemo(t *testing.T) {
	ts := time.Date(2024, 10, 25, 9, 14, 9, 633_000_000, time.UTC)
	dc := demo.Conn{ID: "10.0.0.11:9094-10.0.1.20:40000-3", Principal: "User:orders-svc", ClientID: "orders-producer", Software: "apache-kafka-java/3.8.0"}
	c := &conn{id: []byte(dc.ID), principal: dc.Principal, clientID: []byte(dc.ClientID), swName: "apache-kafka-java", swVersion: "3.8.0"}
	for _, tc := range []struct {
		name      string
		got, want string
	}{
		{"produce", string(appendProduce(nil, ts, c, 2, "orders", []part{{index: 0, size: 700, offset: 20}}, 0)), demo.Produce(ts, dc, 2, "orders", 0, 700)},
		{"produce denied", string(appendProduce(nil, ts, c, 3, "orders", []part{{index: 0, size: 700}}, 29)), demo.Produce(ts, dc, 3, "orders", 29, 700)},
		{"fetch", string(appendFetch(nil, ts, c, 4, "orders", []part{{index: 0, size: 900}}, 0)), demo.Fetch(ts, dc, 4, "orders", 0, 900)},
		{"fetch denied", string(appendFetch(nil, ts, c, 5, "orders", []part{{index: 0, size: 900}}, 29)), demo.Fetch(ts, dc, 5, "orders", 29, 900)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.got)
		})
	}
}

// genLines generates n lines of w, copying each.
func genLines(w Workload, n int) ([]Line, Counts) {
	g := NewGenerator(w)
	var buf []byte
	out := make([]Line, 0, n)
	for range n {
		l := g.Next(buf, nil)
		buf = l.Value
		l.Value = bytes.Clone(l.Value)
		out = append(out, l)
	}
	return out, g.Counts()
}

func TestWorkloadShape(t *testing.T) {
	const n = 20_000
	lines, counts := genLines(Workload{Connections: 2000, Seed: 1}, n)
	require.EqualValues(t, n, counts.Lines)
	require.GreaterOrEqual(t, counts.MinBytes, 600, "shortest line")
	require.LessOrEqual(t, counts.MaxBytes, 1500, "longest line")

	var pf, admin, denied int
	parts := map[int32]int{}
	for _, l := range lines {
		require.True(t, bytes.HasPrefix(l.Value, []byte("[2025-03-03 09:")), "log4j prefix: %.60s", l.Value)
		require.True(t, bytes.HasSuffix(l.Value, []byte("} (kafka.request.logger)")))
		body := l.Value[bytes.IndexByte(l.Value, '{') : len(l.Value)-len(" (kafka.request.logger)")]
		require.True(t, json.Valid(body), "%s: %s", l.Kind, body)
		require.NotContains(t, string(l.Key), ":", "keyed by broker, not by connection")
		parts[l.Partition]++
		switch {
		case l.Kind.Denied():
			denied++
		case l.Kind.Admin():
			admin++
		default:
			pf++
		}
	}
	// 80% Produce/Fetch, 14% admin, 6% denials, within sampling noise.
	require.InDelta(t, 0.80, float64(pf)/n, 0.02)
	require.InDelta(t, 0.14, float64(admin)/n, 0.02)
	require.InDelta(t, 0.06, float64(denied)/n, 0.02)
	require.Len(t, parts, 8, "round robin over 8 partitions")
	for p, k := range parts {
		require.Equal(t, n/8, k, "partition %d", p)
	}
	require.Equal(t, counts.Lines, counts.Audited+counts.Suppressed)

	// Same seed, same log.
	again, _ := genLines(Workload{Connections: 2000, Seed: 1}, 100)
	for i := range again {
		require.Equal(t, lines[i].Value, again[i].Value)
	}
}

// kaudit's own offline mapping accepts every generated line and suppresses
// exactly the repeats the generator counted.
func TestWorkloadConverts(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    Workload
	}{
		{"mix", Workload{Connections: 500, Seed: 2}},
		{"distinct connections", Workload{Distinct: true, Seed: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, counts := genLines(tc.w, 3000)
			var in strings.Builder
			for _, l := range lines {
				in.Write(l.Value)
				in.WriteByte('\n')
			}
			cfg := topology.Defaults()
			var errs strings.Builder
			st, err := topology.Convert(strings.NewReader(in.String()), io.Discard, &errs, &cfg, false)
			require.NoError(t, err)
			require.Empty(t, errs.String())
			require.Equal(t, 3000, st.Lines)
			require.Zero(t, st.Bad)
			require.Zero(t, st.Skipped)
			require.Zero(t, st.NotAudited)
			require.EqualValues(t, counts.Suppressed, st.Suppressed)
			if tc.w.Distinct {
				require.EqualValues(t, 3000, counts.Connections)
				require.Zero(t, counts.Suppressed)
			}
		})
	}
}

func TestStampedClientID(t *testing.T) {
	g := NewGenerator(Workload{Connections: 10})
	l := g.Next(nil, []byte("bench-1700000000000000000-"))
	require.Contains(t, string(l.Value), `"clientId":"bench-1700000000000000000-`)
	ns, ok := stampOf(l.Value)
	require.True(t, ok)
	require.EqualValues(t, 1700000000000000000, ns)
}
