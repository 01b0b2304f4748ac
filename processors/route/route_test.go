package route

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
)

func info(method, category, subject, authz string) schemas.RouteInfo {
	resType, resName := "KAFKA_CLUSTER", ""
	if i := strings.LastIndex(subject, "/topic="); i >= 0 {
		resType, resName = "TOPIC", subject[i+len("/topic="):]
	}
	status := schemas.StatusSuccess
	if authz == schemas.AuthzDeny {
		status = schemas.StatusFailure
	}
	return schemas.RouteInfo{
		Type: schemas.TypeRequest, Method: method, Category: category, Subject: subject,
		Principal: "User:bob", ResourceType: resType, ResourceName: resName, Status: status, Authz: authz,
	}
}

func topicsOf(d Decision) string {
	var ts []string
	for _, t := range d.Targets {
		ts = append(ts, t.Topic)
	}
	if len(ts) == 0 {
		return "-"
	}
	return strings.Join(ts, ",")
}

func mustConfluent(t *testing.T, js string) *ConfluentConfig {
	t.Helper()
	c, err := ParseConfluent([]byte(js))
	require.NoError(t, err)
	return c
}

// TestConfluentPrecedence reproduces each rule of FORMATS.md C.2.
func TestConfluentPrecedence(t *testing.T) {
	const cfg = `{
	  "destinations": {"topics": {"A": {"retention_ms": 1}, "B": {"retention_ms": 1}, "C": {"retention_ms": 1},
	    "D": {"retention_ms": 1}, "E": {"retention_ms": 1}, "F": {"retention_ms": 1}, "G": {"retention_ms": 1}, "DEF": {"retention_ms": 1}, "DENY": {"retention_ms": 1}}},
	  "default_topics": {"allowed": "DEF", "denied": "DENY"},
	  "excluded_principals": ["User:kafka"],
	  "routes": {
	    "crn://mds1/kafka=X/topic=clicks": {"produce": {"allowed": "A", "denied": "A"}},
	    "crn://mds1/kafka=X/topic=*":      {"produce": {"allowed": "B", "denied": "B"}, "management": {"allowed": null, "denied": "G"}},
	    "crn://mds1/kafka=*/topic=clicks": {"produce": {"allowed": "C", "denied": "C"}},
	    "crn://mds1/kafka=*/topic=*":      {"produce": {"allowed": "D", "denied": "D"}},
	    "crn:///kafka=X/topic=clicks":     {"produce": {"allowed": "E", "denied": "E"}},
	    "crn:///kafka=*/topic=*":          {"produce": {"allowed": "F", "denied": "F"}, "consume": {"allowed": "", "denied": "F"}},
	    "crn://mds1/kafka=X/topic=cli*":   {"produce": {"allowed": "G", "denied": "G"}},
	    "crn://mds1/kafka=X/topic=clicks*": {"produce": {"allowed": "E", "denied": "E"}},
	    "crn://mds1/kafka=X":              {"other": {"denied": "G"}}
	  }
	}`
	r, err := New(Config{}, mustConfluent(t, cfg), "audit")
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		in   schemas.RouteInfo
		want string
	}{
		{"most specific literal wins", info("kafka.Produce", "produce", "crn://mds1/kafka=X/topic=clicks", "ALLOW"), "A"},
		{"topic wildcard under literal cluster", info("kafka.Produce", "produce", "crn://mds1/kafka=X/topic=orders", "ALLOW"), "B"},
		{"literal cluster beats literal topic under wildcard cluster", info("kafka.Produce", "produce", "crn://mds1/kafka=X/topic=orders", "DENY"), "B"},
		{"wildcard cluster, literal topic", info("kafka.Produce", "produce", "crn://mds1/kafka=Y/topic=clicks", "ALLOW"), "C"},
		{"wildcard cluster and topic", info("kafka.Produce", "produce", "crn://mds1/kafka=Y/topic=orders", "ALLOW"), "D"},
		{"empty authority matches any authority", info("kafka.Produce", "produce", "crn://other/kafka=X/topic=clicks", "ALLOW"), "E"},
		{"empty authority wildcard", info("kafka.Produce", "produce", "crn://other/kafka=Z/topic=t", "ALLOW"), "F"},
		{"named authority pattern does not match empty-authority CRN", info("kafka.Produce", "produce", "crn:///kafka=Y/topic=orders", "ALLOW"), "F"},
		{"longer prefix beats shorter prefix", info("kafka.Produce", "produce", "crn://mds1/kafka=X/topic=clicks3", "ALLOW"), "E"},
		{"prefix beats star", info("kafka.Produce", "produce", "crn://mds1/kafka=X/topic=clim", "ALLOW"), "G"},
		{"empty string discards", info("kafka.Fetch", "consume", "crn://other/kafka=Z/topic=t", "ALLOW"), "-"},
		{"consume denied to F", info("kafka.Fetch", "consume", "crn://other/kafka=Z/topic=t", "DENY"), "F"},
		{"null allowed falls through to default for management", info("kafka.CreateTopics", "management", "crn://mds1/kafka=X/topic=orders", "ALLOW"), "DEF"},
		{"set denied used for management", info("kafka.CreateTopics", "management", "crn://mds1/kafka=X/topic=orders", "DENY"), "G"},
		{"no fallback to a less specific route", info("kafka.Fetch", "consume", "crn://mds1/kafka=X/topic=orders", "ALLOW"), "-"},
		{"missing category on best route: produce defaults to discard", info("kafka.Produce", "produce", "crn://mds1/kafka=X", "ALLOW"), "-"},
		{"legacy other is management", info("kafka.DeleteAcls", "management", "crn://mds1/kafka=X", "DENY"), "G"},
		{"management with no route: default topics", info("kafka.CreateAcls", "management", "crn://mds9/kafka=Q", "ALLOW"), "DEF"},
		{"management denied with no route: default denied", info("kafka.CreateAcls", "management", "crn://mds9/kafka=Q", "DENY"), "DENY"},
		{"describe with no route: discarded", info("kafka.Metadata", "describe", "crn://mds9/kafka=Q", "ALLOW"), "-"},
		{"different element types do not match", info("kafka.CreateTopics", "management", "crn://mds1/kafka=X/group=g", "DENY"), "DENY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := r.Decide(tc.in)
			require.Equal(t, tc.want, topicsOf(d), "explain: %v", d.Explain)
		})
	}
	t.Run("excluded principals are checked first", func(t *testing.T) {
		in := info("kafka.CreateTopics", "management", "crn://mds1/kafka=X", "DENY")
		in.Principal = "User:kafka"
		require.Equal(t, "-", topicsOf(r.Decide(in)))
	})
}

