package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
	"github.com/kaudit/kaudit/topology/embedded"
)

// The query tests send demo-like traffic and compare the HTTP answers
// with what the traffic implies, computed here from the requests by the
// rules README states (first Produce/Fetch per connection audited, later
// ones counted; admin requests always audited; access summed per
// principal and topic), not by calling kaudit's code.

const (
	codeAuthz  int16 = 29 // TOPIC_AUTHORIZATION_FAILED
	errAuthz         = "TOPIC_AUTHORIZATION_FAILED"
	queryToken       = "q-s3cret-token"
)

// qRequest is one line of traffic, before rendering.
type qRequest struct {
	c     demo.Conn
	at    time.Time
	kind  string // produce, fetch, create, delete, heartbeat
	topic string
	code  int16
	size  int
	corr  int32
}

// traffic builds request-log lines and the answers they imply.
type traffic struct {
	reqs  []qRequest
	corr  map[string]int32
	extra []string // lines that are not requests of a connection: skipped or dead-lettered
}

func newTraffic() *traffic { return &traffic{corr: map[string]int32{}} }

// add appends a request; correlation ids count up per connection, as
// clients number them.
func (tr *traffic) addAccess(c demo.Conn, at time.Time, kind, topic string, code int16, size int) {
	tr.corr[c.ID]++
	tr.reqs = append(tr.reqs, qRequest{c: c, at: at, kind: kind, topic: topic, code: code, size: size, corr: tr.corr[c.ID]})
}

func (r qRequest) line() string {
	switch r.kind {
	case "produce":
		return demo.Produce(r.at, r.c, r.corr, r.topic, r.code, r.size)
	case "fetch":
		return demo.Fetch(r.at, r.c, r.corr, r.topic, r.code, r.size)
	case "create":
		return demo.CreateTopics(r.at, r.c, r.corr, r.topic, "Nw3xxZwVRceQiMGFMmRgCg", r.code, "Authorization failed.")
	case "delete":
		return demo.DeleteTopics(r.at, r.c, r.corr, r.topic, r.code)
	case "heartbeat":
		return demo.Line(r.at, r.c, 12, 4, "HEARTBEAT", r.corr,
			map[string]any{"groupId": "billing", "generationId": 3, "memberId": "m-1", "groupInstanceId": nil},
			map[string]any{"throttleTimeMs": 0, "errorCode": 0})
	}
	panic("unknown request kind " + r.kind)
}

// Principals and connections of the query traffic.
var (
	qOrders1  = conn(300, "User:orders-svc")
	qOrders2  = conn(301, "User:orders-svc")
	qBilling  = conn(302, "User:billing-app")
	qMallory1 = conn(303, "User:mallory")
	qMallory2 = conn(304, "User:mallory")
	qPayments = conn(305, "User:sa-j2z32m")
)

// queryTraffic is demo-like traffic: producers and consumers on orders
// and payments, mallory denied on payroll (Fetch, Produce, CreateTopics,
// DeleteTopics), admin calls, heartbeats (not audited), a controller copy
// of a forwarded request and a garbled line.
//
// Access reports are batched per connection (a new topic or a denial is
// reported at once, the rest within a minute of log time), so every
// connection that produces or fetches ends with one request two minutes
// after its others: that request flushes what is pending, and the tables
// then hold exact totals.
func queryTraffic() *traffic {
	tr := newTraffic()
	base := time.Date(2024, 10, 25, 10, 0, 0, 0, time.UTC)
	at := func(sec, ms int) time.Time {
		return base.Add(time.Duration(sec)*time.Second + time.Duration(ms)*time.Millisecond)
	}
	end := 150 // seconds: the flushing request of each connection

	tr.addAccess(qOrders1, at(0, 0), "create", "orders", 0, 0)
	for i := range 12 {
		tr.addAccess(qOrders1, at(1+i, 10), "produce", "orders", 0, 100+i)
	}
	tr.addAccess(qOrders1, at(end, 10), "produce", "orders", 0, 100)

	for i := range 8 {
		tr.addAccess(qOrders2, at(2+i, 20), "produce", "orders", 0, 250)
	}
	tr.addAccess(qOrders2, at(end, 20), "produce", "orders", 0, 250)

	for i := range 10 {
		tr.addAccess(qBilling, at(3+i, 30), "fetch", "orders", 0, 500)
		if i%4 == 0 {
			tr.addAccess(qBilling, at(3+i, 31), "heartbeat", "", 0, 0)
		}
	}
	for i := range 3 {
		tr.addAccess(qBilling, at(20+i, 30), "fetch", "payments", 0, 40)
	}
	tr.addAccess(qBilling, at(end, 30), "fetch", "orders", 0, 500)

	tr.addAccess(qMallory1, at(5, 40), "fetch", "payroll", codeAuthz, 0)
	tr.addAccess(qMallory1, at(6, 40), "fetch", "payroll", codeAuthz, 0)
	for i := range 3 {
		tr.addAccess(qMallory1, at(7+i, 40), "fetch", "orders", 0, 70)
	}
	tr.addAccess(qMallory1, at(12, 40), "produce", "payroll", codeAuthz, 30)
	tr.addAccess(qMallory1, at(end, 40), "fetch", "orders", 0, 70)

	tr.addAccess(qMallory2, at(13, 50), "create", "payroll-copy", codeAuthz, 0)
	tr.addAccess(qMallory2, at(14, 50), "delete", "payroll", codeAuthz, 0)

	for i := range 5 {
		tr.addAccess(qPayments, at(4+i, 60), "produce", "payments", 0, 64)
	}
	for i := range 2 {
		tr.addAccess(qPayments, at(15+i, 60), "fetch", "payments", 0, 128)
	}
	tr.addAccess(qPayments, at(end, 60), "produce", "payments", 0, 64)

	forwarded := strings.Replace(demo.Produce(at(30, 0), qPayments, 999, "payments", 0, 1), `"isForwarded":false`, `"isForwarded":true`, 1)
	tr.extra = []string{forwarded, "this is not a request log line"}
	return tr
}

