package e2e

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
)

// At a broker restart, sarama can give up a loop write and still write
// the ones queued behind it (README.md, Fault tolerance, "Loop chain").
// Here the loop records are written as the input side writes them, with
// goka's partitioner, in the order that failure leaves: a connection's
// Fetch before the Produce it follows, then both again, as the sender's
// rebuilt processor sends them. The owner must drop the early Fetch and
// end with the ids `kaudit convert` gives the two lines in order.
//
// Then a rebalance: the lines since the last commit are read again, and
// the new reading absorbs a repeat Produce that the first one looped, so
// the CreateTopics after it is chained to the Fetch, not to the repeat
// the owner applied. The owner must take it, as nothing sends it again.
func TestOwnerDropsLoopRecordThatOvertook(t *testing.T) {
	skipShort(t)
	b := startBroker(t)
	cfg := httpConfig(b)
	p := startPipeline(t, cfg)
	waitReady(t, p)

	c := demo.Conn{ID: demo.ConnID("10.0.0.11", 9094, "10.1.60.166", 53226, 15165), Principal: "User:app-7",
		ClientID: "client-33", Software: "apache-kafka-java/3.8.0"}
	at := time.Date(2025, 3, 14, 9, 7, 38, 132_000_000, time.UTC)
	lines := []string{
		demo.Produce(at, c, 2, "orders", 0, 100), demo.Fetch(at.Add(3*time.Second), c, 29, "orders", 0, 4096),
		demo.Produce(at.Add(4*time.Second), c, 30, "orders", 0, 100),
		demo.CreateTopics(at.Add(5*time.Second), c, 31, "payments", "", 0, ""),
	}

	var out, errOut bytes.Buffer
	_, err := topology.Convert(strings.NewReader(strings.Join(lines, "\n")+"\n"), &out, &errOut, &cfg, false)
	require.NoError(t, err)
	require.Empty(t, errOut.String())
	recordID := func(event []byte) string {
		var ev struct{ ID string }
		require.NoError(t, json.Unmarshal(event, &ev))
		return ev.ID
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		want = append(want, recordID([]byte(l)))
	}
	require.Len(t, want, 3, "the repeat Produce has no record")

	// Raw partition 0, offsets 12, 40, 45 and 60; LoopPrev is the offset
	// + 1 of the connection's previous looped request.
	loopRecord := func(line string, offset, prev int64) *schemas.RequestLog {
		r, err := schemas.ParseLine([]byte(line), schemas.ParseOptions{Cluster: cfg.Cluster.ID, Location: time.UTC})
		require.NoError(t, err)
		r.SourceOffset, r.LoopPrev = offset, prev
		return r
	}
	produce, fetch := loopRecord(lines[0], 12, 0), loopRecord(lines[1], 40, 13)
	repeat, create := loopRecord(lines[2], 45, 41), loopRecord(lines[3], 60, 41)
	em, err := goka.NewEmitter(b.Addrs(), goka.Stream(cfg.Topics.Rekeyed), new(schemas.RequestLogCodec))
	require.NoError(t, err)
	defer func() { require.NoError(t, em.Finish()) }()
	key := schemas.ConnKey(cfg.Cluster.ID, c.ID)

	require.NoError(t, em.EmitSync(key, fetch)) // the Produce's write was given up
	require.Eventually(t, func() bool {
		return scrapeCounter(t, p, "kaudit_loop_out_of_order_total") == 1
	}, 30*time.Second, 100*time.Millisecond)
	getJSON(t, p, "/v1/connections/"+url.PathEscape(c.ID), http.StatusNotFound, nil)

	require.NoError(t, em.EmitSync(key, produce)) // the replay, in order
	require.NoError(t, em.EmitSync(key, fetch))
	require.NoError(t, em.EmitSync(key, repeat))
	var st schemas.ConnState
	require.Eventually(t, func() bool {
		status, err := fetchJSON(p, "/v1/connections/"+url.PathEscape(c.ID), &st)
		return err == nil && status == http.StatusOK && st.SuppressedProduce == 1
	}, 30*time.Second, 100*time.Millisecond, "the owner applied the repeat")
	require.EqualValues(t, 2, st.FirstProduce.CorrelationID)
	require.EqualValues(t, 29, st.FirstFetch.CorrelationID)
	require.Equal(t, at, st.Epoch)

	// The new reading: the Produce and the Fetch again, the repeat absorbed.
	require.NoError(t, em.EmitSync(key, produce))
	require.NoError(t, em.EmitSync(key, fetch))
	require.NoError(t, em.EmitSync(key, create))
	got := map[string]bool{}
	for _, r := range consumeN(t, b, cfg.Topics.Audit, 5, 2*time.Second) {
		got[recordID(r.Value)] = true
	}
	require.ElementsMatch(t, want, slices.Collect(maps.Keys(got)), "the ids of the lines in order")
	require.Equal(t, float64(1), scrapeCounter(t, p, "kaudit_loop_out_of_order_total"))
}