// TestConfluentSampleConfig uses the annotated reference config of
// Confluent's own router tests (FORMATS.md C.4 example 3) and the outcomes
// C.2 item 5 lists for it.
func TestConfluentSampleConfig(t *testing.T) {
	raw, err := os.ReadFile("testdata/confluent-sample.json")
	require.NoError(t, err)
	c := mustConfluent(t, string(raw))
	r, err := New(Config{StrictTopicNames: true}, c, "unused")
	require.NoError(t, err)
	const cluster = "crn://mds1.example.com/kafka=63REM3VWREiYtMuVxZeplA"
	for _, tc := range []struct {
		name string
		in   schemas.RouteInfo
		want string
	}{
		{"produce allowed on accounting-*: null -> discarded", info("kafka.Produce", "produce", cluster+"/topic=accounting-payroll", "ALLOW"), "-"},
		{"produce denied on accounting-*", info("kafka.Produce", "produce", cluster+"/topic=accounting-payroll", "DENY"), "confluent-audit-log-events_accounting"},
		{"consume on accounting-*: route has no consume -> discarded", info("kafka.FetchConsumer", "consume", cluster+"/topic=accounting-payroll", "ALLOW"), "-"},
		{"create topics allowed: other.allowed unset -> default", info("kafka.CreateTopics", "management", cluster, "ALLOW"), "confluent-audit-log-events_success"},
		{"create topics denied: other.denied", info("kafka.CreateTopics", "management", cluster, "DENY"), "confluent-audit-log-events_cluster"},
		{"clicks produce allowed", info("kafka.Produce", "produce", cluster+"/topic=clicks", "ALLOW"), "confluent-audit-log-events_clicks_produce_allowed"},
		{"clicks consume denied", info("kafka.Fetch", "consume", cluster+"/topic=clicks", "DENY"), "confluent-audit-log-events_clicks_consume_denied"},
		{"other topic produce allowed: empty -> discarded", info("kafka.Produce", "produce", cluster+"/topic=orders", "ALLOW"), "-"},
		{"other topic produce denied: cluster", info("kafka.Produce", "produce", cluster+"/topic=orders", "DENY"), "confluent-audit-log-events_cluster"},
		{"another cluster, management denied", info("kafka.DeleteTopics", "management", "crn://mds1.example.com/kafka=other", "DENY"), "confluent-audit-log-events_cluster"},
		{"another cluster, management allowed: default", info("kafka.DeleteTopics", "management", "crn://mds1.example.com/kafka=other", "ALLOW"), "confluent-audit-log-events_success"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := r.Decide(tc.in)
			require.Equal(t, tc.want, topicsOf(d), "explain: %v", d.Explain)
		})
	}
	for _, p := range []string{"User:Alice", "User:service_account_id", "None:UNKNOWN_USER"} {
		in := info("kafka.CreateTopics", "management", cluster, "DENY")
		in.Principal = p
		require.Equal(t, "-", topicsOf(r.Decide(in)), p)
	}
}

