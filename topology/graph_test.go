package topology_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"
	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/processors/dedup"
	"github.com/kaudit/kaudit/processors/directory"
	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
)

// The goka tester treats every topic as a single partition: ctx.Partition()
// is 0 and ctx.Offset() counts the lines of each topic from 0.

const cluster = "lkc-test"

var (
	t0      = time.Date(2024, 10, 25, 9, 14, 3, 117_000_000, time.UTC)
	streams = func() topology.Streams { c := topology.Defaults(); return c.Streams() }()

	alice = demo.Conn{
		ID: demo.ConnID("10.0.0.11", 9094, "10.0.1.23", 51544, 17), Principal: "User:orders-svc",
		ClientID: "orders-producer", Software: "apache-kafka-java/3.8.0",
	}
	bob = demo.Conn{
		ID: demo.ConnID("10.0.0.12", 9094, "10.0.1.24", 40022, 5), Principal: "User:billing-app",
		ClientID: "consumer-billing-1", Software: "librdkafka/2.5.0",
	}
)

func sec(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// run starts one processor per graph on a fresh tester, all of them
// stopped and waited for when the test ends.
func run(t *testing.T, opts []goka.ProcessorOption, graphs ...*goka.GroupGraph) *tester.Tester {
	t.Helper()
	gkt := tester.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, len(graphs))
	for _, g := range graphs {
		// goka logs every rebalance at Printf; keep test output readable.
		popts := append([]goka.ProcessorOption{goka.WithLogger(slog.NewLogLogger(slog.DiscardHandler, slog.LevelInfo))}, opts...)
		proc, err := goka.NewProcessor(nil, g, append(popts, goka.WithTester(gkt))...)
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := proc.Run(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", g.Group(), err)
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("processor: %v", err)
		}
	})
	return gkt
}

// observed counts what a dedup.Observer is told, by "event:label".
type observed struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *observed) add(event string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[event]++
}

func (o *observed) counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]int, len(o.n))
	for k, v := range o.n {
		out[k] = v
	}
	return out
}

func (o *observed) observer() dedup.Observer {
	with := func(event string) func(string) { return func(l string) { o.add(event + ":" + l) } }
	return dedup.Observer{
		Parsed:     func() { o.add("parsed") },
		Skipped:    with("skipped"),
		DeadLetter: with("dead-letter"),
		Suppressed: with("suppressed"),
		Kept:       with("kept"),
		NotAudited: with("not-audited"),
		Batched:    with("batched"),
		BatchDropped: func(n int64) {
			o.add(fmt.Sprint("batch-dropped:", n))
		},
		OutOfOrder: func() { o.add("out-of-order") },
	}
}

// startDedup runs topology.RekeyGraph and DedupGraph. audited nil audits Confluent
// Cloud's methods, as in production without audit.categories.
func startDedup(t *testing.T, audited func(schemas.API) bool) (*tester.Tester, *observed) {
	t.Helper()
	gkt, obs := startDedupWith(t, dedup.Settings{Audited: audited})
	return gkt, obs
}

// startDedupWith runs topology.RekeyGraph and DedupGraph with s,
// completed with the test cluster, UTC, a quiet logger and an observer.
func startDedupWith(t *testing.T, s dedup.Settings) (*tester.Tester, *observed) {
	t.Helper()
	obs := &observed{n: map[string]int{}}
	s.Cluster, s.Location, s.Log, s.Observe = cluster, time.UTC, discardLogger(), obs.observer()
	return run(t, nil, dedupGraphs(s)...), obs
}

// dedupGraphs are the two groups that take raw lines to the dedup table.
// They send what they keep to streams.Requests, for the tests to read.
func dedupGraphs(s dedup.Settings) []*goka.GroupGraph {
	s.Keep = func(ctx goka.Context, r *schemas.RequestLog) {
		ctx.Emit(streams.Requests, schemas.ConnKey(r.Cluster, r.Connection), r)
	}
	kept := goka.Output(streams.Requests, new(schemas.RequestLogCodec))
	return []*goka.GroupGraph{topology.RekeyGraph(streams, s, kept), topology.DedupGraph(streams, s, false, kept)}
}

// viewlessBatcher batches only what Rekey itself looped: it has no view
// to ask.
func viewlessBatcher() *dedup.Batcher {
	return &dedup.Batcher{Rules: dedup.Rules{TTL: dedup.DefaultTTL}, Known: func(string) *schemas.ConnState { return nil }}
}

// requireCounts checks a connection's request counters: requests, and the
// suppressed Produce, Fetch and bytes.
func requireCounts(t *testing.T, st *schemas.ConnState, requests, produce, fetch, bytes int64) {
	t.Helper()
	require.Equal(t, [4]int64{requests, produce, fetch, bytes},
		[4]int64{st.Requests, st.SuppressedProduce, st.SuppressedFetch, st.SuppressedBytes}, "requests, suppressed produce, fetch, bytes")
}

// rawLine feeds one raw request-log line, keyed as a shipper would.
func rawLine(gkt *tester.Tester, key, line string, opts ...tester.EmitOption) {
	gkt.Consume(string(streams.Raw), key, []byte(line), opts...)
}

// record is one message read from a queue, decoded.
type record struct {
	headers goka.Headers
	key     string
	value   any
}

// drain reads every message the tracker has not returned yet.
func drain(qt *tester.QueueTracker) []record {
	var out []record
	for {
		h, k, v, ok := qt.NextWithHeaders()
		if !ok {
			return out
		}
		out = append(out, record{h, k, v})
	}
}

