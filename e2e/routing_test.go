package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafka_sarama "github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kaudit/kaudit/processors/route"
	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology"
	"github.com/kaudit/kaudit/topology/demo"
)

// TestRoutingBothStyles runs one config with a Confluent router config and
// ordered routes, and checks that every record lands on exactly the
// expected topics in the expected encoding, read by kcat and sdk-go.
func TestRoutingBothStyles(t *testing.T) {
	skipShort(t)
	kcat := requireKcat(t)
	b := startBroker(t)
	dir := t.TempDir()
	routerCfg := filepath.Join(dir, "router.json")
	require.NoError(t, os.WriteFile(routerCfg, []byte(`{
	  "destinations": {"topics": {
	    "confluent-audit-log-events": {"retention_ms": 7776000000},
	    "confluent-audit-log-events_denied": {"retention_ms": 2592000000}}},
	  "default_topics": {"allowed": "confluent-audit-log-events", "denied": "confluent-audit-log-events_denied"},
	  "excluded_principals": ["User:healthcheck"],
	  "routes": {"crn:///kafka=*/topic=*": {
	    "produce": {"allowed": "confluent-audit-log-events", "denied": "confluent-audit-log-events_denied"},
	    "consume": {"allowed": "", "denied": "confluent-audit-log-events_denied"}}}
	}`), 0o600))
	cfg := topology.Defaults()
	cfg.Brokers = b.Addrs()
	cfg.Routing = route.Config{
		RouterConfig: routerCfg,
		Routes: []route.OrderedRoute{
			{Name: "denials", Match: route.Match{Authorization: "DENY"}, Topics: []string{"audit-denials"}},
			{Name: "topic-admin", Match: route.Match{Method: "kafka.*Topics"}, Topics: []string{"audit-topic-admin"}},
		},
		Destinations: map[string]route.Destination{
			"audit-denials":     {Encoding: route.EncodingBinary, Key: route.KeyPrincipal},
			"audit-topic-admin": {Encoding: route.EncodingAvro, RetentionMs: 86400000},
		},
	}
	startPipeline(t, cfg)

	admin, app, mallory, hc := conn(1, "User:ops-admin"), conn(2, "User:app"), conn(3, "User:mallory"), conn(4, "User:healthcheck")
	produceLines(t, newClient(t, b), cfg.Topics.Raw, []string{
		demo.CreateTopics(t0, admin, 1, "orders", "Nw3xxZwVRceQiMGFMmRgCg", 0, ""), // topic-admin(avro) + default allowed
		demo.Produce(t0, app, 1, "orders", 0, 10),                                  // router produce.allowed
		demo.Fetch(t0, app, 2, "orders", 0, 10),                                    // consume.allowed "" -> discarded
		demo.Produce(t0, mallory, 1, "payroll", 29, 10),                            // denials(binary) + produce.denied
		demo.CreateTopics(t0, hc, 1, "hc", "iU8Cbt0wRoGIdPef7KFh5w", 0, ""),        // excluded principal: nowhere
	})

	read := func(topic string, n int) []string {
		var methods []string
		for _, r := range consumeN(t, b, topic, n, 2*time.Second) {
			var d schemas.AuditData
			ct := header(r.Headers, "content-type")
			if ct == "application/cloudevents+json" {
				var ev struct {
					Data schemas.AuditData `json:"data"`
				}
				require.NoError(t, json.Unmarshal(r.Value, &ev))
				d = ev.Data
			} else if ct == "application/avro" { // binary mode: datacontenttype is content-type
				v, err := (&schemas.AuditDataCodec{}).Decode(r.Value)
				require.NoError(t, err)
				d = *v.(*schemas.AuditData)
			} else {
				require.Equal(t, "1.0", header(r.Headers, "ce_specversion"), "binary mode record")
				require.NoError(t, json.Unmarshal(r.Value, &d))
			}
			methods = append(methods, d.MethodName+" "+d.AuthenticationInfo.Principal.ConfluentUser.ResourceID)
		}
		sort.Strings(methods)
		return methods
	}
	require.Equal(t, []string{"kafka.CreateTopics ops-admin", "kafka.Produce app"}, read("confluent-audit-log-events", 2))
	require.Equal(t, []string{"kafka.Produce mallory"}, read("confluent-audit-log-events_denied", 1))
	require.Equal(t, []string{"kafka.Produce mallory"}, read("audit-denials", 1))
	require.Equal(t, []string{"kafka.CreateTopics ops-admin"}, read("audit-topic-admin", 1))

	// kcat sees binary mode as ce_ headers, keyed by principal.
	out := runKcat(t, kcat, "-C", "-b", b.Bootstrap(), "-t", "audit-denials", "-o", "beginning", "-e", "-q", "-f", "%k|%h\n")
	require.Contains(t, out, "User:mallory|")
	for _, h := range []string{"ce_specversion=1.0", "ce_type=io.confluent.kafka.server/request", "ce_subject=crn:///kafka=kafka-cluster/topic=payroll", "content-type=application/json"} {
		require.Contains(t, out, h)
	}
	out = runKcat(t, kcat, "-C", "-b", b.Bootstrap(), "-t", "audit-topic-admin", "-o", "beginning", "-e", "-q", "-f", "%h\n")
	require.Contains(t, out, "content-type=application/avro")
	require.Contains(t, out, "ce_dataschema=")

	// sdk-go reads binary-mode records as CloudEvents too.
	sc := sarama.NewConfig()
	sc.Version = sarama.V3_6_0_0
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	consumer, err := kafka_sarama.NewConsumer(b.Addrs(), sc, "sdk-go-denials", "audit-denials")
	require.NoError(t, err)
	ce, err := cloudevents.NewClient(consumer)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ev cloudevents.Event
	require.NoError(t, ce.StartReceiver(ctx, func(e cloudevents.Event) {
		if e.Type() == schemas.TypeRequest {
			ev = e
			cancel()
		}
	}))
	require.NoError(t, consumer.Close(context.Background()))
	require.Equal(t, "crn:///kafka=kafka-cluster/topic=payroll", ev.Subject())
	var d schemas.AuditData
	require.NoError(t, ev.DataAs(&d))
	require.Equal(t, schemas.AuthzDeny, d.AuthorizationInfo.Result)

	// Nothing by the excluded principal anywhere, nothing for the fetch.
	for _, topic := range []string{"confluent-audit-log-events", "confluent-audit-log-events_denied", "audit-denials", "audit-topic-admin"} {
		out := runKcat(t, kcat, "-C", "-b", b.Bootstrap(), "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n")
		require.NotContains(t, out, `"resourceId":"healthcheck"`, topic)
		require.False(t, strings.Contains(out, "kafka.Fetch"), topic)
	}
}

