package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
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
func TestOwnerDropsLoopRecordThatOvertook(t *testing.T) {
	skipShort(t)
	b := startBroker(t)
	cfg := httpConfig(b)
	p := startPipeline(t, cfg)
	waitReady(t, p)

	c := demo.Conn{ID: demo.ConnID("10.0.0.11", 9094, "10.1.60.166", 53226, 15165), Principal: "User:app-7",
		ClientID: "client-33", Software: "apache-kafka-java/3.8.0"}
	at := time.Date(2025, 3, 14, 9, 7, 38, 132_000_000, time.UTC)
	lines := []string{demo.Produce(at, c, 2, "orders", 0, 100), demo.Fetch(at.Add(3*time.Second), c, 29, "orders", 0, 4096)}

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
	require.Len(t, want, 2)

	// Raw partition 0, offsets 12 and 40; LoopPrev is the offset + 1 of
	// the connection's previous looped request.
	loopRecord := func(line string, offset, prev int64) *schemas.RequestLog {
		r, err := schemas.ParseLine([]byte(line), schemas.ParseOptions{Cluster: cfg.Cluster.ID, Location: time.UTC})
		require.NoError(t, err)
		r.SourceOffset, r.LoopPrev = offset, prev
		return r
	}
	produce, fetch := loopRecord(lines[0], 12, 0), loopRecord(lines[1], 40, 13)
	em, err := goka.NewEmitter(b.Addrs(), goka.Stream(p.Graphs()[0].LoopStream().Topic()), new(schemas.RequestLogCodec))
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
	var got []string
	for _, r := range consumeN(t, b, cfg.Topics.Audit, 2, 2*time.Second) {
		got = append(got, recordID(r.Value))
	}
	require.ElementsMatch(t, want, got, "the ids of the two lines in order, each once")
	var st schemas.ConnState
	getJSON(t, p, "/v1/connections/"+url.PathEscape(c.ID), http.StatusOK, &st)
	require.EqualValues(t, 2, st.FirstProduce.CorrelationID)
	require.EqualValues(t, 29, st.FirstFetch.CorrelationID)
	require.Equal(t, at, st.Epoch)
	require.Equal(t, float64(1), scrapeCounter(t, p, "kaudit_loop_out_of_order_total"))
}