// metadataV12 is a Metadata v12 line (FORMATS.md A.8): response
// topics[]{errorCode,name,topicId,isInternal,partitions,topicAuthorizedOperations}.
// Only topics with errorCode 0, a name and a non-zero id name an id.
func metadataV12(at time.Time, c demo.Conn, corr int32) string {
	req := json.RawMessage(`{"topics":[{"topicId":"AAAAAAAAAAAAAAAAAAAAAA","name":"orders"},{"topicId":"AAAAAAAAAAAAAAAAAAAAAA","name":"payments"},{"topicId":"AAAAAAAAAAAAAAAAAAAAAA","name":"gone"}],"allowAutoTopicCreation":true,"includeTopicAuthorizedOperations":false}`)
	resp := json.RawMessage(`{"throttleTimeMs":0,"brokers":[{"nodeId":1,"host":"10.0.0.11","port":9094,"rack":null}],"clusterId":"lkc-test","controllerId":1,"topics":[` +
		`{"errorCode":0,"name":"orders","topicId":"Yc7mOg7bRMq1wJjVh2N1xQ","isInternal":false,"partitions":[{"errorCode":0,"partitionIndex":0,"leaderId":1,"leaderEpoch":4,"replicaNodes":[1],"isrNodes":[1],"offlineReplicas":[]}],"topicAuthorizedOperations":-2147483648},` +
		`{"errorCode":0,"name":"payments","topicId":"3lP1k2bGQ0mD5Q4o0s5X2g","isInternal":false,"partitions":[],"topicAuthorizedOperations":-2147483648},` +
		`{"errorCode":3,"name":"gone","topicId":"AAAAAAAAAAAAAAAAAAAAAA","isInternal":false,"partitions":[],"topicAuthorizedOperations":-2147483648}]}`)
	return demo.Line(at, c, 3, 12, "METADATA", corr, req, resp)
}

// deleteTopicsV6 deletes topic by name; a KRaft broker answers with the
// deleted topic's id.
func deleteTopicsV6(at time.Time, c demo.Conn, corr int32, topic, id string) string {
	req := map[string]any{"topics": []any{map[string]any{"name": topic, "topicId": schemas.ZeroUUID}}, "timeoutMs": 30000}
	resp := map[string]any{"throttleTimeMs": 0, "responses": []any{map[string]any{"name": topic, "topicId": id, "errorCode": 0, "errorMessage": nil}}}
	return demo.Line(at, c, 20, 6, "DELETE_TOPICS", corr, req, resp)
}

func forwarded(line string) string {
	return strings.Replace(line, `"isForwarded":false`, `"isForwarded":true`, 1)
}

func TestDedupGraphKeepsFirstProduceAndFetchPerConnection(t *testing.T) {
	gkt, obs := startDedup(t, nil)
	kept := gkt.NewQueueTracker(string(streams.Requests))

	// Raw offsets are the index in this list.
	lines := []struct{ key, line string }{
		{"", demo.Produce(sec(0), alice, 1, "orders", 0, 100)},                                      // 0 kept: alice's first produce
		{"broker-1", demo.Produce(sec(1), alice, 2, "orders", 0, 200)},                              // 1
		{"", demo.Produce(sec(2), bob, 1, "clicks", 0, 50)},                                         // 2 kept: bob's first produce
		{"random", demo.Produce(sec(3), alice, 3, "payments", 0, 300)},                              // 3
		{"", demo.Fetch(sec(4), alice, 4, "orders", 0, 4096)},                                       // 4 kept: alice's first fetch
		{"", demo.Fetch(sec(5), alice, 5, "orders", 0, 1000)},                                       // 5
		{"", demo.CreateTopics(sec(6), alice, 6, "audit", "Yc7mOg7bRMq1wJjVh2N1xQ", 0, "")},         // 6 kept: admin
		{"broker-2", demo.Produce(sec(7), bob, 2, "clicks", 29, 70)},                                // 7: a denied produce is still a repeat
		{"", demo.CreateTopics(sec(8), alice, 7, "audit", "", 36, "Topic 'audit' already exists.")}, // 8 kept: admin
	}
	for _, l := range lines {
		rawLine(gkt, l.key, l.line)
	}

	aliceKey, bobKey := schemas.ConnKey(cluster, alice.ID), schemas.ConnKey(cluster, bob.ID)
	type want struct {
		key    string
		api    string
		corr   int32
		offset int64
	}
	var got []want
	for _, r := range drain(kept) {
		rl, ok := r.value.(*schemas.RequestLog)
		require.True(t, ok, "kept value is %T", r.value)
		require.Equal(t, cluster, rl.Cluster)
		require.Equal(t, int32(0), rl.SourcePartition)
		got = append(got, want{r.key, rl.APIName, rl.CorrelationID, rl.SourceOffset})
	}
	require.Equal(t, []want{
		{aliceKey, "PRODUCE", 1, 0},
		{bobKey, "PRODUCE", 1, 2},
		{aliceKey, "FETCH", 4, 4},
		{aliceKey, "CREATE_TOPICS", 6, 6},
		{aliceKey, "CREATE_TOPICS", 7, 8},
	}, got)

	require.ElementsMatch(t, []string{aliceKey, bobKey}, gkt.GetTableKeys(topology.DedupTable))

	a, ok := gkt.TableValue(topology.DedupTable, aliceKey).(*schemas.ConnState)
	require.True(t, ok)
	requireCounts(t, a, 7, 2, 1, 200+300+1000)
	require.Equal(t, &schemas.FirstRequest{Time: sec(0), CorrelationID: 1, Topics: []string{"orders"}, SourceOffset: 0}, a.FirstProduce)
	require.Equal(t, &schemas.FirstRequest{Time: sec(4), CorrelationID: 4, Topics: []string{"orders"}, SourceOffset: 4}, a.FirstFetch)
	require.Equal(t, sec(0), a.FirstSeen)
	require.Equal(t, sec(8), a.LastSeen)
	require.Equal(t, "User:orders-svc", a.Principal)
	require.Equal(t, "orders-producer", a.ClientID)
	require.Equal(t, "10.0.1.23", a.ClientAddress)
	require.Equal(t, "EXTERNAL", a.Listener)
	require.Equal(t, "SASL_SSL", a.SecurityProtocol)

	b, ok := gkt.TableValue(topology.DedupTable, bobKey).(*schemas.ConnState)
	require.True(t, ok)
	requireCounts(t, b, 2, 1, 0, 70)
	require.Nil(t, b.FirstFetch)

	require.Equal(t, map[string]int{
		"parsed":             9,
		"kept:PRODUCE":       2,
		"kept:FETCH":         1,
		"kept:CREATE_TOPICS": 2,
		"suppressed:PRODUCE": 3,
		"suppressed:FETCH":   1,
	}, obs.counts())
}