func TestOrderedRoutes(t *testing.T) {
	empty := ""
	cfg := Config{
		UnmatchedTopic: &empty,
		Routes: []OrderedRoute{
			{Name: "denials", Match: Match{Authorization: "DENY"}, Topics: []string{"denied"}},
			{Name: "creates", Match: Match{Method: "kafka.Create*"}, Topics: []string{"admin", "all"}, StopProcessing: true},
			{Name: "payroll", Match: Match{ResourceName: "payroll*", ResourceType: "TOPIC"}, Topics: []string{"audit-payroll"}},
			{Name: "mallory", Match: Match{Principal: "User:mallory"}, Topics: []string{"denied"}},
			{Name: "everything", Match: Match{Method: "kafka.*"}, Topics: []string{"all"}},
		},
		Destinations: map[string]Destination{"denied": {Encoding: EncodingBinary, Key: KeyPrincipal}},
	}
	r, err := New(cfg, nil, "audit")
	require.NoError(t, err)
	require.Equal(t, []string{"admin", "all", "audit-payroll", "denied"}, r.Topics())
	mallory := info("kafka.Produce", "produce", "crn:///kafka=k/topic=payroll", "DENY")
	mallory.Principal = "User:mallory"
	for _, tc := range []struct {
		name string
		in   schemas.RouteInfo
		want string
	}{
		{"fan out, no duplicate topics", mallory, "denied,audit-payroll,all"},
		{"stop_processing ends evaluation", info("kafka.CreateTopics", "management", "crn:///kafka=k/topic=x", "ALLOW"), "admin,all"},
		{"denied create: both routes before the stop", info("kafka.CreateAcls", "management", "crn:///kafka=k", "DENY"), "denied,admin,all"},
		{"catch-all", info("kafka.DeleteTopics", "management", "crn:///kafka=k/topic=x", "ALLOW"), "all"},
		{"nothing matches, unmatched discarded", schemas.RouteInfo{Method: "other.Thing"}, "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := r.Decide(tc.in)
			require.Equal(t, tc.want, topicsOf(d), "explain: %v", d.Explain)
		})
	}
	d := r.Decide(mallory)
	require.Equal(t, schemas.Target{Topic: "denied", Encoding: EncodingBinary, Key: KeyPrincipal}, d.Targets[0])
	require.Equal(t, schemas.Target{Topic: "audit-payroll", Encoding: EncodingStructured, Key: KeySubject}, d.Targets[1])
}

func TestBothStylesAndLoopGuard(t *testing.T) {
	c := mustConfluent(t, `{"destinations":{"topics":{"confluent-audit-log-events":{"retention_ms":7776000000}}},
	  "default_topics":{"allowed":"confluent-audit-log-events","denied":"confluent-audit-log-events"},
	  "routes":{"crn:///kafka=*/topic=*":{"produce":{"allowed":"confluent-audit-log-events","denied":"confluent-audit-log-events"}}}}`)
	r, err := New(Config{Routes: []OrderedRoute{
		{Name: "denials", Match: Match{Authorization: "DENY"}, Topics: []string{"audit-denials"}},
		{Name: "quiet", Match: Match{Principal: "User:healthcheck"}, Topics: []string{"audit-health"}, StopProcessing: true},
	}}, c, "unused")
	require.NoError(t, err)
	require.Equal(t, []string{"audit-denials", "audit-health", "confluent-audit-log-events"}, r.Topics())
	require.EqualValues(t, 7776000000, r.Destination("confluent-audit-log-events").RetentionMs)

	denied := info("kafka.Produce", "produce", "crn:///kafka=k/topic=orders", "DENY")
	require.Equal(t, "audit-denials,confluent-audit-log-events", topicsOf(r.Decide(denied)))
	health := info("kafka.CreateTopics", "management", "crn:///kafka=k", "ALLOW")
	health.Principal = "User:healthcheck"
	require.Equal(t, "audit-health", topicsOf(r.Decide(health)))

	// A produce to the audit topic itself is not audited into it.
	self := info("kafka.Produce", "produce", "crn:///kafka=k/topic=confluent-audit-log-events", "ALLOW")
	d := r.Decide(self)
	require.Equal(t, "-", topicsOf(d))
	require.Contains(t, strings.Join(d.Explain, "\n"), "loop guard")
	// ...but an admin action on it is.
	admin := info("kafka.DeleteTopics", "management", "crn:///kafka=k/topic=confluent-audit-log-events", "ALLOW")
	require.Equal(t, "confluent-audit-log-events", topicsOf(r.Decide(admin)))
}