func header(hs []kgo.RecordHeader, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestRouteChangeByRollingRestart changes the routes the documented way:
// stop an instance, start it with the new config. Records before the
// change follow the old routes, records after it the new ones; none is
// lost or written twice; and the change itself is recorded once.
func TestRouteChangeByRollingRestart(t *testing.T) {
	skipShort(t)
	b := startBroker(t)
	cfg := topology.Defaults()
	cfg.Brokers = b.Addrs()
	cl := newClient(t, b)
	mallory := conn(3, "User:mallory")

	_, stop := runPipeline(t, cfg)
	produceLines(t, cl, cfg.Topics.Raw, []string{
		demo.Produce(t0, conn(1, "User:app"), 1, "orders", 0, 10),
		demo.Produce(t0, mallory, 1, "payroll", 29, 10),
	})
	consumeN(t, b, cfg.Topics.Audit, 2, 0)
	stop()

	cfg.Routing = route.Config{Routes: []route.OrderedRoute{
		{Name: "denials", Match: route.Match{Authorization: "DENY"}, Topics: []string{"audit-denials"}},
		{Name: "rest", Match: route.Match{Method: "kafka.*"}, Topics: []string{cfg.Topics.Audit}},
	}}
	startPipeline(t, cfg)
	produceLines(t, cl, cfg.Topics.Raw, []string{
		demo.Produce(t0, conn(2, "User:app"), 1, "orders", 0, 10),
		demo.Fetch(t0, mallory, 2, "payroll", 29, 0),
	})

	ids := func(topic string, n int) map[string]string {
		out := map[string]string{}
		for _, r := range consumeN(t, b, topic, n, 3*time.Second) {
			var ev struct {
				ID   string            `json:"id"`
				Data schemas.AuditData `json:"data"`
			}
			require.NoError(t, json.Unmarshal(r.Value, &ev))
			require.NotContains(t, out, ev.ID, "record %s written twice", ev.ID)
			out[ev.ID] = ev.Data.MethodName + " " + ev.Data.AuthenticationInfo.Principal.ConfluentUser.ResourceID
		}
		return out
	}
	audit := ids(cfg.Topics.Audit, 4)
	require.Len(t, audit, 4, "every record once on the audit topic: %v", audit)
	denials := ids("audit-denials", 1)
	require.Len(t, denials, 1)
	for _, m := range denials {
		require.Equal(t, "kafka.Fetch mallory", m, "only the denial after the change")
	}

	// Two config records: the initial routing and the change.
	var changes []topology.ConfigChange
	c := newClient(t, b, kgo.ConsumeTopics(cfg.Topics.Audit), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if isConfigChange(r) {
				var ev struct {
					Data topology.ConfigChange `json:"data"`
				}
				require.NoError(t, json.Unmarshal(r.Value, &ev))
				changes = append(changes, ev.Data)
			}
		})
		return len(changes) >= 2
	}, 30*time.Second, 100*time.Millisecond)
	require.Len(t, changes, 2)
	require.Empty(t, changes[0].PreviousFingerprint)
	require.Equal(t, changes[0].Fingerprint, changes[1].PreviousFingerprint)
	require.Contains(t, strings.Join(changes[1].Added, "\n"), "route 0 denials: match {authorization=DENY} -> audit-denials")
	require.Contains(t, changes[1].Added, "destination audit-denials: encoding=structured key=subject retention_ms=0")
	require.Empty(t, changes[1].Removed, "the default unmatched topic and destination stay")
}