// With a batcher and no view to ask, alice's repeats are batched on the
// input side only because her first Produce and Fetch went round the loop
// from here (Rekey tells the batcher), and the batch folds into her state.
func TestDedupGraphBatchesRepeatsOfLoopedFirsts(t *testing.T) {
	b := viewlessBatcher()
	gkt, obs := startDedupWith(t, dedup.Settings{Batcher: b})
	for i, l := range []string{
		demo.Produce(sec(0), alice, 1, "orders", 0, 100), // looped: the first
		demo.Produce(sec(1), alice, 2, "orders", 0, 200),
		demo.Fetch(sec(2), alice, 3, "orders", 0, 4096), // looped: the first fetch
		demo.Fetch(sec(3), alice, 4, "orders", 0, 1000),
		demo.Produce(sec(4), alice, 5, "payments", 0, 300),
	} {
		rawLine(gkt, fmt.Sprint("broker-", i), l)
	}
	require.Equal(t, map[string]int{
		"parsed": 5, "kept:PRODUCE": 1, "kept:FETCH": 1,
		"suppressed:PRODUCE": 2, "suppressed:FETCH": 1, "batched:PRODUCE": 2, "batched:FETCH": 1,
	}, obs.counts())

	aliceKey := schemas.ConnKey(cluster, alice.ID)
	for key, batch := range b.Due(true) { // as housekeeping sends them
		gkt.Consume(string(streams.Rekeyed), key, batch)
	}
	a, ok := gkt.TableValue(topology.DedupTable, aliceKey).(*schemas.ConnState)
	require.True(t, ok)
	requireCounts(t, a, 5, 2, 1, 200+300+1000)
	require.Equal(t, sec(4), a.LastSeen)

	// A batch of a connection the table does not hold (its first request's
	// loop write was lost) is dropped: it must not make a state.
	bobKey := schemas.ConnKey(cluster, bob.ID)
	gkt.Consume(string(streams.Rekeyed), bobKey, &schemas.RequestLog{
		Cluster: cluster, Connection: bob.ID, APIKey: -2, APIName: schemas.BatchAPI, Time: sec(5), CorrelationID: 9, BatchProduce: 3,
	})
	require.Nil(t, gkt.TableValue(topology.DedupTable, bobKey))
	require.Equal(t, 1, obs.counts()["batch-dropped:3"])
}

// Rekey chains the requests it loops (LoopPrev), and the owner drops one
// that reached the loop ahead of a request it follows: after a broker
// restart, sarama may write a processor's later loop records while the
// one before them failed. The rebuilt processor sends both again, in order.
func TestDedupGraphDropsRequestsThatOvertake(t *testing.T) {
	gkt, obs := startDedupWith(t, dedup.Settings{Batcher: viewlessBatcher()})
	loopTopic := string(streams.Rekeyed)
	loop := gkt.NewQueueTracker(loopTopic)
	kept := gkt.NewQueueTracker(string(streams.Requests))

	rawLine(gkt, "broker-1", demo.Produce(sec(0), alice, 1, "orders", 0, 100)) // offset 0
	rawLine(gkt, "broker-1", demo.Fetch(sec(1), alice, 2, "orders", 0, 4096))  // offset 1
	var prevs []int64
	for _, r := range drain(loop) {
		prevs = append(prevs, r.value.(*schemas.RequestLog).LoopPrev)
	}
	require.Equal(t, []int64{0, 1}, prevs, "the fetch names the produce, at raw offset 0")

	bobKey := schemas.ConnKey(cluster, bob.ID)
	req := func(api int16, name string, corr int32, offset, prev int64) *schemas.RequestLog {
		return &schemas.RequestLog{
			Cluster: cluster, Connection: bob.ID, Principal: bob.Principal, APIKey: api, APIName: name,
			Time: sec(int(offset)), CorrelationID: corr, Topics: []string{"clicks"}, SourceOffset: offset, LoopPrev: prev,
		}
	}
	first := req(schemas.APIProduce, "PRODUCE", 3, 7, 0)
	next := req(schemas.APIFetch, "FETCH", 5, 10, 8)
	gkt.Consume(loopTopic, bobKey, next) // its predecessor's write was lost
	require.Nil(t, gkt.TableValue(topology.DedupTable, bobKey), "an overtaker makes no state")
	drain(kept)
	gkt.Consume(loopTopic, bobKey, first) // sent again, in order
	gkt.Consume(loopTopic, bobKey, next)

	var got []string
	for _, r := range drain(kept) {
		rl := r.value.(*schemas.RequestLog)
		got = append(got, fmt.Sprintf("%s %d", rl.APIName, rl.CorrelationID))
	}
	require.Equal(t, []string{"PRODUCE 3", "FETCH 5"}, got)
	st, ok := gkt.TableValue(topology.DedupTable, bobKey).(*schemas.ConnState)
	require.True(t, ok)
	require.Equal(t, sec(7), st.Epoch)
	require.Equal(t, int32(3), st.FirstProduce.CorrelationID)
	require.Equal(t, int32(5), st.FirstFetch.CorrelationID)
	require.Equal(t, 1, obs.counts()["out-of-order"])
}

