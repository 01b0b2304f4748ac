package topology

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
	"github.com/lovoo/goka"

	"github.com/kaudit/kaudit/processors/enrich"
	"github.com/kaudit/kaudit/schemas"
)

// Config-change records: kaudit audits changes to its own routing, as
// event sinks report their configuration changes.
const (
	TypeConfigChange   = "io.kaudit/config.routing.updated"
	MethodUpdateRoutes = "kaudit.UpdateRoutes"
	routingStateKey    = "routing"
)

// routingState is what the config topic remembers of the routing config.
type routingState struct {
	Fingerprint string    `json:"fingerprint"`
	Rules       []string  `json:"rules"`
	Host        string    `json:"host"`
	Instance    string    `json:"instance"`
	Time        time.Time `json:"time"`
}

// ConfigChange is the data of a config-change record.
type ConfigChange struct {
	MethodName          string   `json:"methodName"`
	PreviousFingerprint string   `json:"previousFingerprint"`
	Fingerprint         string   `json:"fingerprint"`
	Added               []string `json:"added"`
	Removed             []string `json:"removed"`
	Host                string   `json:"host"`
	Instance            string   `json:"instance"`
	RouterConfigFile    string   `json:"routerConfigFile,omitempty"`
}

// auditRoutingChange compares the routing config with the one the config
// topic remembers and, when it changed (or on the very first start), writes
// a config-change record to the routed destinations and remembers the new
// config. Routes change by rolling restart; the first instance that starts
// with the new config records the change, the others find it recorded.
// The record id comes from (previous, new) fingerprints, so two instances
// racing write the same id.
func (p *Pipeline) auditRoutingChange(now time.Time) (*cloudevents.Event, error) {
	rules := p.router.Describe()
	sum := sha256.Sum256([]byte(strings.Join(rules, "\n")))
	fp := hex.EncodeToString(sum[:])
	latest, err := readCompacted(&p.cfg, p.cfg.Topics.Config)
	if err != nil {
		return nil, err
	}
	var prev routingState
	if raw, ok := latest[routingStateKey]; ok {
		if err := json.Unmarshal(raw, &prev); err != nil {
			p.log.Warn("config topic holds an unreadable routing state; treating it as absent", "topic", p.cfg.Topics.Config, "err", err)
		}
	}
	if prev.Fingerprint == fp {
		return nil, nil
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	change := ConfigChange{
		MethodName: MethodUpdateRoutes, PreviousFingerprint: prev.Fingerprint, Fingerprint: fp,
		Added: diff(rules, prev.Rules), Removed: diff(prev.Rules, rules),
		Host: host, Instance: p.cfg.ClientID, RouterConfigFile: p.cfg.Routing.RouterConfig,
	}
	cluster := p.cfg.enrichCluster()
	subject := enrich.ClusterCRN(cluster)
	ev := cloudevents.NewEvent()
	ev.SetID(uuid.NewSHA1(uuid.NameSpaceURL, []byte("kaudit-config:"+prev.Fingerprint+"->"+fp)).String())
	ev.SetSource(enrich.ServiceName(cluster))
	ev.SetType(TypeConfigChange)
	ev.SetSubject(subject)
	ev.SetTime(now.UTC())
	if err := ev.SetData(schemas.ContentTypeJSON, change); err != nil {
		return nil, err
	}
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	targets := p.router.Decide(schemas.RouteInfo{
		Type: TypeConfigChange, Method: MethodUpdateRoutes, Category: schemas.CatManagement, Subject: subject,
		Principal: "User:kaudit", ResourceType: enrich.ResKafkaCluster, ResourceName: cluster.ID,
		Status: schemas.StatusSuccess, Authz: schemas.AuthzAllow,
	}).Targets
	state, err := json.Marshal(routingState{Fingerprint: fp, Rules: rules, Host: host, Instance: p.cfg.ClientID, Time: now.UTC()})
	if err != nil {
		return nil, err
	}
	msgs := []*sarama.ProducerMessage{}
	for _, t := range targets {
		enc := t.Encoding
		if enc == schemas.EncodingAvro {
			enc = schemas.EncodingBinary // the Avro schema is for request records
		}
		value, headers, err := enrich.Encode(ev, enc)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, &sarama.ProducerMessage{
			Topic: t.Topic, Key: sarama.StringEncoder(subject), Value: sarama.ByteEncoder(value), Headers: headers.ToSarama(),
		})
	}
	// The state goes last: if kaudit dies before it, the next start
	// records the change again, with the same id.
	msgs = append(msgs, &sarama.ProducerMessage{Topic: p.cfg.Topics.Config, Key: sarama.StringEncoder(routingStateKey), Value: sarama.ByteEncoder(state)})
	sc := p.cfg.SaramaConfig()
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewCustomHashPartitioner(goka.DefaultHasher())
	prod, err := sarama.NewSyncProducer(p.cfg.Brokers, sc)
	if err != nil {
		return nil, err
	}
	err = prod.SendMessages(msgs)
	if cerr := prod.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("record routing change: %w", err)
	}
	p.log.Info("routing config changed; recorded", "fingerprint", fp[:12], "added", len(change.Added), "removed", len(change.Removed))
	return &ev, nil
}

// diff returns the lines of a that are not in b.
func diff(a, b []string) []string {
	out := []string{}
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, l)
		}
	}
	return out
}
