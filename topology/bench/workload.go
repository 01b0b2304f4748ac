package bench

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// Kind is what a generated line is.
type Kind int

// Kinds of generated lines. Produce and Fetch come from the client pool
// and repeat per connection; the admin kinds come from a small pool of
// admin connections; the denied kinds (error 29, an authorization failure)
// come from a pool of rogue connections.
const (
	KindProduce Kind = iota
	KindFetch
	KindCreateTopics
	KindDeleteTopics
	KindAlterConfigs
	KindIncrementalAlterConfigs
	KindCreateAcls
	KindDeleteGroups
	KindDeniedProduce
	KindDeniedFetch
	KindDeniedCreateTopics
	KindDeniedDeleteTopics
	numKinds
)

var kindNames = [numKinds]string{
	"produce", "fetch", "create_topics", "delete_topics", "alter_configs", "incremental_alter_configs",
	"create_acls", "delete_groups", "denied_produce", "denied_fetch", "denied_create_topics", "denied_delete_topics",
}

func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kindNames[k]
}

// Admin reports whether lines of this kind are admin calls (audited every
// time), as opposed to Produce/Fetch (audited once per connection).
func (k Kind) Admin() bool {
	switch k {
	case KindProduce, KindFetch, KindDeniedProduce, KindDeniedFetch:
		return false
	}
	return true
}

// Denied reports whether lines of this kind fail with error 29.
func (k Kind) Denied() bool { return k >= KindDeniedProduce && k < numKinds }

// mix is the share of each kind, in per mille: 80% Produce/Fetch over the
// client pool, 14% admin calls, 6% denials.
var mix = [numKinds]int{
	KindProduce: 400, KindFetch: 400,
	KindCreateTopics: 40, KindDeleteTopics: 20, KindAlterConfigs: 20, KindIncrementalAlterConfigs: 30,
	KindCreateAcls: 20, KindDeleteGroups: 10,
	KindDeniedProduce: 30, KindDeniedFetch: 10, KindDeniedCreateTopics: 10, KindDeniedDeleteTopics: 10,
}

// Pool sizes besides the client pool.
const (
	adminConns = 2000
	rogueConns = 5000
)

// Connection pools; each has its own client address block.
const (
	poolClient = iota
	poolAdmin
	poolRogue
	poolDistinct
)

// Workload describes a generated request log.
type Workload struct {
	// Connections is the size of the client pool that Produce/Fetch lines
	// are spread over (uniformly, so most connections repeat). Default 200k.
	Connections int
	// Distinct makes every line a successful Produce on a new connection:
	// the table-size workload (one table entry per line).
	Distinct bool
	// Partitions of the raw topic; lines go round robin. Default 8.
	Partitions int
	// Seed makes the log reproducible.
	Seed uint64
	// Start is the log time of the first line; Step the time between lines.
	Start time.Time
	Step  time.Duration
}

func (w *Workload) setDefaults() {
	if w.Connections == 0 {
		w.Connections = 200_000
	}
	if w.Partitions == 0 {
		w.Partitions = 8
	}
	if w.Start.IsZero() {
		w.Start = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	}
	if w.Step == 0 {
		w.Step = 100 * time.Microsecond
	}
}

// Line is one generated request-log line and where the shipper sends it.
type Line struct {
	Kind Kind
	// Key is the shipper's record key: the broker that logged the line,
	// never the connection, so kaudit has to re-key.
	Key []byte
	// Partition is the raw-topic partition, round robin.
	Partition int32
	// Value is the log4j line.
	Value []byte
	// First is true for the first Produce/Fetch of a connection: the one
	// kaudit audits. Admin lines are always audited.
	First bool
}

// Counts are the lines generated so far.
type Counts struct {
	Lines int64 `json:"lines"`
	Bytes int64 `json:"bytes"`
	// MinBytes and MaxBytes are the shortest and longest line.
	MinBytes int `json:"min_bytes"`
	MaxBytes int `json:"max_bytes"`
	// ByKind counts lines per Kind.
	ByKind map[string]int64 `json:"by_kind"`
	// Audited counts lines kaudit should pass on: admin calls and the
	// first Produce/Fetch of each connection; the rest are suppressed.
	Audited    int64 `json:"audited"`
	Suppressed int64 `json:"suppressed"`
	// Connections that sent at least one line.
	Connections int64 `json:"connections"`
}

