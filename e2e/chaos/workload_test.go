package chaos

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
)

// Kafka error codes the workload uses for denials.
const (
	codeTopicAuthz   = 29 // TOPIC_AUTHORIZATION_FAILED
	codeClusterAuthz = 31 // CLUSTER_AUTHORIZATION_FAILED
)

// line is one request-log line of the workload and the connection it
// belongs to, which is its Kafka key (as `kaudit ship` keys them).
type line struct {
	conn string
	text string
}

// connPlan is what the workload knows about one connection: enough to
// check the dedup table.
type connPlan struct {
	id           string
	firstProduce int32 // correlation id of its first Produce; 0: none
	firstFetch   int32 // correlation id of its first Fetch; 0: none
	produces     int   // Produce lines
	fetches      int   // Fetch lines
}

// workload is the generated input.
type workload struct {
	lines []line
	conns []*connPlan
}

// genWorkload makes at least minLines lines over at least minConns
// connections, deterministically from seed. Connections overlap in time
// (about 400 are open at once), each one's lines are in correlation-id
// order, and the whole log spans under 30 minutes of log time, so no
// connection idles past the dedup TTL.
func genWorkload(seed uint64, minLines, minConns int) *workload {
	rng := rand.New(rand.NewPCG(seed, 0x6b6175646974))
	brokers := []string{"10.0.0.11", "10.0.0.12", "10.0.0.13"}
	topics := make([]string, 24)
	for i := range topics {
		topics[i] = fmt.Sprintf("svc-%02d.events", i)
	}
	type script struct {
		plan  *connPlan
		conn  demo.Conn
		steps []func(t time.Time) string
	}
	// newScript plans one connection's requests.
	newScript := func(i int) *script {
		broker := brokers[i%len(brokers)]
		clientIP := fmt.Sprintf("10.1.%d.%d", (i/250)%250, i%250+1)
		c := demo.Conn{
			ID:        demo.ConnID(broker, 9094, clientIP, 30000+rng.IntN(30000), i),
			Principal: fmt.Sprintf("User:app-%02d", rng.IntN(40)),
			ClientID:  fmt.Sprintf("client-%d", i%97),
			Software:  "apache-kafka-java/3.8.0",
		}
		if rng.IntN(10) == 0 {
			c.Principal = fmt.Sprintf("User:sa-%05d", rng.IntN(500))
		}
		s := &script{plan: &connPlan{id: c.ID}, conn: c}
		n := 1 + rng.IntN(19) // 10 lines on average
		topic := topics[rng.IntN(len(topics))]
		denied := rng.IntN(20) == 0 // a principal without the ACL
		var kind int
		switch r := rng.IntN(100); {
		case r < 42:
			kind = 0 // producer
		case r < 80:
			kind = 1 // consumer
		case r < 92:
			kind = 2 // both: a stream processor
		default:
			kind = 3 // admin client
		}
		corr := int32(1 + rng.IntN(5))
		for range n {
			corr += int32(1 + rng.IntN(3))
			cr := corr
			code := int16(0)
			if denied {
				code = codeTopicAuthz
			}
			size := 200 + rng.IntN(8000)
			op := kind
			if kind == 2 {
				op = rng.IntN(2)
			}
			if kind != 3 && rng.IntN(40) == 0 {
				op = 3 // the odd admin call from a client
			}
			switch op {
			case 0:
				if s.plan.firstProduce == 0 {
					s.plan.firstProduce = cr
				}
				s.plan.produces++
				s.steps = append(s.steps, func(t time.Time) string { return demo.Produce(t, c, cr, topic, code, size) })
			case 1:
				if s.plan.firstFetch == 0 {
					s.plan.firstFetch = cr
				}
				s.plan.fetches++
				s.steps = append(s.steps, func(t time.Time) string { return demo.Fetch(t, c, cr, topic, code, size) })
			default:
				name := fmt.Sprintf("tmp-%d-%d", i, cr)
				if rng.IntN(3) == 0 {
					code := int16(0)
					if denied || rng.IntN(4) == 0 {
						code = codeTopicAuthz
					}
					s.steps = append(s.steps, func(t time.Time) string { return demo.DeleteTopics(t, c, cr, name, code) })
					continue
				}
				var raw [16]byte
				for j := range raw {
					raw[j] = byte(rng.Uint32())
				}
				topicID := base64.RawURLEncoding.EncodeToString(raw[:])
				code, msg := int16(0), ""
				if denied || rng.IntN(4) == 0 {
					code, msg = codeClusterAuthz, "Cluster authorization failed."
				}
				s.steps = append(s.steps, func(t time.Time) string { return demo.CreateTopics(t, c, cr, name, topicID, code, msg) })
			}
		}
		return s
	}

	w := &workload{}
	// About 400 connections are open at a time; the next one opens when
	// one finishes, so lines of many connections interleave.
	const open = 400
	t := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	var active []*script
	next := 0
	more := func() bool { return len(w.lines)+len(active) < minLines || next < minConns }
	for len(active) > 0 || more() {
		for len(active) < open && more() {
			s := newScript(next)
			next++
			w.conns = append(w.conns, s.plan)
			active = append(active, s)
		}
		k := rng.IntN(len(active))
		s := active[k]
		t = t.Add(time.Duration(1+rng.IntN(5)) * time.Millisecond)
		w.lines = append(w.lines, line{conn: s.conn.ID, text: s.steps[0](t)})
		s.steps = s.steps[1:]
		if len(s.steps) == 0 {
			active[k] = active[len(active)-1]
			active = active[:len(active)-1]
		}
	}
	return w
}

// expectedIDs runs the workload through topology.Convert, the pipeline
// without Kafka, and returns the record id of every record it writes,
// each with what it audits (connection, correlation id, method).
func expectedIDs(w *workload, cfg *topology.Config) (map[string]string, topology.ConvertStats, error) {
	var in strings.Builder
	for _, l := range w.lines {
		in.WriteString(l.text)
		in.WriteByte('\n')
	}
	var out, errOut bytes.Buffer
	st, err := topology.Convert(strings.NewReader(in.String()), &out, &errOut, cfg, false)
	if err != nil {
		return nil, st, err
	}
	if st.Bad > 0 {
		return nil, st, fmt.Errorf("convert: %d bad lines: %s", st.Bad, errOut.String())
	}
	ids := make(map[string]string, st.Records)
	for _, l := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		id, typ, err := recordID(l)
		if err != nil {
			return nil, st, err
		}
		if typ == topology.TypeConfigChange {
			continue
		}
		if ids[id] != "" {
			return nil, st, fmt.Errorf("convert: record id %s twice: the workload repeats a request", id)
		}
		var ev struct {
			Data struct {
				Method string `json:"methodName"`
				Meta   struct {
					Connection string   `json:"connectionId"`
					Request    []string `json:"requestId"`
				} `json:"requestMetadata"`
			} `json:"data"`
		}
		if err := json.Unmarshal(l, &ev); err != nil {
			return nil, st, err
		}
		ids[id] = fmt.Sprintf("%s corr %v %s", ev.Data.Meta.Connection, ev.Data.Meta.Request, ev.Data.Method)
	}
	return ids, st, nil
}

// recordID reads the id and type of a structured CloudEvent.
func recordID(b []byte) (id, typ string, err error) {
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		return "", "", fmt.Errorf("record %.80q: %w", b, err)
	}
	if ev.ID == "" {
		return "", "", fmt.Errorf("record %.80q has no id", b)
	}
	return ev.ID, ev.Type, nil
}