// send writes the lines keyed by connection id, so each connection's lines
// stay in order on one raw partition (README: key raw records by
// connection id when the exact first request matters).
func (tr *traffic) send(t *testing.T, c *kgo.Client, topic string) int {
	t.Helper()
	var recs []*kgo.Record
	for _, r := range tr.reqs {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(r.c.ID), Value: []byte(r.line())})
	}
	for i, l := range tr.extra {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("extra-%d", i)), Value: []byte(l)})
	}
	require.NoError(t, c.ProduceSync(context.Background(), recs...).FirstErr())
	return len(recs)
}

// connExpect is what a connection's table entry must say.
type connExpect struct {
	Principal, ClientID, ClientAddress          string
	FirstSeen, LastSeen                         time.Time
	Requests                                    int64
	FirstProduce, FirstFetch                    *schemas.FirstRequest
	SuppressedProduce, SuppressedFetch, SupprBy int64
	Topics                                      []schemas.TopicAccess
}

// expectation is what the traffic implies for the tables and counters.
type expectation struct {
	principals map[string]*schemas.PrincipalSummary
	topics     map[string]*schemas.TopicSummary
	conns      map[string]*connExpect
	parsed     int64
	skipped    int64
	deadLetter map[string]int64
	suppressed map[string]int64 // by API name
	notAudited map[string]int64
	kept       int64 // audited requests = audit records (one resource each)
}

var qMethods = map[string]string{
	"produce": "kafka.Produce", "fetch": "kafka.Fetch", "create": "kafka.CreateTopics", "delete": "kafka.DeleteTopics",
}

func addAccess(a *schemas.Access, b schemas.Access) {
	a.Produce += b.Produce
	a.Fetch += b.Fetch
	a.Admin += b.Admin
	a.Denied += b.Denied
	a.Bytes += b.Bytes
	if a.First.IsZero() || b.First.Before(a.First) {
		a.First = b.First
	}
	if b.Last.After(a.Last) {
		a.Last = b.Last
	}
}

// expect computes the answers from the requests.
func (tr *traffic) expect(cluster string) *expectation {
	e := &expectation{
		principals: map[string]*schemas.PrincipalSummary{}, topics: map[string]*schemas.TopicSummary{},
		conns: map[string]*connExpect{}, skipped: 1, deadLetter: map[string]int64{schemas.ReasonNotRequest: 1},
		suppressed: map[string]int64{}, notAudited: map[string]int64{},
	}
	for _, r := range tr.reqs {
		e.parsed++
		if r.kind == "heartbeat" {
			e.notAudited["HEARTBEAT"]++
			continue
		}
		c := e.conns[r.c.ID]
		if c == nil {
			c = &connExpect{Principal: r.c.Principal, ClientID: r.c.ClientID, ClientAddress: schemas.ClientIP(r.c.ID), FirstSeen: r.at}
			e.conns[r.c.ID] = c
		}
		c.LastSeen = r.at
		c.Requests++
		denied := r.code == codeAuthz
		acc := schemas.Access{First: r.at, Last: r.at}
		if denied {
			acc.Denied = 1
		}
		switch r.kind {
		case "produce", "fetch":
			first, supp, api := &c.FirstProduce, &c.SuppressedProduce, "PRODUCE"
			acc.Produce = 1
			sent := int64(r.size) // Produce: the request's record bytes, denied or not
			if r.kind == "fetch" {
				first, supp, api = &c.FirstFetch, &c.SuppressedFetch, "FETCH"
				acc.Produce, acc.Fetch = 0, 1
				if denied {
					sent = 0 // a refused Fetch returns no records
				}
			}
			if !denied {
				acc.Bytes = int64(r.size)
			}
			if *first == nil {
				*first = &schemas.FirstRequest{Time: r.at, CorrelationID: r.corr, Topics: []string{r.topic}}
				e.kept++
			} else {
				*supp++
				c.SupprBy += sent
				e.suppressed[api]++
			}
			i := len(c.Topics)
			for j := range c.Topics {
				if c.Topics[j].Topic == r.topic {
					i = j
				}
			}
			if i == len(c.Topics) {
				c.Topics = append(c.Topics, schemas.TopicAccess{Topic: r.topic})
			}
			addAccess(&c.Topics[i].Total, acc)
		default: // admin
			acc.Admin = 1
			e.kept++
		}

		p := e.principals[r.c.Principal]
		if p == nil {
			p = &schemas.PrincipalSummary{Principal: r.c.Principal, Resources: map[string]*schemas.Access{}}
			e.principals[r.c.Principal] = p
		}
		addAccess(&p.Total, acc)
		res := "TOPIC:" + r.topic
		if p.Resources[res] == nil {
			p.Resources[res] = &schemas.Access{}
		}
		addAccess(p.Resources[res], acc)
		seen := false
		for i := range p.Connections {
			if sc := &p.Connections[i]; sc.Connection == r.c.ID {
				sc.Last, seen = r.at, true
			}
		}
		if !seen {
			p.Connections = append(p.Connections, schemas.SeenConnection{
				Connection: r.c.ID, ClientID: r.c.ClientID, ClientIP: schemas.ClientIP(r.c.ID), First: r.at, Last: r.at,
			})
		}
		if denied {
			p.Denials = append(p.Denials, schemas.Denial{
				Time: r.at, Method: qMethods[r.kind], ResourceType: "TOPIC", Resource: r.topic, Connection: r.c.ID, ErrorType: errAuthz,
			})
		}

		ts := e.topics[r.topic]
		if ts == nil {
			ts = &schemas.TopicSummary{Cluster: cluster, Topic: r.topic, Principals: map[string]*schemas.Access{}}
			e.topics[r.topic] = ts
		}
		addAccess(&ts.Total, acc)
		if ts.Principals[r.c.Principal] == nil {
			ts.Principals[r.c.Principal] = &schemas.Access{}
		}
		addAccess(ts.Principals[r.c.Principal], acc)
	}
	for _, p := range e.principals {
		normalizePrincipal(p)
	}
	return e
}