func TestDedupGraphDeadLetters(t *testing.T) {
	good := demo.Produce(sec(0), alice, 1, "orders", 0, 100)
	for _, tc := range []struct {
		name   string
		line   string
		reason string
	}{
		{name: "not a request log line", line: "hello world", reason: schemas.ReasonNotRequest},
		{name: "whitespace only", line: " \t\r\n", reason: schemas.ReasonEmpty},
		{name: "truncated json", line: good[:len(good)/2], reason: schemas.ReasonBadJSON},
		{name: "bare json that is not an object", line: "{not json}", reason: schemas.ReasonBadJSON},
		{name: "invalid utf-8", line: "{\"a\":\"\xff\"}", reason: schemas.ReasonInvalidUTF8},
		{name: "bad timestamp", line: strings.Replace(good, "2024-10-25 09:14:03,117", "2024-13-25 09:14:03,117", 1), reason: schemas.ReasonBadTimestamp},
		{name: "no principal", line: strings.Replace(good, `"principal":"User:orders-svc",`, "", 1), reason: schemas.ReasonMissingField},
		{name: "no connection", line: strings.Replace(good, `"connection":"`+alice.ID+`",`, "", 1), reason: schemas.ReasonMissingField},
		{name: "produce body of the wrong shape", line: strings.Replace(good, `"topicData":[`, `"topicData":"orders","was":[`, 1), reason: schemas.ReasonBadBody},
		{
			name:   "pre-2.8 text format",
			line:   `[2021-01-01 00:00:00,000] DEBUG Completed request:RequestHeader(apiKey=PRODUCE, apiVersion=8, clientId=p, correlationId=1) -- {acks=-1} (kafka.request.logger)`,
			reason: schemas.ReasonLegacyFormat,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gkt, obs := startDedup(t, nil)
			dead := gkt.NewQueueTracker(string(streams.DeadLetter))
			kept := gkt.NewQueueTracker(string(streams.Requests))
			ids := gkt.NewQueueTracker(string(streams.TopicIDs))

			rawLine(gkt, "good", good) // offset 0
			rawLine(gkt, "shipper-key", tc.line)

			got := drain(dead)
			require.Len(t, got, 1)
			r := got[0]
			require.Equal(t, "shipper-key", r.key, "dead letters keep the input key")
			require.Equal(t, []byte(tc.line), r.value, "dead letters keep the line untouched")
			require.Equal(t, tc.reason, string(r.headers[schemas.HeaderReason]))
			require.NotEmpty(t, r.headers[schemas.HeaderError])
			require.Equal(t, string(streams.Raw), string(r.headers[schemas.HeaderTopic]))
			require.Equal(t, "0", string(r.headers[schemas.HeaderPartition]))
			require.Equal(t, "1", string(r.headers[schemas.HeaderOffset]))

			require.Len(t, drain(kept), 1, "only the good line is kept")
			require.Empty(t, drain(ids))
			require.Equal(t, []string{schemas.ConnKey(cluster, alice.ID)}, gkt.GetTableKeys(topology.DedupTable))
			require.Equal(t, map[string]int{"parsed": 1, "kept:PRODUCE": 1, "dead-letter:" + tc.reason: 1}, obs.counts())
		})
	}
}

func TestDedupGraphSkipsForwardedLines(t *testing.T) {
	gkt, obs := startDedup(t, nil)
	dead := gkt.NewQueueTracker(string(streams.DeadLetter))
	kept := gkt.NewQueueTracker(string(streams.Requests))
	ids := gkt.NewQueueTracker(string(streams.TopicIDs))

	// The controller's copy of a CreateTopics the broker forwarded: it
	// names a topic id, and still must leave no trace.
	rawLine(gkt, "", forwarded(demo.CreateTopics(sec(0), alice, 1, "orders", "Yc7mOg7bRMq1wJjVh2N1xQ", 0, "")))
	rawLine(gkt, "", forwarded(demo.Produce(sec(1), alice, 2, "orders", 0, 10)))

	require.Empty(t, drain(kept))
	require.Empty(t, drain(dead))
	require.Empty(t, drain(ids))
	require.Empty(t, gkt.GetTableKeys(topology.DedupTable))
	require.Equal(t, map[string]int{"skipped:forwarded": 2}, obs.counts())
}