func TestValidationNamesRouteAndField(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       Config
		confluent string
		wantErr   []string
	}{
		{"route without topics", Config{Routes: []OrderedRoute{{Name: "x"}}}, "", []string{"routing.routes[0] (x).topics"}},
		{"bad category", Config{Routes: []OrderedRoute{{Match: Match{Category: "nope"}, Topics: []string{"t"}}}}, "", []string{"routing.routes[0].match.category"}},
		{"bad status", Config{Routes: []OrderedRoute{{Match: Match{Status: "OK"}, Topics: []string{"t"}}}}, "", []string{"routing.routes[0].match.status"}},
		{"duplicate names", Config{Routes: []OrderedRoute{{Name: "a", Topics: []string{"t"}}, {Name: "a", Topics: []string{"t"}}}}, "", []string{"routing.routes[1] (a).name"}},
		{"bad encoding", Config{Routes: []OrderedRoute{{Topics: []string{"t"}}}, Destinations: map[string]Destination{"t": {Encoding: "xml"}}}, "", []string{`routing.destinations["t"].encoding`}},
		{"destination nobody routes to", Config{Destinations: map[string]Destination{"zz": {}}}, "", []string{`routing.destinations["zz"]`}},
		{"strict names", Config{StrictTopicNames: true, Routes: []OrderedRoute{{Topics: []string{"audit"}}}}, "", []string{"routing.routes[0].topics[0]"}},
		{"confluent: unknown category", Config{}, `{"destinations":{"topics":{"t":{"retention_ms":1}}},"default_topics":{"allowed":"t","denied":"t"},"routes":{"crn:///kafka=*":{"consume2":{"allowed":"t"}}}}`, []string{`routes["crn:///kafka=*"].consume2`}},
		{"confluent: undeclared topic", Config{}, `{"destinations":{"topics":{"t":{"retention_ms":1}}},"default_topics":{"allowed":"t","denied":"t"},"routes":{"crn:///kafka=*":{"produce":{"allowed":"u"}}}}`, []string{`routes["crn:///kafka=*"].produce.allowed`}},
		{"confluent: bad pattern", Config{}, `{"destinations":{"topics":{"t":{"retention_ms":1}}},"default_topics":{"allowed":"t","denied":"t"},"routes":{"kafka=*":{}}}`, []string{`routes["kafka=*"]`}},
		{"confluent: inner star", Config{}, `{"destinations":{"topics":{"t":{"retention_ms":1}}},"default_topics":{"allowed":"t","denied":"t"},"routes":{"crn:///kafka=a*b":{}}}`, []string{`routes["crn:///kafka=a*b"]`}},
		{"confluent: default topics required", Config{}, `{"destinations":{"topics":{"t":{"retention_ms":1}}},"default_topics":{}}`, []string{"default_topics.allowed", "default_topics.denied"}},
		{"confluent: strict names", Config{StrictTopicNames: true}, `{"destinations":{"topics":{"audit":{"retention_ms":1}}},"default_topics":{"allowed":"audit","denied":""}}`, []string{`destinations.topics["audit"]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c *ConfluentConfig
			if tc.confluent != "" {
				c = mustConfluent(t, tc.confluent)
			}
			_, err := New(tc.cfg, c, "audit")
			require.Error(t, err)
			for _, w := range tc.wantErr {
				require.Contains(t, err.Error(), w)
			}
		})
	}
	_, err := ParseConfluent([]byte(`{"destinations":{},"default_topic":{}}`))
	require.ErrorContains(t, err, "default_topic")
}

func TestDefaultRouter(t *testing.T) {
	r := Default("confluent-audit-log-events")
	require.Equal(t, []string{"confluent-audit-log-events"}, r.Topics())
	d := r.Decide(info("kafka.Produce", "produce", "crn:///kafka=k/topic=orders", "ALLOW"))
	require.Equal(t, "confluent-audit-log-events", topicsOf(d))
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"kafka.*", "kafka.Produce", true}, {"kafka.Create*", "kafka.CreateTopics", true},
		{"kafka.Create*", "kafka.DeleteTopics", false}, {"*Acls", "kafka.CreateAcls", true},
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxc", false}, {"exact", "exact", true}, {"a*a", "a", false},
	} {
		require.Equal(t, tc.want, glob(tc.p, tc.s), "%s ~ %s", tc.p, tc.s)
	}
}