// normalizePrincipal orders what the table may hold in any order: its
// connections arrive from two groups (dedup and audit), interleaved.
func normalizePrincipal(p *schemas.PrincipalSummary) {
	if p.Connections == nil {
		p.Connections = []schemas.SeenConnection{}
	}
	if p.Denials == nil {
		p.Denials = []schemas.Denial{}
	}
	sort.Slice(p.Connections, func(i, j int) bool { return p.Connections[i].Connection < p.Connections[j].Connection })
	sort.SliceStable(p.Denials, func(i, j int) bool { return p.Denials[i].Time.Before(p.Denials[j].Time) })
}

// gotConn keeps the fields of a connection's entry that the traffic
// determines (not the raw partition and offset of its first requests).
func gotConn(st *schemas.ConnState) *connExpect {
	strip := func(f *schemas.FirstRequest) *schemas.FirstRequest {
		if f == nil {
			return nil
		}
		return &schemas.FirstRequest{Time: f.Time, CorrelationID: f.CorrelationID, Topics: f.Topics}
	}
	return &connExpect{
		Principal: st.Principal, ClientID: st.ClientID, ClientAddress: st.ClientAddress,
		FirstSeen: st.FirstSeen, LastSeen: st.LastSeen, Requests: st.Requests,
		FirstProduce: strip(st.FirstProduce), FirstFetch: strip(st.FirstFetch),
		SuppressedProduce: st.SuppressedProduce, SuppressedFetch: st.SuppressedFetch, SupprBy: st.SuppressedBytes,
		Topics: slices.Clip(st.Topics),
	}
}

// apiAnswer is the lookup envelope with the value kept raw.
type apiAnswer struct {
	Table     string             `json:"table"`
	Key       string             `json:"key"`
	Value     json.RawMessage    `json:"value"`
	Error     string             `json:"error"`
	Staleness topology.Staleness `json:"staleness"`
}

// apiGet GETs path with the token ("" for none) and returns the status and body.
func apiGet(t *testing.T, p *topology.Pipeline, path, token string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+p.HTTPAddr()+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// No redirects: / must answer with its own redirect.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, body
}

// lookup GETs one entry and decodes its value into v; the status is returned.
func apiLookup(t *testing.T, p *topology.Pipeline, table, id, token string, v any) (int, apiAnswer) {
	t.Helper()
	code, _, body := apiGet(t, p, "/v1/"+table+"/"+url.PathEscape(id), token)
	var a apiAnswer
	require.NoError(t, json.Unmarshal(body, &a), string(body))
	if code == http.StatusOK && v != nil {
		require.NoError(t, json.Unmarshal(a.Value, v))
	}
	return code, a
}

func principalAnswer(t *testing.T, p *topology.Pipeline, name, token string) (*schemas.PrincipalSummary, apiAnswer) {
	var got schemas.PrincipalSummary
	code, a := apiLookup(t, p, "principals", name, token, &got)
	if code != http.StatusOK {
		return nil, a
	}
	normalizePrincipal(&got)
	return &got, a
}