// TestDedupGraphAdminPasses: an admin request is kept (audited) by the
// re-key, once and with its bodies. The table's owner gets it
// without them, for the connection's state, and emits nothing for it; once
// the owner holds the connection, the next one is counted in its batch.
func TestDedupGraphAdminPasses(t *testing.T) {
	b := viewlessBatcher()
	gkt, obs := startDedupWith(t, dedup.Settings{Batcher: b})
	kept := gkt.NewQueueTracker(string(streams.Requests))
	loop := gkt.NewQueueTracker(string(streams.Rekeyed))
	key := schemas.ConnKey(cluster, alice.ID)

	rawLine(gkt, "broker-1", demo.CreateTopics(sec(0), alice, 1, "orders", "Yc7mOg7bRMq1wJjVh2N1xQ", 0, ""))

	out := drain(kept)
	require.Len(t, out, 1)
	require.Equal(t, key, out[0].key)
	r, ok := out[0].value.(*schemas.RequestLog)
	require.True(t, ok)
	require.Equal(t, "CREATE_TOPICS", r.APIName)
	require.NotEmpty(t, r.Request)
	require.NotEmpty(t, r.Response)
	require.False(t, r.Passed)

	looped := drain(loop)
	require.Len(t, looped, 1)
	require.Equal(t, key, looped[0].key)
	l, ok := looped[0].value.(*schemas.RequestLog)
	require.True(t, ok)
	require.True(t, l.Passed)
	require.Nil(t, l.Request)
	require.Nil(t, l.Response)

	st, ok := gkt.TableValue(topology.DedupTable, key).(*schemas.ConnState)
	require.True(t, ok)
	requireCounts(t, st, 1, 0, 0, 0)
	require.Equal(t, "User:orders-svc", st.Principal)
	require.Equal(t, sec(0), st.LastSeen)
	require.Equal(t, map[string]int{"parsed": 1, "kept:CREATE_TOPICS": 1}, obs.counts())

	// The owner holds alice now (her request went round the loop from
	// here): her next admin request is counted in her batch instead.
	rawLine(gkt, "broker-2", demo.CreateTopics(sec(1), alice, 2, "payments", "3lP1k2bGQ0mD5Q4o0s5X2g", 0, ""))
	require.Len(t, drain(kept), 1)
	require.Empty(t, drain(loop))
	due := b.Due(true) // as housekeeping sends them
	require.Len(t, due, 1)
	require.EqualValues(t, 1, due[key].BatchOther)
	gkt.Consume(string(streams.Rekeyed), key, due[key])
	st, ok = gkt.TableValue(topology.DedupTable, key).(*schemas.ConnState)
	require.True(t, ok)
	requireCounts(t, st, 2, 0, 0, 0)
	require.Equal(t, sec(1), st.LastSeen)
	require.Equal(t, map[string]int{"parsed": 2, "kept:CREATE_TOPICS": 2}, obs.counts())
}

func TestDedupGraphTopicIDs(t *testing.T) {
	orders := &schemas.TopicInfo{Cluster: cluster, ID: "Yc7mOg7bRMq1wJjVh2N1xQ", Name: "orders"}
	payments := &schemas.TopicInfo{Cluster: cluster, ID: "3lP1k2bGQ0mD5Q4o0s5X2g", Name: "payments"}
	key := func(ti *schemas.TopicInfo) string { return schemas.TopicKey(ti.Cluster, ti.ID) }
	describe := func(api schemas.API) bool { return api.Cloud || api.Category == schemas.CatDescribe }

	for _, tc := range []struct {
		name     string
		audited  func(schemas.API) bool
		line     string
		wantIDs  []*schemas.TopicInfo
		wantKept []string // api names
		wantObs  map[string]int
	}{
		{
			name:    "metadata is not audited by default but its ids are harvested",
			line:    metadataV12(sec(0), bob, 9),
			wantIDs: []*schemas.TopicInfo{orders, payments}, // not "gone": error code and zero id
			wantObs: map[string]int{"parsed": 1, "not-audited:METADATA": 1},
		},
		{
			name:     "metadata is kept when describe is audited",
			audited:  describe,
			line:     metadataV12(sec(0), bob, 9),
			wantIDs:  []*schemas.TopicInfo{orders, payments},
			wantKept: []string{"METADATA"},
			wantObs:  map[string]int{"parsed": 1, "kept:METADATA": 1},
		},
		{
			name:     "create topics names the new id",
			line:     demo.CreateTopics(sec(0), alice, 1, "orders", orders.ID, 0, ""),
			wantIDs:  []*schemas.TopicInfo{orders},
			wantKept: []string{"CREATE_TOPICS"},
			wantObs:  map[string]int{"parsed": 1, "kept:CREATE_TOPICS": 1},
		},
		{
			name:     "a failed create topics names no id",
			line:     demo.CreateTopics(sec(0), alice, 1, "orders", orders.ID, 36, "Topic 'orders' already exists."),
			wantKept: []string{"CREATE_TOPICS"},
			wantObs:  map[string]int{"parsed": 1, "kept:CREATE_TOPICS": 1},
		},
		{
			name:     "delete topics marks the id deleted",
			line:     deleteTopicsV6(sec(0), alice, 1, "orders", orders.ID),
			wantIDs:  []*schemas.TopicInfo{{Cluster: cluster, ID: orders.ID, Name: "orders", Deleted: true}},
			wantKept: []string{"DELETE_TOPICS"},
			wantObs:  map[string]int{"parsed": 1, "kept:DELETE_TOPICS": 1},
		},
		{
			name:    "a not audited api without ids is just dropped",
			line:    demo.Line(sec(0), bob, 12, 4, "HEARTBEAT", 3, map[string]any{"groupId": "g"}, map[string]any{"errorCode": 0}),
			wantObs: map[string]int{"parsed": 1, "not-audited:HEARTBEAT": 1},
		},
		{
			// The response cannot be read for ids; the request itself is
			// fine and is handled as usual.
			name:    "an unreadable metadata response yields no ids",
			line:    demo.Line(sec(0), bob, 3, 12, "METADATA", 3, map[string]any{"topics": nil}, map[string]any{"topics": "nope"}),
			wantObs: map[string]int{"parsed": 1, "not-audited:METADATA": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gkt, obs := startDedup(t, tc.audited)
			kept := gkt.NewQueueTracker(string(streams.Requests))
			ids := gkt.NewQueueTracker(string(streams.TopicIDs))
			dead := gkt.NewQueueTracker(string(streams.DeadLetter))

			rawLine(gkt, "", tc.line)

			var gotIDs []*schemas.TopicInfo
			for _, r := range drain(ids) {
				ti, ok := r.value.(*schemas.TopicInfo)
				require.True(t, ok, "topic-ids value is %T", r.value)
				require.Equal(t, key(ti), r.key)
				gotIDs = append(gotIDs, ti)
			}
			require.Equal(t, tc.wantIDs, gotIDs)

			var gotKept []string
			for _, r := range drain(kept) {
				gotKept = append(gotKept, r.value.(*schemas.RequestLog).APIName)
			}
			require.Equal(t, tc.wantKept, gotKept)
			if tc.wantKept == nil {
				require.Empty(t, gkt.GetTableKeys(topology.DedupTable), "dropped before the loop: no state")
			}
			require.Empty(t, drain(dead))
			require.Equal(t, tc.wantObs, obs.counts())
		})
	}
}