// Generator makes a deterministic request log. It is not safe for
// concurrent use.
type Generator struct {
	w      Workload
	rng    *rand.Rand
	n      int64
	corr   [poolDistinct][]int32 // per connection; 0 means not seen
	pf     [poolDistinct][]bool  // per connection: a Produce/Fetch was sent
	topics int                   // CreateTopics so far, for unique names
	byKind [numKinds]int64
	counts Counts
	// scratch, reused for every line
	c      conn
	id     []byte
	client []byte
	parts  []part
	pick   [1000]Kind
}

// NewGenerator starts a log.
func NewGenerator(w Workload) *Generator {
	w.setDefaults()
	g := &Generator{w: w, rng: rand.New(rand.NewPCG(w.Seed, 0x6b617564697421))}
	g.corr[poolClient] = make([]int32, w.Connections)
	g.corr[poolAdmin] = make([]int32, adminConns)
	g.corr[poolRogue] = make([]int32, rogueConns)
	for p := range g.corr {
		g.pf[p] = make([]bool, len(g.corr[p]))
	}
	i := 0
	for k := range numKinds {
		for range mix[k] {
			g.pick[i] = k
			i++
		}
	}
	return g
}

// Counts returns what has been generated so far.
func (g *Generator) Counts() Counts {
	c := g.counts
	c.ByKind = map[string]int64{}
	for k, n := range g.byKind {
		if n > 0 {
			c.ByKind[Kind(k).String()] = n
		}
	}
	return c
}

// Time is the log time of the next line.
func (g *Generator) Time() time.Time { return g.w.Start.Add(time.Duration(g.n) * g.w.Step) }