// eventually polls get until it equals want, then asserts equality, so a
// timeout shows the difference.
func eventuallyEqual[T any](t *testing.T, want T, get func() T, msg string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var got T
	for time.Now().Before(deadline) {
		got = get()
		if equalJSON(want, got) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.Equal(t, want, got, msg)
}

func equalJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// waitTables waits until every principal, topic and connection answer
// equals what the traffic implies, and the audit records are all out.
// sendQueryTraffic sends queryTraffic to p's raw topic and waits until
// p's tables answer for it; it returns the lines sent and what they imply.
func sendQueryTraffic(t *testing.T, b *embedded.Broker, p *topology.Pipeline, cfg topology.Config) (int, *expectation) {
	t.Helper()
	tr := queryTraffic()
	lines := tr.send(t, newClient(t, b), cfg.Topics.Raw)
	e := tr.expect(cfg.Cluster.ID)
	waitTables(t, p, e, queryToken, cfg.Topics.Audit)
	return lines, e
}

func waitTables(t *testing.T, p *topology.Pipeline, e *expectation, token, audit string) {
	t.Helper()
	for name, want := range e.principals {
		eventuallyEqual(t, want, func() *schemas.PrincipalSummary { got, _ := principalAnswer(t, p, name, token); return got }, "principal "+name)
	}
	for name, want := range e.topics {
		eventuallyEqual(t, want, func() *schemas.TopicSummary {
			var got schemas.TopicSummary
			if code, _ := apiLookup(t, p, "topics", name, token, &got); code != http.StatusOK {
				return nil
			}
			return &got
		}, "topic "+name)
	}
	for id, want := range e.conns {
		eventuallyEqual(t, want, func() *connExpect {
			var st schemas.ConnState
			if code, _ := apiLookup(t, p, "connections", id, token, &st); code != http.StatusOK {
				return nil
			}
			return gotConn(&st)
		}, "connection "+id)
	}
	eventuallyEqual(t, e.kept, func() int64 { return p.Metrics().Snapshot().RecordsOut[audit] }, "audit records out")
}

// TestQueryAnswersMatchTraffic is the acceptance test for the
// API: after demo-like traffic, the answers for principals, topics and
// connections equal what the traffic implies; lists, 404s, the bearer
// token, /metrics and the CLI are checked against the same traffic.
func TestQueryAnswersMatchTraffic(t *testing.T) {
	skipShort(t)
	b := startBroker(t)
	cfg := httpConfig(b)
	cfg.HTTPToken = queryToken
	cfg.HTTPPprof = true
	p := startPipeline(t, cfg)
	waitReady(t, p)
	lines, e := sendQueryTraffic(t, b, p, cfg)

	t.Run("principal", func(t *testing.T) {
		got, a := principalAnswer(t, p, "User:mallory", queryToken)
		require.Equal(t, "principals", a.Table)
		require.Equal(t, "User:mallory", a.Key)
		require.Equal(t, topology.Staleness{Recovered: true, Lag: 0}, a.Staleness)
		require.Equal(t, e.principals["User:mallory"], got)
		// Spelled out, for the reader: what mallory did.
		require.Equal(t, schemas.Access{Fetch: 6, Produce: 1, Admin: 2, Denied: 5, Bytes: 4 * 70,
			First: got.Total.First, Last: got.Total.Last}, got.Total)
		require.Len(t, got.Connections, 2)
		require.Len(t, got.Denials, 5)
		require.Equal(t, schemas.Access{Fetch: 2, Produce: 1, Admin: 1, Denied: 4, First: got.Resources["TOPIC:payroll"].First,
			Last: got.Resources["TOPIC:payroll"].Last}, *got.Resources["TOPIC:payroll"])
	})
	t.Run("topic", func(t *testing.T) {
		var got schemas.TopicSummary
		code, a := apiLookup(t, p, "topics", "orders", queryToken, &got)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, cfg.Cluster.ID+"|orders", a.Key)
		require.True(t, a.Staleness.Recovered)
		require.Equal(t, e.topics["orders"], &got)
		// Who produced to orders: the orders service only (22 requests).
		require.EqualValues(t, 22, got.Principals["User:orders-svc"].Produce)
		require.EqualValues(t, 1, got.Principals["User:orders-svc"].Admin)
		require.ElementsMatch(t, []string{"User:orders-svc", "User:billing-app", "User:mallory"}, mapKeys(got.Principals))
	})
	t.Run("connection", func(t *testing.T) {
		var st schemas.ConnState
		code, a := apiLookup(t, p, "connections", qMallory1.ID, queryToken, &st)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, cfg.Cluster.ID+"|"+qMallory1.ID, a.Key)
		require.Equal(t, e.conns[qMallory1.ID], gotConn(&st))
		// The first Fetch (denied, payroll) and first Produce were audited;
		// five more Fetches were suppressed.
		require.EqualValues(t, 5, st.SuppressedFetch)
		require.EqualValues(t, 0, st.SuppressedProduce)
		require.EqualValues(t, 4*70, st.SuppressedBytes)
	})
	t.Run("unknown keys", func(t *testing.T) {
		for table, id := range map[string]string{
			"principals": "User:nobody", "topics": "no-such-topic", "connections": "10.9.9.9:9094-10.9.9.8:1-1",
		} {
			code, a := apiLookup(t, p, table, id, queryToken, nil)
			require.Equal(t, http.StatusNotFound, code, table)
			require.Equal(t, "not found: "+id, a.Error)
		}
	})
	t.Run("lists", func(t *testing.T) {
		var l struct {
			Table, Prefix string
			Items         []struct {
				Key   string          `json:"key"`
				Value json.RawMessage `json:"value"`
			}
			Truncated bool
			Staleness topology.Staleness
		}
		code, _, body := apiGet(t, p, "/v1/topics/?prefix=pay", queryToken)
		require.Equal(t, http.StatusOK, code, string(body))
		require.NoError(t, json.Unmarshal(body, &l))
		var names []string
		for _, it := range l.Items {
			names = append(names, it.Key)
			var ts schemas.TopicSummary
			require.NoError(t, json.Unmarshal(it.Value, &ts))
			require.Equal(t, e.topics[it.Key], &ts)
		}
		require.Equal(t, []string{"payments", "payroll", "payroll-copy"}, names)
		require.False(t, l.Truncated)
		require.True(t, l.Staleness.Recovered)

		code, _, body = apiGet(t, p, "/v1/principals/?prefix=User:", queryToken)
		require.Equal(t, http.StatusOK, code)
		l.Items = nil
		require.NoError(t, json.Unmarshal(body, &l))
		names = nil
		for _, it := range l.Items {
			names = append(names, it.Key)
		}
		require.Equal(t, sortedMapKeys(e.principals), names)

		code, _, body = apiGet(t, p, "/v1/principals/?prefix=User:&limit=2", queryToken)
		require.Equal(t, http.StatusOK, code)
		l.Items = nil
		require.NoError(t, json.Unmarshal(body, &l))
		require.Len(t, l.Items, 2)
		require.True(t, l.Truncated)
	})
	t.Run("token", func(t *testing.T) {
		path := "/v1/principals/" + url.PathEscape("User:mallory")
		for _, tok := range []string{"", "wrong"} {
			code, h, _ := apiGet(t, p, path, tok)
			require.Equal(t, http.StatusUnauthorized, code, "token %q", tok)
			require.Equal(t, `Bearer realm="kaudit"`, h.Get("WWW-Authenticate"))
			code, _, _ = apiGet(t, p, "/metrics", tok)
			require.Equal(t, http.StatusUnauthorized, code, "/metrics with token %q", tok)
			code, _, _ = apiGet(t, p, "/v1/stats", tok)
			require.Equal(t, http.StatusUnauthorized, code, "/v1/stats with token %q", tok)
			code, _, _ = apiGet(t, p, "/debug/pprof/", tok)
			require.Equal(t, http.StatusUnauthorized, code, "/debug/pprof/ with token %q", tok)
		}
		code, _, body := apiGet(t, p, "/debug/pprof/goroutine?debug=1", queryToken)
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, string(body), "goroutine profile: total")
		// Probes and the page's files stay open; the page holds no data.
		for _, path := range []string{"/healthz", "/readyz", "/ui/", "/ui/app.js"} {
			code, _, _ := apiGet(t, p, path, "")
			require.Equal(t, http.StatusOK, code, path)
		}
		code, h, _ := apiGet(t, p, "/", "")
		require.Equal(t, http.StatusFound, code)
		require.Equal(t, "/ui/", h.Get("Location"))

		code, _, body = apiGet(t, p, "/v1/stats", queryToken)
		require.Equal(t, http.StatusOK, code)
		var st topology.Stats
		require.NoError(t, json.Unmarshal(body, &st))
		require.True(t, st.Ready)
		require.Equal(t, map[string]int64{cfg.Topics.Audit: e.kept}, st.Counts.RecordsOut)
		var recent int64
		for _, m := range st.Recent {
			recent += m.Counts[cfg.Topics.Audit]
		}
		require.Equal(t, e.kept, recent, "recent minutes add up to the records written")
	})
	t.Run("metrics", func(t *testing.T) {
		requireMetrics(t, p, e, lines, cfg.Topics.Audit)
	})
	t.Run("cli", func(t *testing.T) {
		testQueryCLI(t, p, e)
	})
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sortedMapKeys[V any](m map[string]V) []string {
	out := mapKeys(m)
	sort.Strings(out)
	return out
}