// TestDedupGraphAccessDeltas: Produce/Fetch access, kept or suppressed,
// reaches the topic stream keyed by cluster|topic and the principal stream
// keyed by principal, as partial summaries; a denial is reported at once.
func TestDedupGraphAccessDeltas(t *testing.T) {
	gkt, _ := startDedup(t, nil)
	byTopic := gkt.NewQueueTracker(string(streams.AccessByTopic))
	byPrincipal := gkt.NewQueueTracker(string(streams.AccessByPrincipal))

	rawLine(gkt, "", demo.Produce(sec(0), alice, 1, "orders", 0, 100)) // new topic: reported
	rawLine(gkt, "", demo.Produce(sec(1), alice, 2, "orders", 0, 200)) // suppressed, batched
	// Denied: reported at once, with the batch. Its request carries no
	// records: Track counts a denied produce's request bytes as access,
	// which this test does not want to pin.
	rawLine(gkt, "", demo.Produce(sec(2), alice, 3, "orders", 29, 0))
	rawLine(gkt, "", demo.CreateTopics(sec(3), alice, 4, "x", "Yc7mOg7bRMq1wJjVh2N1xQ", 0, ""))

	type got struct {
		key             string
		produce, denied int64
		bytes           int64
		denials         []string
	}
	access := func(key string, a schemas.Access, ds []schemas.Denial) got {
		g := got{key: key, produce: a.Produce, denied: a.Denied, bytes: a.Bytes}
		for _, d := range ds {
			g.denials = append(g.denials, d.Method+" "+d.ErrorType)
		}
		return g
	}
	var topicParts, principalParts []got
	for _, r := range drain(byTopic) {
		part, ok := r.value.(*schemas.TopicSummary)
		require.True(t, ok, "topic access value is %T", r.value)
		require.Equal(t, "orders", part.Topic)
		topicParts = append(topicParts, access(r.key, part.Total, nil))
	}
	for _, r := range drain(byPrincipal) {
		part, ok := r.value.(*schemas.PrincipalSummary)
		require.True(t, ok, "principal access value is %T", r.value)
		require.Equal(t, []string{"TOPIC:orders"}, slices.Collect(maps.Keys(part.Resources)))
		require.Equal(t, alice.ID, part.Connections[0].Connection)
		principalParts = append(principalParts, access(r.key, part.Total, part.Denials))
	}
	topicKey := schemas.TopicSummaryKey(cluster, "orders")
	require.Equal(t, []got{{topicKey, 1, 0, 100, nil}, {topicKey, 2, 1, 200, nil}}, topicParts)
	require.Equal(t, []got{
		{alice.Principal, 1, 0, 100, nil},
		{alice.Principal, 2, 1, 200, []string{"kafka.Produce TOPIC_AUTHORIZATION_FAILED"}},
	}, principalParts)
}

// TestDedupGraphClusterHeader: a shipper that serves several clusters names
// the line's cluster in a header, which overrides the configured one in
// the dedup key, the record and harvested ids.
func TestDedupGraphClusterHeader(t *testing.T) {
	gkt, _ := startDedup(t, nil)
	kept := gkt.NewQueueTracker(string(streams.Requests))
	ids := gkt.NewQueueTracker(string(streams.TopicIDs))
	other := tester.WithHeaders(goka.Headers{schemas.HeaderCluster: []byte("lkc-other")})

	rawLine(gkt, "", demo.Produce(sec(0), alice, 1, "orders", 0, 10), other)
	rawLine(gkt, "", demo.Produce(sec(1), alice, 2, "orders", 0, 10)) // same connection id, configured cluster
	rawLine(gkt, "", demo.CreateTopics(sec(2), alice, 3, "orders", "Yc7mOg7bRMq1wJjVh2N1xQ", 0, ""), other)

	got := drain(kept)
	require.Len(t, got, 3, "the same connection id on two clusters is two connections")
	require.Equal(t, schemas.ConnKey("lkc-other", alice.ID), got[0].key)
	require.Equal(t, "lkc-other", got[0].value.(*schemas.RequestLog).Cluster)
	require.Equal(t, schemas.ConnKey(cluster, alice.ID), got[1].key)
	require.Equal(t, cluster, got[1].value.(*schemas.RequestLog).Cluster)
	require.ElementsMatch(t,
		[]string{schemas.ConnKey("lkc-other", alice.ID), schemas.ConnKey(cluster, alice.ID)},
		gkt.GetTableKeys(topology.DedupTable))

	idRecs := drain(ids)
	require.Len(t, idRecs, 1)
	require.Equal(t, schemas.TopicKey("lkc-other", "Yc7mOg7bRMq1wJjVh2N1xQ"), idRecs[0].key)
	require.Equal(t, "lkc-other", idRecs[0].value.(*schemas.TopicInfo).Cluster)
}

