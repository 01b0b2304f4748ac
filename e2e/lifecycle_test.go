package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
)

// TestEvictionAndReusedConnectionIDs churns connections past the TTL and
// checks the dedup table stays bounded: idle connections are evicted,
// active ones stay. It also reuses a connection id the way a broker
// restart does (same id, correlation ids starting over) and checks the
// reuse counts as a new connection with its own Produce record.
func TestEvictionAndReusedConnectionIDs(t *testing.T) {
	skipShort(t)
	const wave = 60
	b := startBroker(t)
	cfg := httpConfig(b)
	cfg.Dedup.TTL = time.Minute
	p := startPipeline(t, cfg)
	waitReady(t, p)
	cl := newClient(t, b)

	// Wave 1 at t0; wave 2 five minutes of log time later, so wave 1 is
	// idle past the TTL in stream time.
	var lines []string
	for i := range wave {
		lines = append(lines, demo.Produce(t0, conn(i, "User:app"), 50000+int32(i), "orders", 0, 10))
	}
	produceLines(t, cl, cfg.Topics.Raw, lines)
	consumeN(t, b, cfg.Topics.Audit, wave, 0)
	lines = lines[:0]
	for i := range wave {
		lines = append(lines, demo.Produce(t0.Add(5*time.Minute), conn(1000+i, "User:app"), 1, "orders", 0, 10))
	}
	// A broker restart: connection 0's id comes back with a low
	// correlation id, inside the TTL of wave 2.
	lines = append(lines, demo.Produce(t0.Add(5*time.Minute), conn(0, "User:app"), 3, "orders", 0, 10))
	produceLines(t, cl, cfg.Topics.Raw, lines)
	recs := consumeN(t, b, cfg.Topics.Audit, 2*wave+1, 2*time.Second)
	require.Len(t, recs, 2*wave+1, "wave 1, wave 2 and the reused id each get one Produce record")
	ids := map[string]bool{}
	reused := 0
	for _, r := range recs {
		var ev struct {
			ID   string            `json:"id"`
			Data schemas.AuditData `json:"data"`
		}
		require.NoError(t, json.Unmarshal(r.Value, &ev))
		require.False(t, ids[ev.ID], "record id %s repeated", ev.ID)
		ids[ev.ID] = true
		if ev.Data.RequestMetadata.ConnectionID == conn(0, "User:app").ID {
			reused++
		}
	}
	require.Equal(t, 2, reused, "two incarnations of one connection id, two records, two ids")

	// The sweeper (every 15s for a 1m TTL) evicts wave 1 but connection 0,
	// whose new incarnation is active.
	require.Eventually(t, func() bool {
		return scrapeCounter(t, p, "kaudit_connections_evicted_total") >= wave-1
	}, 60*time.Second, 500*time.Millisecond)
	require.Equal(t, float64(wave-1), scrapeCounter(t, p, "kaudit_connections_evicted_total"))
	getJSON(t, p, "/v1/connections/"+url.PathEscape(conn(1, "User:app").ID), http.StatusNotFound, nil)
	var st schemas.ConnState
	getJSON(t, p, "/v1/connections/"+url.PathEscape(conn(1001, "User:app").ID), http.StatusOK, &st)
	getJSON(t, p, "/v1/connections/"+url.PathEscape(conn(0, "User:app").ID), http.StatusOK, &st)
	require.EqualValues(t, 3, st.FirstProduce.CorrelationID, "the state is the new incarnation's")
}

// scrapeCounter reads one unlabelled counter from /metrics.
func scrapeCounter(t *testing.T, p *topology.Pipeline, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.HTTPAddr() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf strings.Builder
	_, err = io.Copy(&buf, resp.Body)
	require.NoError(t, err)
	for _, l := range strings.Split(buf.String(), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return f
		}
	}
	return 0
}

// TestRestartOnStateDir: an instance with a state dir stops gracefully,
// leaving each store's key filter, and the next one on that dir loads them
// and goes on where it stopped: the known connections' next Produce is a
// repeat, not audited again, and a new connection is audited. A start
// without the filters (as after a crash) builds them and does the same.
// A filter that lacked a stored connection would audit it again.
func TestRestartOnStateDir(t *testing.T) {
	skipShort(t)
	const conns = 60
	b := startBroker(t)
	cfg := httpConfig(b)
	cfg.StateDir = t.TempDir()
	client := newClient(t, b)
	filters := filepath.Join(cfg.StateDir, "*", "kaudit-dedup-table.*", "KAUDIT-KEYFILTER")
	// round r sends one Produce on each of the first n connections.
	send := func(r, n int) {
		var lines []string
		for i := range n {
			ts := t0.Add(time.Duration(r)*time.Minute + time.Duration(i)*time.Millisecond)
			lines = append(lines, demo.Produce(ts, conn(i, "User:app"), int32(r+1), "orders", 0, 100))
		}
		produceLines(t, client, cfg.Topics.Raw, lines)
	}

	p, stop := runPipeline(t, cfg)
	waitReady(t, p)
	send(0, conns)
	consumeN(t, b, cfg.Topics.Audit, conns, 0)
	stop()
	saved, err := filepath.Glob(filters)
	require.NoError(t, err)
	require.Len(t, saved, 2*cfg.Topics.Partitions, "the table's and the view's stores saved their filters")

	for round, crashed := range []bool{false, true} {
		if crashed {
			saved, err := filepath.Glob(filters)
			require.NoError(t, err)
			for _, f := range saved {
				require.NoError(t, os.Remove(f))
			}
		}
		p, stop := runPipeline(t, cfg)
		waitReady(t, p)
		if !crashed {
			left, err := filepath.Glob(filters)
			require.NoError(t, err)
			require.Empty(t, left, "loaded filters are removed")
		}
		send(round+1, conns+round+1)
		recs := consumeN(t, b, cfg.Topics.Audit, conns+round+1, 3*time.Second)
		require.Equal(t, conns+round+1, len(recs), "after restart %d (crashed %v): only the new connection is audited", round+1, crashed)
		requireDistinctIDs(t, recs)
		stop()
	}
}