// requireMetrics parses /metrics with Prometheus' own text parser and
// checks the counters against the traffic.
func requireMetrics(t *testing.T, p *topology.Pipeline, e *expectation, lines int, audit string) {
	t.Helper()
	code, h, body := apiGet(t, p, "/metrics", queryToken)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, h.Get("Content-Type"), "text/plain")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)

	// values returns a family's samples as label value (of label) -> value.
	values := func(name, label string, typ dto.MetricType) map[string]int64 {
		mf := mfs[name]
		require.NotNil(t, mf, "metric %s missing", name)
		require.Equal(t, typ, mf.GetType(), name)
		out := map[string]int64{}
		for _, m := range mf.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					key = l.GetValue()
				}
			}
			switch typ {
			case dto.MetricType_COUNTER:
				out[key] += int64(m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				out[key] += int64(m.GetGauge().GetValue())
			}
		}
		return out
	}
	counter := dto.MetricType_COUNTER
	require.Equal(t, map[string]int64{"parsed": e.parsed, "skipped": e.skipped, "dead_letter": 1},
		values("kaudit_lines_in_total", "outcome", counter))
	require.EqualValues(t, lines, e.parsed+e.skipped+1)
	require.Equal(t, e.suppressed, values("kaudit_suppressed_total", "api", counter))
	// Repeats of a connection whose first this instance looped are counted
	// on the input side, a subset of the suppressed.
	batched := values("kaudit_batched_total", "api", counter)
	require.NotEmpty(t, batched)
	total := int64(0)
	for api, n := range batched {
		require.LessOrEqual(t, n, e.suppressed[api], api)
		total += n
	}
	// The summaries above include every batch, so the owners applied them all.
	require.Equal(t, map[string]int64{"": total}, values("kaudit_batched_applied_total", "", counter))
	require.Equal(t, map[string]int64{audit: e.kept}, values("kaudit_records_out_total", "topic", counter))
	require.Equal(t, e.deadLetter, values("kaudit_dead_letter_total", "reason", counter))
	require.Equal(t, e.notAudited, values("kaudit_not_audited_total", "api", counter))
	sum := func(m map[string]int64) (n int64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	require.Equal(t, e.kept, sum(values("kaudit_kept_total", "api", counter)))
	require.Equal(t, e.kept, sum(values("kaudit_audit_requests_total", "api", counter)))
	// Every table view recovered; rebalances and recovery time are there.
	require.Equal(t, map[string]int64{string(topology.DedupTable): 1, string(topology.TopicsTable): 1, string(topology.PrincipalsTable): 1},
		values("kaudit_view_recovered", "table", dto.MetricType_GAUGE))
	require.NotEmpty(t, values("kaudit_rebalances_total", "group", counter))
	require.NotEmpty(t, values("kaudit_recovery_seconds", "component", dto.MetricType_GAUGE))
	require.NotNil(t, mfs["kaudit_consumer_lag"])
	require.NotNil(t, mfs["process_resident_memory_bytes"], "the dashboard graphs RSS")
}

// kauditCLI builds the kaudit binary into the test's temporary directory.
func kauditCLI(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kaudit")
	out, err := exec.Command("go", "build", "-o", path, "../cmd/kaudit").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return path
}

// runCLI runs `kaudit query ...` with only the given KAUDIT_ variables.
func runCLI(t *testing.T, bin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"query"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KAUDIT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return stdout.String(), stderr.String(), code
}