// Next appends the next line to buf (which it may reuse) and returns it.
// stamp, if not empty, is put in front of the client id: the latency phase
// sends "bench-<unix nanos>-" to find each line's send time again in the
// audit records it produces.
func (g *Generator) Next(buf, stamp []byte) Line {
	t := g.Time()
	kind := KindProduce
	if !g.w.Distinct {
		kind = g.pick[g.rng.IntN(len(g.pick))]
	}
	var pool, k int
	switch {
	case g.w.Distinct:
		pool, k = poolDistinct, int(g.n)
	case kind == KindProduce || kind == KindFetch:
		pool, k = poolClient, g.rng.IntN(g.w.Connections)
		kind = byParity(k, KindProduce, KindFetch)
	case kind == KindDeniedProduce || kind == KindDeniedFetch:
		pool, k = poolRogue, g.rng.IntN(rogueConns)
		kind = byParity(k, KindDeniedProduce, KindDeniedFetch)
	case kind == KindDeniedCreateTopics || kind == KindDeniedDeleteTopics:
		pool, k = poolRogue, g.rng.IntN(rogueConns)
	default:
		pool, k = poolAdmin, g.rng.IntN(adminConns)
	}
	var corr int32
	first := kind.Admin()
	if pool == poolDistinct {
		corr, first = 1, true
	} else {
		cs := g.corr[pool]
		if cs[k] == 0 {
			g.counts.Connections++
			// Clients start their correlation ids anywhere.
			cs[k] = int32(g.rng.IntN(5000))
		}
		cs[k]++
		corr = cs[k]
		if !kind.Admin() && !g.pf[pool][k] {
			g.pf[pool][k], first = true, true
		}
	}
	if pool == poolDistinct {
		g.counts.Connections++
	}
	g.setConn(pool, k, stamp)
	c := &g.c

	b := buf[:0]
	switch kind {
	case KindProduce, KindDeniedProduce:
		code := 0
		if kind.Denied() {
			code = 29
		}
		b = appendProduce(b, t, c, corr, clientTopic(k), g.randParts(3), code)
	case KindFetch, KindDeniedFetch:
		code := 0
		if kind.Denied() {
			code = 29
		}
		b = appendFetch(b, t, c, corr, clientTopic(k), g.randParts(1), code)
	case KindCreateTopics, KindDeniedCreateTopics:
		g.topics++
		name := "prov." + clientTopic(g.rng.IntN(g.w.Connections)) + "-" + strconv.Itoa(g.topics)
		if kind.Denied() {
			b = appendCreateTopics(b, t, c, corr, name, "", 12, topicConfigs[:2+g.rng.IntN(3)], 29, "Authorization failed.")
		} else {
			b = appendCreateTopics(b, t, c, corr, name, g.topicID(), 6+g.rng.IntN(30), topicConfigs[:2+g.rng.IntN(2)], 0, "")
		}
	case KindDeleteTopics, KindDeniedDeleteTopics:
		code := 0
		if kind.Denied() {
			code = 29
		}
		names := []string{"retired." + clientTopic(g.rng.IntN(g.w.Connections)) + "-archive", "retired." + clientTopic(g.rng.IntN(g.w.Connections)) + "-dlq"}
		b = appendDeleteTopics(b, t, c, corr, names, []string{g.topicID(), g.topicID()}, code)
	case KindAlterConfigs, KindIncrementalAlterConfigs:
		topic := clientTopic(g.rng.IntN(g.w.Connections))
		b = appendAlterConfigs(b, t, c, corr, kind == KindIncrementalAlterConfigs, topic, topicConfigs[:2+g.rng.IntN(4)])
	case KindCreateAcls:
		s := services[g.rng.IntN(len(services))]
		b = appendCreateAcls(b, t, c, corr, clientTopic(g.rng.IntN(g.w.Connections)), s.principal)
	case KindDeleteGroups:
		groups := []string{
			"cg." + services[g.rng.IntN(len(services))].client + "-replay-" + strconv.Itoa(g.rng.IntN(1000)),
			"cg." + services[g.rng.IntN(len(services))].client + "-backfill-" + strconv.Itoa(g.rng.IntN(1000)),
			"cg." + services[g.rng.IntN(len(services))].client + "-canary-" + strconv.Itoa(g.rng.IntN(1000)),
		}
		b = appendDeleteGroups(b, t, c, corr, groups)
	}

	line := Line{Kind: kind, Key: brokerKeys[k%len(brokerKeys)], Partition: int32(g.n % int64(g.w.Partitions)), Value: b, First: first}
	g.n++
	g.byKind[kind]++
	g.counts.Lines++
	g.counts.Bytes += int64(len(b))
	if g.counts.MinBytes == 0 || len(b) < g.counts.MinBytes {
		g.counts.MinBytes = len(b)
	}
	g.counts.MaxBytes = max(g.counts.MaxBytes, len(b))
	if first {
		g.counts.Audited++
	} else {
		g.counts.Suppressed++
	}
	return line
}

// randParts picks 1..n consecutive partitions with record sizes.
func (g *Generator) randParts(n int) []part {
	g.parts = g.parts[:0]
	start := int32(g.rng.IntN(24))
	for i := range 1 + g.rng.IntN(n) {
		g.parts = append(g.parts, part{index: start + int32(i), size: int32(512 + g.rng.IntN(1<<20)), offset: int64(g.n) * 37})
	}
	return g.parts
}

// topicID is a random 22-character base64url topic id.
func (g *Generator) topicID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var id [22]byte
	for i := range id {
		id[i] = alphabet[g.rng.IntN(len(alphabet))]
	}
	return string(id[:])
}

// brokers are the three brokers that log requests; their ids key records.
var (
	brokerIPs  = []string{"10.0.0.11", "10.0.0.12", "10.0.0.13"}
	brokerKeys = [][]byte{[]byte("broker-1"), []byte("broker-2"), []byte("broker-3")}
)

// service is one application; client connections are spread over them.
type service struct{ principal, client, topic string }

