package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafka_sarama "github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
)

var t0 = time.Date(2024, 10, 25, 9, 14, 3, 0, time.UTC)

func conn(i int, principal string) demo.Conn {
	return demo.Conn{
		ID:        demo.ConnID(fmt.Sprintf("10.0.0.%d", 11+i%3), 9094, fmt.Sprintf("10.0.%d.%d", 1+i/200, i%200+2), 40000+i, i),
		Principal: principal, ClientID: fmt.Sprintf("client-%d", i), Software: "apache-kafka-java/3.8.0",
	}
}

// TestScaleOutDedupPerConnection runs two instances in one group over 8
// partitions, with input keys that are not connection ids. Every
// connection sends M produce and M fetch requests, so the lines of one
// connection are spread over all partitions; exactly one Produce and one
// Fetch record per connection must come out.
func TestScaleOutDedupPerConnection(t *testing.T) {
	skipShort(t)
	const conns, perConn = 40, 6
	b := startBroker(t)
	cfg := httpConfig(b)
	p1 := startPipeline(t, cfg)
	p2 := startPipeline(t, cfg)
	waitReady(t, p1, p2)

	var lines []string
	for m := range perConn {
		for i := range conns {
			c := conn(i, fmt.Sprintf("User:app-%d", i%5))
			ts := t0.Add(time.Duration(m*conns+i) * time.Millisecond)
			lines = append(lines,
				demo.Produce(ts, c, int32(2*m+1), "orders", 0, 100),
				demo.Fetch(ts, c, int32(2*m+2), "orders", 0, 500))
		}
	}
	produceLines(t, newClient(t, b), cfg.Topics.Raw, lines)

	recs := consumeN(t, b, cfg.Topics.Audit, 2*conns, 3*time.Second)
	perMethod := map[string]map[string]int{}
	for _, r := range recs {
		var ev struct {
			Data schemas.AuditData `json:"data"`
		}
		require.NoError(t, json.Unmarshal(r.Value, &ev))
		m := ev.Data.MethodName
		if perMethod[m] == nil {
			perMethod[m] = map[string]int{}
		}
		perMethod[m][ev.Data.RequestMetadata.ConnectionID]++
	}
	require.Len(t, perMethod["kafka.Produce"], conns, "one Produce record per connection")
	require.Len(t, perMethod["kafka.Fetch"], conns, "one Fetch record per connection")
	for m, byConn := range perMethod {
		for c, n := range byConn {
			require.Equal(t, 1, n, "%s on %s", m, c)
		}
	}
	require.Len(t, recs, 2*conns)

	// Both instances did part of the work.
	c1, c2 := p1.Metrics().Snapshot(), p2.Metrics().Snapshot()
	require.Positive(t, c1.LinesIn, "instance 1 read lines")
	require.Positive(t, c2.LinesIn, "instance 2 read lines")
	require.EqualValues(t, len(lines), c1.LinesIn+c2.LinesIn)
	require.EqualValues(t, len(lines)-2*conns, c1.Suppressed+c2.Suppressed)

	// Any instance answers for any connection: its view has every partition.
	for _, p := range []*topology.Pipeline{p1, p2} {
		var st schemas.ConnState
		c := conn(7, "User:app-2")
		// Repeat requests are counted in batches that reach the table within
		// dedup.batch_age (plus a flush tick), so the counters settle shortly
		// after the records are out.
		require.Eventually(t, func() bool {
			getJSON(t, p, "/v1/connections/"+url.PathEscape(c.ID), http.StatusOK, &st)
			return st.Requests == 2*perConn
		}, 30*time.Second, 200*time.Millisecond, "requests of %s: %d", c.ID, st.Requests)
		require.Equal(t, c.ID, st.Connection)
		require.Equal(t, "User:app-2", st.Principal)
		require.Equal(t, "10.0.1.9", st.ClientAddress)
		require.EqualValues(t, 2*perConn, st.Requests)
		require.EqualValues(t, perConn-1, st.SuppressedProduce)
		require.EqualValues(t, perConn-1, st.SuppressedFetch)
		require.NotNil(t, st.FirstProduce)
		require.NotNil(t, st.FirstFetch)
		getJSON(t, p, "/v1/connections/"+url.PathEscape("10.9.9.9:1-10.9.9.9:2-3"), http.StatusNotFound, nil)
	}
}