// testQueryCLI runs `kaudit query` against the pipeline: tables, JSON,
// lists, and the failures (404, 401, connection refused).
func testQueryCLI(t *testing.T, p *topology.Pipeline, e *expectation) {
	bin := kauditCLI(t)
	server := "--server=http://" + p.HTTPAddr()
	token := "--token=" + queryToken
	q := regexp.QuoteMeta

	out, errOut, code := runCLI(t, bin, nil, "principal", "User:mallory", server, token)
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `(?m)^principal\s+User:mallory$`, out)
	require.Regexp(t, `(?m)^view\s+current \(recovered, lag 0\)$`, out)
	require.Regexp(t, `(?m)^total\s+1 produce, 6 fetch, 2 admin, 5 denied, 280 bytes$`, out)
	require.Regexp(t, `(?m)^TOPIC:payroll\s+1\s+2\s+1\s+4\s+0\s`, out)
	require.Regexp(t, `(?m)^TOPIC:orders\s+0\s+4\s+0\s+0\s+280\s`, out)
	require.Regexp(t, `(?m)^2024-10-25T10:00:05.040Z\s+kafka.Fetch\s+TOPIC:payroll\s+`+q(qMallory1.ID)+`\s+TOPIC_AUTHORIZATION_FAILED$`, out)
	require.Regexp(t, `(?m)^2024-10-25T10:00:14.050Z\s+kafka.DeleteTopics\s+TOPIC:payroll\s+`+q(qMallory2.ID)+`\s+TOPIC_AUTHORIZATION_FAILED$`, out)
	require.Equal(t, 5, strings.Count(out, "TOPIC_AUTHORIZATION_FAILED"))

	// Flags after the key, the token from the environment, JSON out.
	out, errOut, code = runCLI(t, bin, []string{"KAUDIT_HTTP_TOKEN=" + queryToken}, "connection", qMallory1.ID, server, "--json")
	require.Equal(t, 0, code, errOut)
	var a apiAnswer
	require.NoError(t, json.Unmarshal([]byte(out), &a))
	var st schemas.ConnState
	require.NoError(t, json.Unmarshal(a.Value, &st))
	require.Equal(t, e.conns[qMallory1.ID], gotConn(&st))

	out, errOut, code = runCLI(t, bin, nil, "connection", qMallory1.ID, server, token)
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `(?m)^suppressed\s+0 produce, 5 fetch, 280 bytes$`, out)
	require.Regexp(t, `(?m)^payroll\s+1\s+2\s+3\s+0\s`, out)

	out, errOut, code = runCLI(t, bin, nil, "topic", "payments", server, token)
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `(?m)^User:sa-j2z32m\s+6\s+2\s+0\s+0\s+640\s`, out)
	require.Regexp(t, `(?m)^User:billing-app\s+0\s+3\s+0\s+0\s+120\s`, out)

	out, errOut, code = runCLI(t, bin, nil, "topics", "--prefix", "pay", server, token)
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `(?m)^payments\s+2\s+6\s+5\s+0\s+0\s+760\s`, out)
	require.Regexp(t, `(?m)^payroll-copy\s+1\s+0\s+0\s+1\s+1\s+0\s`, out)
	require.Contains(t, out, "3 topics, view current")

	out, errOut, code = runCLI(t, bin, nil, "principals", server, token, "--prefix=User:m")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `(?m)^User:mallory\s+3\s+2\s+5\s`, out)

	_, errOut, code = runCLI(t, bin, nil, "principal", "User:nobody", server, token)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `principal "User:nobody" not found on http://`+p.HTTPAddr()+` (HTTP 404)`)

	_, errOut, code = runCLI(t, bin, nil, "principal", "User:mallory", server)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "requires a bearer token (HTTP 401): pass --token or set KAUDIT_HTTP_TOKEN")

	_, errOut, code = runCLI(t, bin, nil, "principal", "User:mallory", server, "--token=nope")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "rejected the bearer token (HTTP 401)")

	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, errOut, code = runCLI(t, bin, []string{"KAUDIT_SERVER=" + closed}, "topic", "orders")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "cannot reach kaudit at http://"+closed+": connection refused")

	_, errOut, code = runCLI(t, bin, nil, "bogus")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "usage: kaudit query")
}

// TestReadyzAfterRecovery: a second instance starts against a broker
// whose tables already hold data. /readyz answers 503 from the moment the
// HTTP server listens until every table is recovered, then 200, and the
// recovered views answer what the first instance built.
func TestReadyzAfterRecovery(t *testing.T) {
	skipShort(t)
	b := startBroker(t)
	cfg := httpConfig(b)
	cfg.HTTPToken = queryToken

	p1, stop1 := runPipeline(t, cfg)
	waitReady(t, p1)
	_, e := sendQueryTraffic(t, b, p1, cfg)
	stop1()

	p2, stop2 := runPipeline(t, cfg)
	defer stop2()
	type probe struct {
		code int
		body string
	}
	var probes []probe
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		code, _, body := apiGet(t, p2, "/readyz", "")
		probes = append(probes, probe{code, strings.TrimSpace(string(body))})
		if code == http.StatusOK {
			break
		}
		hc, _, _ := apiGet(t, p2, "/healthz", "")
		require.Equal(t, http.StatusOK, hc, "/healthz is up while recovering")
		pc, _, _ := apiGet(t, p2, "/debug/pprof/", queryToken)
		require.Equal(t, http.StatusNotFound, pc, "profiles are off by default")
		time.Sleep(20 * time.Millisecond)
	}
	require.GreaterOrEqual(t, len(probes), 2, "readyz must not be ready as soon as the server listens: %v", probes)
	first, last := probes[0], probes[len(probes)-1]
	require.Equal(t, http.StatusServiceUnavailable, first.code)
	require.JSONEq(t, `{"status":"recovering"}`, first.body)
	require.Equal(t, http.StatusOK, last.code, "never ready: %v", last)
	require.JSONEq(t, `{"status":"ready"}`, last.body)
	for _, pr := range probes[:len(probes)-1] {
		require.Equal(t, http.StatusServiceUnavailable, pr.code)
	}
	t.Logf("/readyz: %d probes answered 503 before 200", len(probes)-1)
	require.True(t, p2.Ready())
	for range 5 {
		code, _, _ := apiGet(t, p2, "/readyz", "")
		require.Equal(t, http.StatusOK, code, "stays ready")
	}

	// The views recovered the tables: same answers, and nothing was read
	// from the raw topic again.
	got, a := principalAnswer(t, p2, "User:mallory", queryToken)
	require.Equal(t, e.principals["User:mallory"], got)
	require.True(t, a.Staleness.Recovered)
	var ts schemas.TopicSummary
	code, _ := apiLookup(t, p2, "topics", "orders", queryToken, &ts)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, e.topics["orders"], &ts)
	var st schemas.ConnState
	code, _ = apiLookup(t, p2, "connections", qBilling.ID, queryToken, &st)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, e.conns[qBilling.ID], gotConn(&st))
	require.Zero(t, p2.Metrics().Snapshot().LinesIn, "the second instance read no raw line")
}