var services = []service{
	{"User:sa-orders-svc", "orders-producer-eu1", "orders.v3.events"},
	{"User:sa-billing-app", "consumer-billing-ledger", "orders.v3.events"},
	{"User:sa-payments-gw", "payments-gw-producer", "payments.auth.v2"},
	{"User:sa-fraud-scoring", "consumer-fraud-scoring", "payments.auth.v2"},
	{"User:sa-web-tracker", "rdkafka-web-tracker", "clickstream.raw"},
	{"User:sa-analytics-etl", "consumer-analytics-etl", "clickstream.raw"},
	{"User:sa-inventory", "inventory-sync-producer", "inventory.snapshots"},
	{"User:sa-search-indexer", "consumer-search-indexer", "inventory.snapshots"},
	{"User:sa-iot-ingest", "iot-telemetry-ingest", "iot.device-metrics"},
	{"User:sa-alerting", "consumer-alerting-rules", "iot.device-metrics"},
	{"User:sa-cdc-connector", "connector-producer-cdc-pg", "cdc.pg.customers"},
	{"User:sa-crm-sync", "consumer-crm-sync-bridge", "cdc.pg.customers"},
}

var software = [][2]string{
	{"apache-kafka-java", "7.8.1-ccs"},
	{"librdkafka", "2.6.1"},
	{"confluent-kafka-python", "2.6.1-rdkafka-2.6.1"},
	{"apache-kafka-java", "3.8.0"},
}

// topicConfigs are configs CreateTopics and AlterConfigs set.
var topicConfigs = []kv{
	{"cleanup.policy", "delete"},
	{"retention.ms", "604800000"},
	{"min.insync.replicas", "2"},
	{"compression.type", "producer"},
	{"max.message.bytes", "2097152"},
	{"message.timestamp.type", "CreateTime"},
	{"segment.bytes", "536870912"},
}

// clientTopic is the topic connection k writes or reads: one of 20
// sharded topics per service.
func clientTopic(k int) string {
	return topicNames[k%len(services)][(k/len(services))%topicShards]
}

const topicShards = 20

var topicNames = func() [][]string {
	out := make([][]string, len(services))
	for i, s := range services {
		for j := range topicShards {
			out[i] = append(out[i], s.topic+"-shard-"+strconv.Itoa(j))
		}
	}
	return out
}()

// setConn fills g.c for connection k of pool, reusing the scratch buffers.
func (g *Generator) setConn(pool, k int, stamp []byte) {
	broker := k % len(brokerIPs)
	b := g.id[:0]
	b = append(b, brokerIPs[broker]...)
	b = append(b, ":9094-10."...)
	// 10.<pool*16 + k>>16>.<k>>8>.<k> keeps every connection's address distinct.
	b = strconv.AppendInt(b, int64(pool*16+(k>>16)&15), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64((k>>8)&255), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(k&255), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(32768+(k*7919)%28000), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(k), 10) // unique whatever the address
	g.id = b

	cl := append(g.client[:0], stamp...)
	sw := software[k%len(software)]
	switch pool {
	case poolAdmin:
		g.c.principal = admins[k%len(admins)]
		cl = append(cl, "adminclient-terraform-"...)
		cl = strconv.AppendInt(cl, int64(k), 10)
		sw = software[0]
	case poolRogue:
		g.c.principal = rogues[k%len(rogues)]
		cl = append(cl, "rogue-producer-"...)
		cl = strconv.AppendInt(cl, int64(k), 10)
	default:
		s := services[k%len(services)]
		g.c.principal = s.principal
		cl = append(cl, s.client...)
		cl = append(cl, '-')
		cl = strconv.AppendInt(cl, int64(k), 10)
	}
	g.client = cl
	g.c.id, g.c.clientID, g.c.swName, g.c.swVersion = g.id, g.client, sw[0], sw[1]
}

var admins = []string{"User:sa-platform-admin-0", "User:sa-platform-admin-1", "User:sa-platform-admin-2", "User:ops-break-glass"}

var rogues = []string{"User:mallory", "User:contractor-temp-17", "User:sa-decommissioned-batch", "User:legacy-etl"}

// byParity picks by a connection's index, so that a connection always
// produces or always fetches.
func byParity(k int, even, odd Kind) Kind {
	if k%2 == 0 {
		return even
	}
	return odd
}