// TestBadLinesDeadLetteredAndKcat checks that unusable lines land on the
// dead-letter topic with their reason, that good lines after them are still
// audited, and reads both topics with kcat, an outside client.
func TestBadLinesDeadLetteredAndKcat(t *testing.T) {
	skipShort(t)
	kcat := requireKcat(t)
	b, cfg := startDefault(t)

	admin := conn(1, "User:ops-admin")
	lines := []string{
		"this is not a request log line",
		`[2024-10-25 09:15:02,001] DEBUG Completed request:{"isForwarded":false,"requestHeader":{"requ`,
		`[2024-10-25 09:15:02,001] DEBUG Completed request:RequestHeader(apiKey=PRODUCE, apiVersion=8, clientId=x, correlationId=1) -- {acks=1} (kafka.request.logger)`,
		strings.Replace(demo.Produce(t0, admin, 1, "orders", 0, 1), `"recordsSizeInBytes":1}`, `"recordsSizeInBytes":"1"}`, 1),
		demo.CreateTopics(t0, admin, 2, "orders", "Nw3xxZwVRceQiMGFMmRgCg", 0, ""),
		demo.DeleteTopics(t0, admin, 3, "no-such-topic", 3),
	}
	produceLines(t, newClient(t, b), cfg.Topics.Raw, lines)
	consumeN(t, b, cfg.Topics.DeadLetter, 4, time.Second)
	consumeN(t, b, cfg.Topics.Audit, 2, time.Second)

	out := runKcat(t, kcat, "-C", "-b", b.Bootstrap(), "-t", cfg.Topics.DeadLetter, "-o", "beginning", "-e", "-q",
		"-f", `%h\n`)
	var reasons []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		for _, h := range strings.Split(l, ",") {
			if v, ok := strings.CutPrefix(h, schemas.HeaderReason+"="); ok {
				reasons = append(reasons, v)
			}
		}
	}
	require.ElementsMatch(t, []string{
		schemas.ReasonNotRequest, schemas.ReasonBadJSON, schemas.ReasonLegacyFormat, schemas.ReasonBadBody,
	}, reasons, "kcat headers: %s", out)

	out = runKcat(t, kcat, "-C", "-b", b.Bootstrap(), "-t", cfg.Topics.Audit, "-o", "beginning", "-e", "-q",
		"-f", "%k\t%s\n")
	byMethod := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		key, value, ok := strings.Cut(l, "\t")
		require.True(t, ok, l)
		if strings.Contains(value, topology.TypeConfigChange) {
			continue
		}
		var ev struct {
			Subject string            `json:"subject"`
			Data    schemas.AuditData `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(value), &ev), value)
		require.Equal(t, ev.Subject, key, "records are keyed by subject CRN")
		byMethod[ev.Data.MethodName] = ev.Data.Result.Status
	}
	require.Equal(t, map[string]string{"kafka.CreateTopics": "SUCCESS", "kafka.DeleteTopics": "FAILURE"}, byMethod)
}

// TestLargeLinesPassSmallFetches sends lines whose batches are larger than
// what kaudit's consumers fetch per partition (128 KiB), through every hop:
// an admin line with a 200 KB random error message (the raw, loop and
// requests topics and the audit record all carry it) and a 200 KB line
// that is not a request (dead-lettered). Random text keeps compression
// from shrinking the batches under the fetch size.
func TestLargeLinesPassSmallFetches(t *testing.T) {
	skipShort(t)
	b, cfg := startDefault(t)

	random := func() string {
		buf := make([]byte, 150_000)
		_, err := rand.Read(buf)
		require.NoError(t, err)
		return base64.StdEncoding.EncodeToString(buf) // 200 KB
	}
	message := random()
	admin := conn(1, "User:ops-admin")
	produceLines(t, newClient(t, b), cfg.Topics.Raw, []string{
		demo.CreateTopics(t0, admin, 1, "big", "", 36, message),
		"not a request " + random(),
		demo.CreateTopics(t0, admin, 2, "orders", "Nw3xxZwVRceQiMGFMmRgCg", 0, ""),
	})

	dead := consumeN(t, b, cfg.Topics.DeadLetter, 1, time.Second)
	require.Len(t, dead, 1)
	require.Greater(t, len(dead[0].Value), 200_000)
	require.Equal(t, schemas.ReasonNotRequest, header(dead[0].Headers, schemas.HeaderReason))

	// The two records are on different partitions, so in either order.
	status := map[bool]string{} // whether the record holds the message -> status
	for _, r := range consumeN(t, b, cfg.Topics.Audit, 2, time.Second) {
		var ev struct {
			Data schemas.AuditData `json:"data"`
		}
		require.NoError(t, json.Unmarshal(r.Value, &ev))
		status[strings.Contains(string(r.Value), message)] = ev.Data.Result.Status
	}
	require.Equal(t, map[bool]string{true: "FAILURE", false: "SUCCESS"}, status, "the message arrives whole")
}

// TestSDKGoReceivesCloudEvents reads the audit topic with CloudEvents'
// own Kafka binding, as a consumer of the audit log would.
func TestSDKGoReceivesCloudEvents(t *testing.T) {
	skipShort(t)
	b, cfg := startDefault(t)

	c := conn(3, "User:sa-j2z32m")
	mallory := conn(4, "User:mallory")
	produceLines(t, newClient(t, b), cfg.Topics.Raw, []string{
		demo.Produce(t0, c, 1, "payments", 0, 10),
		demo.Fetch(t0, mallory, 1, "payroll", 29, 0),
	})

	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	consumer, err := kafka_sarama.NewConsumer(b.Addrs(), sc, "sdk-go-reader", cfg.Topics.Audit)
	require.NoError(t, err)
	ce, err := cloudevents.NewClient(consumer)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	got := map[string]cloudevents.Event{}
	rerr := ce.StartReceiver(ctx, func(ev cloudevents.Event) {
		mu.Lock()
		defer mu.Unlock()
		var d schemas.AuditData
		if err := ev.DataAs(&d); err == nil && ev.Type() == schemas.TypeRequest {
			got[d.MethodName] = ev
		}
		if len(got) == 2 {
			cancel()
		}
	})
	require.NoError(t, rerr)
	require.NoError(t, consumer.Close(context.Background()))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 2)

	prod := got["kafka.Produce"]
	require.Equal(t, schemas.TypeRequest, prod.Type())
	require.Equal(t, "crn:///kafka=kafka-cluster/topic=payments", prod.Subject())
	require.Equal(t, t0, prod.Time())
	var pd schemas.AuditData
	require.NoError(t, prod.DataAs(&pd))
	require.NotNil(t, pd.AuthenticationInfo.Principal.ConfluentServiceAccount)
	require.Equal(t, "sa-j2z32m", pd.AuthenticationInfo.Principal.ConfluentServiceAccount.ResourceID)

	var fd schemas.AuditData
	require.NoError(t, got["kafka.Fetch"].DataAs(&fd))
	require.Equal(t, schemas.AuthzDeny, fd.AuthorizationInfo.Result)
	require.Equal(t, schemas.StatusFailure, fd.Result.Status)
}

func waitReady(t *testing.T, ps ...*topology.Pipeline) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, p := range ps {
			if !p.Ready() {
				return false
			}
		}
		return true
	}, 60*time.Second, 100*time.Millisecond, "pipelines not ready")
}

// getJSON fetches path and decodes the answer's value into v.
func getJSON(t *testing.T, p *topology.Pipeline, path string, want int, v any) {
	t.Helper()
	status, err := fetchJSON(p, path, v)
	require.NoError(t, err, path)
	require.Equal(t, want, status, path)
}

// fetchJSON gets path from p's query API and, when it answers 200,
// decodes the answer's value into v (if not nil). It returns the status.
func fetchJSON(p *topology.Pipeline, path string, v any) (int, error) {
	resp, err := http.Get("http://" + p.HTTPAddr() + path)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var a struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return resp.StatusCode, err
	}
	if v != nil && resp.StatusCode == http.StatusOK {
		return resp.StatusCode, json.Unmarshal(a.Value, v)
	}
	return resp.StatusCode, nil
}

func requireKcat(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is required for the e2e tests: apt-get install -y kcat (.ci/run does this)")
	}
	return path
}

func runKcat(t *testing.T, kcat string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kcat, args...).CombinedOutput()
	require.NoError(t, err, "kcat %v: %s", args, out)
	return string(out)
}