// TestMeasureViewMemory measures what answering on every instance costs:
// each instance holds a full view of each queried table. It runs N
// connections (one Produce and one Fetch each) through a pipeline, then
// opens one more view of the connections table and reports the heap it
// takes once recovered, per entry, with goka's in-memory storage
// and with LevelDB (state_dir), whose copy is on disk. It is slow, so it
// runs only when KAUDIT_MEASURE_VIEWS lists the sizes, e.g.
//
//	KAUDIT_MEASURE_VIEWS=20000,50000,100000 go test -run TestMeasureViewMemory -v -timeout 60m ./e2e/
//
// README "Query" quotes its numbers.
func TestMeasureViewMemory(t *testing.T) {
	sizes := os.Getenv("KAUDIT_MEASURE_VIEWS")
	if sizes == "" {
		t.Skip("set KAUDIT_MEASURE_VIEWS=20000,50000,100000 to measure the memory of the query views")
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		require.NoError(t, err)
		t.Run(strconv.Itoa(n), func(t *testing.T) { measureViews(t, n) })
	}
}

func measureViews(t *testing.T, n int) {
	b := startBroker(t)
	cfg := topology.Defaults()
	cfg.Brokers = b.Addrs()
	p, stop := runPipeline(t, cfg)
	waitReady(t, p)

	start := time.Now()
	cl := newClient(t, b)
	base := time.Date(2024, 10, 25, 10, 0, 0, 0, time.UTC)
	const batch = 5000
	for lo := 0; lo < n; lo += batch {
		var recs []*kgo.Record
		for i := lo; i < min(lo+batch, n); i++ {
			c := demo.Conn{
				ID:        demo.ConnID(fmt.Sprintf("10.0.0.%d", 11+i%3), 9094, fmt.Sprintf("10.%d.%d.%d", 1+i/65536, i/256%256, i%256), 30000+i%30000, i),
				Principal: fmt.Sprintf("User:app-%d", i%200), ClientID: fmt.Sprintf("client-%d", i%1000), Software: "apache-kafka-java/3.8.0",
			}
			at := base.Add(time.Duration(i) * time.Millisecond)
			topic := fmt.Sprintf("topic-%d", i%50)
			recs = append(recs,
				&kgo.Record{Topic: cfg.Topics.Raw, Key: []byte(c.ID), Value: []byte(demo.Produce(at, c, 1, topic, 0, 1000))},
				&kgo.Record{Topic: cfg.Topics.Raw, Key: []byte(c.ID), Value: []byte(demo.Fetch(at, c, 2, topic, 0, 1000))})
		}
		require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
	}
	polls, stable := 0, 0
	var last topology.Counts
	require.Eventually(t, func() bool {
		c := p.Metrics().Snapshot()
		if polls++; polls%30 == 0 {
			t.Logf("N=%d: %d lines in, %d records out after %s", n, c.LinesIn, c.RecordsOut[cfg.Topics.Audit], time.Since(start).Round(time.Second))
		}
		// At least, then still for 15s: under load a rebalance re-reads
		// uncommitted lines, so the counts can pass 2n before the tables
		// are complete.
		if c.LinesIn >= int64(2*n) && c.RecordsOut[cfg.Topics.Audit] >= int64(2*n) &&
			c.LinesIn == last.LinesIn && c.Kept == last.Kept && c.Suppressed == last.Suppressed {
			stable++
		} else {
			stable = 0
		}
		last = c
		return stable >= 15
	}, 30*time.Minute, time.Second, "pipeline did not drain")
	t.Logf("N=%d: %d lines through the pipeline in %s", n, 2*n, time.Since(start).Round(time.Second))
	// Only the broker and the measured views run from here on; stopping
	// flushes what the groups still had to write. Every view below must
	// hold all n connections.
	stop()

	// The storage alone: the table's entries, as a view's in-memory
	// storage holds them (goka's storage.NewMemory, a map of encoded
	// values), measured without Kafka clients in the way.
	_, _, closeView := openView(t, cfg, "memory", nil) // warm up
	closeView()
	grown := storageHeap(t, cfg)
	t.Logf("N=%d in-memory storage of %s alone: heap +%.1f MiB, %.0f B/entry", n, topology.DedupTable,
		float64(grown)/(1<<20), float64(grown)/float64(n))

	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	for _, mode := range []string{"memory", "memory-copy", "leveldb"} {
		heap0, rss0 := memNow()
		entries, encoded, closeView := openView(t, cfg, mode, nil)
		heap1, rss1 := memNow()
		disk := closeView()
		heap2, _ := memNow()
		require.Equal(t, n, entries)
		open, freed := int64(heap1)-int64(heap0), int64(heap1)-int64(heap2)
		t.Logf("N=%d %s view of %s: encoded key+value %.0f B/entry; heap +%.1f MiB once recovered (%.0f B/entry), "+
			"%.1f MiB freed when closed (%.0f B/entry); RSS +%.1f MiB; disk %.1f MiB",
			n, mode, topology.DedupTable, float64(encoded)/float64(n), mib(open), float64(open)/float64(n),
			mib(freed), float64(freed)/float64(n), mib(int64(rss1)-int64(rss0)), mib(disk))
	}
}