// TestDedupGraphLogTimeZone: log4j timestamps have no zone; the configured
// location reads them, and records carry UTC.
func TestDedupGraphLogTimeZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	gkt := run(t, nil, dedupGraphs(dedup.Settings{Cluster: cluster, Location: berlin, Log: discardLogger()})...)
	kept := gkt.NewQueueTracker(string(streams.Requests))

	// demo.Line writes the wall time of its argument (as UTC), which the
	// broker in Berlin (CEST, UTC+2 in October) means as local time.
	rawLine(gkt, "", demo.Produce(t0, alice, 1, "orders", 0, 10))

	got := drain(kept)
	require.Len(t, got, 1)
	require.Equal(t, t0.Add(-2*time.Hour), got[0].value.(*schemas.RequestLog).Time)
}

func TestCatalogGraph(t *testing.T) {
	const id = "Yc7mOg7bRMq1wJjVh2N1xQ"
	info := func(name string, deleted bool) *schemas.TopicInfo {
		return &schemas.TopicInfo{Cluster: cluster, ID: id, Name: name, Deleted: deleted}
	}
	for _, tc := range []struct {
		name string
		seen []*schemas.TopicInfo
		want *schemas.TopicInfo
	}{
		{name: "created", seen: []*schemas.TopicInfo{info("orders", false)}, want: info("orders", false)},
		{name: "created then deleted", seen: []*schemas.TopicInfo{info("orders", false), info("orders", true)}, want: info("orders", true)},
		{name: "deleted stays deleted", seen: []*schemas.TopicInfo{info("orders", true), info("orders", false)}, want: info("orders", true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gkt := run(t, nil, topology.CatalogGraph(streams))
			for _, s := range tc.seen {
				gkt.Consume(string(streams.TopicIDs), schemas.TopicKey(cluster, id), s)
			}
			require.Equal(t, tc.want, gkt.TableValue(topology.CatalogTable, schemas.TopicKey(cluster, id)))
		})
	}
}

// TestDedupFeedsCatalog runs both groups on one tester: ids the dedup group
// harvests reach the catalog table, and a Metadata response logged before
// a deletion but read after it does not bring the topic back.
func TestDedupFeedsCatalog(t *testing.T) {
	gs := dedupGraphs(dedup.Settings{Cluster: cluster, Location: time.UTC, Log: discardLogger()})
	gkt := run(t, nil, append(gs, topology.CatalogGraph(streams))...)
	key := schemas.TopicKey(cluster, "Yc7mOg7bRMq1wJjVh2N1xQ")

	rawLine(gkt, "", demo.CreateTopics(sec(0), alice, 1, "orders", "Yc7mOg7bRMq1wJjVh2N1xQ", 0, ""))
	require.Equal(t, &schemas.TopicInfo{Cluster: cluster, ID: "Yc7mOg7bRMq1wJjVh2N1xQ", Name: "orders"},
		gkt.TableValue(topology.CatalogTable, key))

	rawLine(gkt, "", deleteTopicsV6(sec(2), alice, 2, "orders", "Yc7mOg7bRMq1wJjVh2N1xQ"))
	rawLine(gkt, "", metadataV12(sec(1), bob, 7))
	require.Equal(t, &schemas.TopicInfo{Cluster: cluster, ID: "Yc7mOg7bRMq1wJjVh2N1xQ", Name: "orders", Deleted: true},
		gkt.TableValue(topology.CatalogTable, key))
	require.Equal(t, &schemas.TopicInfo{Cluster: cluster, ID: "3lP1k2bGQ0mD5Q4o0s5X2g", Name: "payments"},
		gkt.TableValue(topology.CatalogTable, schemas.TopicKey(cluster, "3lP1k2bGQ0mD5Q4o0s5X2g")))
}