// openView opens and recovers one extra view of the connections table,
// counts its entries and their encoded size, copies them into copyTo
// unless it is nil, and returns a func that stops it and returns the
// bytes its storage left on disk. mode is the view's storage: memory
// (goka's), memory-copy (the same, copying each value it stores, as
// kaudit's own in-memory store does) or leveldb (goka's, with a state dir).
func openView(t *testing.T, cfg topology.Config, mode string, copyTo interface{ Set(string, []byte) error }) (int, int64, func() int64) {
	t.Helper()
	var mu sync.Mutex
	var closers []io.Closer
	track := func(c io.Closer) {
		mu.Lock()
		defer mu.Unlock()
		closers = append(closers, c)
	}
	inner, dir := storage.MemoryBuilder(), ""
	switch mode {
	case "memory-copy":
		inner = func(string, int32) (storage.Storage, error) { return &copyValues{storage.NewMemory()}, nil }
	case "leveldb":
		dir = t.TempDir()
		inner = storage.DefaultBuilder(dir)
	}
	// Close every storage once: goka closes those of recovered partitions,
	// and LevelDB panics on a second close.
	sb := func(topic string, partition int32) (storage.Storage, error) {
		st, err := inner(topic, partition)
		if err != nil {
			return nil, err
		}
		once := &closeOnce{Storage: st}
		track(once)
		return once, nil
	}
	v, err := goka.NewView(cfg.Brokers, topology.DedupTable, new(schemas.ConnStateCodec),
		goka.WithViewStorageBuilder(sb),
		goka.WithViewConsumerSaramaBuilder(func(brokers []string, clientID string) (sarama.Consumer, error) {
			c, err := sarama.NewConsumer(brokers, cfg.SaramaConfig())
			if err == nil {
				track(c)
			}
			return c, err
		}),
		goka.WithViewTopicManagerBuilder(func(brokers []string) (goka.TopicManager, error) {
			tmc := goka.NewTopicManagerConfig()
			tmc.NoCreate = true
			tm, err := goka.NewTopicManager(brokers, cfg.SaramaConfig(), tmc)
			if err == nil {
				track(tm)
			}
			return tm, err
		}),
		goka.WithViewLogger(goka.DefaultLogger()),
	)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	select {
	case <-v.WaitRunning():
	case err := <-done:
		t.Fatalf("view stopped: %v", err)
	}
	it, err := v.Iterator()
	require.NoError(t, err)
	entries, size := 0, int64(0)
	codec := new(schemas.ConnStateCodec)
	for it.Next() {
		val, err := it.Value()
		require.NoError(t, err)
		raw, err := codec.Encode(val)
		require.NoError(t, err)
		entries++
		size += int64(len(it.Key()) + len(raw))
		if copyTo != nil {
			require.NoError(t, copyTo.Set(it.Key(), raw))
		}
	}
	it.Release()
	return entries, size, func() int64 {
		disk := int64(0)
		if dir != "" {
			disk = dirSize(t, dir)
		}
		cancel()
		require.NoError(t, <-done)
		for _, c := range closers {
			_ = c.Close() //nolint:errcheck // goka may have closed it already
		}
		if dir != "" {
			// A closed LevelDB's pool drainer exits up to 1s later.
			time.Sleep(1500 * time.Millisecond)
		}
		return disk
	}
}

// memNow returns the live heap after a GC and the process RSS.
func memNow() (uint64, uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var rss uint64
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseUint(f[1], 10, 64) //nolint:errcheck // best effort
				rss = kb << 10
			}
		}
	}
	return ms.HeapAlloc, rss
}

func dirSize(t *testing.T, dir string) int64 {
	var n int64
	require.NoError(t, filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	}))
	return n
}

// storageHeap copies the connections table into in-memory storages, one
// per partition as a view has them, and returns the heap they take.
// (goka's memory storage keeps a sorted key slice and sorts it again on
// every new key, so one storage for the whole table would be quadratic.)
func storageHeap(t *testing.T, cfg topology.Config) int64 {
	parts := make([]storage.Storage, cfg.Topics.Partitions)
	for i := range parts {
		parts[i] = storage.NewMemory()
	}
	heap0, _ := memNow()
	_, _, closeView := openView(t, cfg, "memory", partitioned(parts))
	closeView()
	heap1, _ := memNow()
	runtime.KeepAlive(parts)
	return int64(heap1) - int64(heap0)
}

// partitioned spreads Set calls over storages by goka's partitioner.
type partitioned []storage.Storage

func (p partitioned) Set(key string, value []byte) error {
	h := goka.DefaultHasher()()
	if _, err := h.Write([]byte(key)); err != nil {
		return err
	}
	i := int32(h.Sum32()) % int32(len(p))
	if i < 0 {
		i = -i
	}
	return p[i].Set(key, value)
}

// copyValues stores a copy of each value. sarama hands out record values
// that share the fetch response's buffer, so a storage that keeps them
// as they are keeps whole fetch responses alive.
type copyValues struct{ storage.Storage }

func (c *copyValues) Set(key string, value []byte) error {
	return c.Storage.Set(key, bytes.Clone(value))
}

// closeOnce makes a storage's Close idempotent.
type closeOnce struct {
	storage.Storage
	once sync.Once
	err  error
}

func (c *closeOnce) Close() error {
	c.once.Do(func() { c.err = c.Storage.Close() })
	return c.err
}