func TestDirectoryGraph(t *testing.T) {
	alice := &schemas.Identity{Type: schemas.IdentityUser, ID: "u-abc123", Email: "alice@example.com"}
	aliceSA := &schemas.Identity{Type: schemas.IdentityServiceAccount, ID: "sa-9xyz"}
	type entry struct {
		principal string
		value     []byte // nil is a tombstone
	}
	for _, tc := range []struct {
		name     string
		entries  []entry
		want     map[string]*schemas.Identity // principal -> table value (nil: absent)
		wantDead []string                     // principals dead-lettered, in order
	}{
		{
			name:    "set",
			entries: []entry{{"User:alice", []byte(`{"type":"confluentUser","id":"u-abc123","email":"alice@example.com"}`)}},
			want:    map[string]*schemas.Identity{"User:alice": alice},
		},
		{
			name: "replace",
			entries: []entry{
				{"User:alice", []byte(`{"type":"confluentUser","id":"u-abc123","email":"alice@example.com"}`)},
				{"User:alice", []byte(`{"type":"confluentServiceAccount","id":"sa-9xyz"}`)},
			},
			want: map[string]*schemas.Identity{"User:alice": aliceSA},
		},
		{
			name: "tombstone deletes",
			entries: []entry{
				{"User:alice", []byte(`{"type":"confluentUser","id":"u-abc123","email":"alice@example.com"}`)},
				{"User:bob", []byte(`{"type":"confluentServiceAccount","id":"sa-9xyz"}`)},
				{"User:alice", nil},
			},
			want: map[string]*schemas.Identity{"User:alice": nil, "User:bob": aliceSA},
		},
		{
			name:    "tombstone of an unknown principal is harmless",
			entries: []entry{{"User:nobody", nil}},
			want:    map[string]*schemas.Identity{"User:nobody": nil},
		},
		{
			name: "bad entries are dead-lettered and leave the table alone",
			entries: []entry{
				{"User:alice", []byte(`{"type":"confluentUser","id":"u-abc123","email":"alice@example.com"}`)},
				{"User:alice", []byte(`{"type":"confluentUser","id":""}`)},
				{"User:bob", []byte(`not json`)},
				{"User:carol", []byte(`{"type":"robot","id":"r-1"}`)},
			},
			want:     map[string]*schemas.Identity{"User:alice": alice, "User:bob": nil, "User:carol": nil},
			wantDead: []string{"User:alice", "User:bob", "User:carol"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Run processes tombstones for this group; without NilProcess
			// goka would drop them before the callback.
			gkt := run(t, []goka.ProcessorOption{goka.WithNilHandling(goka.NilProcess)}, topology.DirectoryGraph(streams))
			dead := gkt.NewQueueTracker(string(streams.DeadLetter))
			values := map[string][]byte{}
			offsets := map[string]int64{}
			for i, e := range tc.entries {
				var v any
				if e.value != nil {
					v = e.value
				}
				gkt.Consume(string(streams.Directory), e.principal, v)
				values[e.principal], offsets[e.principal] = e.value, int64(i)
			}

			for p, want := range tc.want {
				got := gkt.TableValue(topology.DirectoryTable, p)
				if want == nil {
					require.Nil(t, got, p)
					continue
				}
				require.Equal(t, want, got, p)
			}

			var gotDead []string
			for _, r := range drain(dead) {
				gotDead = append(gotDead, r.key)
				require.Equal(t, values[r.key], r.value, "the bad entry is kept as written")
				require.Equal(t, directory.ReasonBadEntry, string(r.headers[schemas.HeaderReason]))
				require.Contains(t, string(r.headers[schemas.HeaderError]), fmt.Sprintf("principal %q", r.key))
				require.Equal(t, string(streams.Directory), string(r.headers[schemas.HeaderTopic]))
				require.Equal(t, fmt.Sprint(offsets[r.key]), string(r.headers[schemas.HeaderOffset]))
			}
			require.Equal(t, tc.wantDead, gotDead)
		})
	}
}

// TestPipelineDedupGraph runs the re-key and dedup graphs exactly as Pipeline.Graphs
// wires them (config audit categories, metrics observer, audit records
// built where requests are kept) and reads the pipeline's metrics.
func TestPipelineDedupGraph(t *testing.T) {
	cfg := topology.Defaults()
	cfg.Cluster.ID = cluster
	cfg.Audit.Categories = []string{"describe"}
	p, err := topology.New(cfg, topology.WithLogger(discardLogger()))
	require.NoError(t, err)
	var gs []*goka.GroupGraph
	for _, g := range p.Graphs() {
		if g.Group() == topology.RekeyGroup || g.Group() == topology.DedupGroup {
			gs = append(gs, g)
		}
	}
	require.Len(t, gs, 2, "no audit group without an older layout's requests topic")
	gkt := run(t, nil, gs...)
	records := gkt.NewQueueTracker(cfg.Topics.Audit)

	rawLine(gkt, "", demo.Produce(sec(0), alice, 1, "orders", 0, 10))
	rawLine(gkt, "", demo.Produce(sec(1), alice, 2, "orders", 0, 10))
	rawLine(gkt, "", metadataV12(sec(2), alice, 3)) // audited: describe
	rawLine(gkt, "", demo.Line(sec(3), alice, 12, 4, "HEARTBEAT", 4, map[string]any{}, map[string]any{"errorCode": 0}))
	rawLine(gkt, "", forwarded(demo.Produce(sec(4), alice, 5, "orders", 0, 10)))
	rawLine(gkt, "", "garbage")

	var methods []string
	for _, r := range drain(records) {
		var ev struct {
			Type string
			Data struct{ MethodName string }
		}
		require.NoError(t, json.Unmarshal(r.value.([]byte), &ev))
		require.Equal(t, "io.confluent.kafka.server/request", ev.Type)
		methods = append(methods, ev.Data.MethodName)
	}
	require.Equal(t, []string{"kafka.Produce", "kafka.Metadata"}, methods)

	c := p.Metrics().Snapshot()
	require.Equal(t, int64(6), c.LinesIn)
	require.Equal(t, int64(4), c.Parsed)
	require.Equal(t, int64(1), c.Skipped)
	require.Equal(t, int64(1), c.DeadLetter)
	require.Equal(t, map[string]int64{schemas.ReasonNotRequest: 1}, c.DeadReasons)
	require.Equal(t, int64(2), c.Kept)
	require.Equal(t, int64(1), c.Suppressed)
	require.Equal(t, int64(1), c.NotAudited)
}
