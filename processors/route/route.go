// Package route decides which topics an audit record goes to, and how it
// is written there. Routing is a pure function of the record's RouteInfo;
// the audit callback encodes and emits.
//
// Two styles combine, in this order (README "Routing"):
//  1. excluded_principals of the Confluent router config: discarded, full stop.
//  2. Ordered routes, event-sink style: every matching route adds its
//     topics; a match with stop_processing ends routing here.
//  3. The Confluent router config, if given: its single most specific
//     route adds at most one topic. Without one, a record that no ordered
//     route matched goes to unmatched_topic (default: the audit topic).
//  4. The loop guard drops a produce/consume record's own topic.
package route

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kaudit/kaudit/schemas"
)

// Config is the routing section of kaudit's YAML config.
type Config struct {
	// RouterConfig is the path of a Confluent router config (JSON).
	RouterConfig string `yaml:"router_config"`
	// StrictTopicNames enforces Confluent's confluent-audit-log-events*
	// destination names.
	StrictTopicNames bool `yaml:"strict_topic_names"`
	// UnmatchedTopic receives records no route claimed when there is no
	// Confluent router config; "" discards them. Default: the audit topic.
	UnmatchedTopic *string `yaml:"unmatched_topic"`
	// Routes are the ordered routes.
	Routes []OrderedRoute `yaml:"routes"`
	// Destinations set per-topic encoding, key and retention.
	Destinations map[string]Destination `yaml:"destinations"`
}

// OrderedRoute sends matching records to its topics.
type OrderedRoute struct {
	Name           string   `yaml:"name"`
	Match          Match    `yaml:"match"`
	Topics         []string `yaml:"topics"`
	StopProcessing bool     `yaml:"stop_processing"`
}

// Match filters records. Every set field must match; values may use `*`
// wildcards (kafka.Create*, User:svc-*). An empty Match matches all.
type Match struct {
	Method        string `yaml:"method"`        // methodName, e.g. kafka.Create*
	Type          string `yaml:"type"`          // CloudEvent type
	Category      string `yaml:"category"`      // management, produce, ...
	Principal     string `yaml:"principal"`     // Kafka principal, User:alice
	ResourceType  string `yaml:"resource_type"` // TOPIC, GROUP, KAFKA_CLUSTER, ...
	ResourceName  string `yaml:"resource_name"` // topic/group/... name
	Status        string `yaml:"status"`        // SUCCESS or FAILURE
	Authorization string `yaml:"authorization"` // ALLOW or DENY
}

// Destination is how records are written to one topic.
type Destination struct {
	// Encoding: structured (default; Confluent's), binary (ce_ headers,
	// data as the value) or avro (binary mode, Avro data).
	Encoding string `yaml:"encoding"`
	// Key: subject (default; the resource CRN keeps one resource's records
	// in order), principal, connection, or id (spread evenly).
	Key string `yaml:"key"`
	// RetentionMs of the topic when kaudit creates it; 0 keeps the broker
	// default. The Confluent config's retention_ms applies too.
	RetentionMs int64 `yaml:"retention_ms"`
}

// Encodings and keys, as in schemas.
const (
	EncodingStructured = schemas.EncodingStructured
	EncodingBinary     = schemas.EncodingBinary
	EncodingAvro       = schemas.EncodingAvro
	KeySubject         = schemas.KeySubject
	KeyPrincipal       = schemas.KeyPrincipal
	KeyConnection      = schemas.KeyConnection
	KeyID              = schemas.KeyID
)

// Decision is where a record goes, and why.
type Decision struct {
	Targets []schemas.Target
	// Explain says, step by step, which rules applied (kaudit routes check
	// --explain).
	Explain []string
}

// Router is a validated routing config.
type Router struct {
	cfg          Config
	confluent    *confluentRouter
	unmatched    string
	destinations map[string]Destination
	topics       []string
}

// New validates and compiles a routing config. confluent may be nil.
// defaultTopic is kaudit's audit topic. Every error names the route (by
// name or index) and the field.
func New(cfg Config, confluent *ConfluentConfig, defaultTopic string) (*Router, error) {
	r := &Router{cfg: cfg, destinations: map[string]Destination{}}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if confluent != nil {
		cr, err := compileConfluent(confluent, cfg.StrictTopicNames)
		if err != nil {
			errs = append(errs, fmt.Errorf("router config: %w", err))
		}
		r.confluent = cr
	}
	r.unmatched = defaultTopic
	if cfg.UnmatchedTopic != nil {
		r.unmatched = *cfg.UnmatchedTopic
	}
	topics := map[string]bool{}
	if confluent == nil && r.unmatched != "" {
		topics[r.unmatched] = true
	}
	if confluent != nil {
		for t, d := range confluent.Destinations.Topics {
			topics[t] = true
			r.destinations[t] = Destination{RetentionMs: d.RetentionMs}
		}
	}
	names := map[string]int{}
	for i, rt := range cfg.Routes {
		field := fmt.Sprintf("routing.routes[%d]", i)
		if rt.Name != "" {
			field = fmt.Sprintf("routing.routes[%d] (%s)", i, rt.Name)
			if j, dup := names[rt.Name]; dup {
				bad(field+".name", "duplicates routing.routes[%d]", j)
			}
			names[rt.Name] = i
		}
		if len(rt.Topics) == 0 {
			bad(field+".topics", "at least one topic is required")
		}
		for j, t := range rt.Topics {
			if t == "" {
				bad(fmt.Sprintf("%s.topics[%d]", field, j), "must not be empty")
			}
			if cfg.StrictTopicNames && !confluentTopicName.MatchString(t) {
				bad(fmt.Sprintf("%s.topics[%d]", field, j), "%q must match %s (--strict-topic-names)", t, confluentTopicName)
			}
			topics[t] = true
		}
		if c := rt.Match.Category; c != "" {
			if _, ok := schemas.NormalizeCategory(c); !ok {
				bad(field+".match.category", "%q is not one of %v", c, schemas.Categories)
			}
		}
		for _, f := range []struct{ name, value string }{
			{"status", rt.Match.Status}, {"authorization", rt.Match.Authorization},
		} {
			ok := map[string][]string{"status": {"", schemas.StatusSuccess, schemas.StatusFailure}, "authorization": {"", schemas.AuthzAllow, schemas.AuthzDeny}}
			if !slices.Contains(ok[f.name], f.value) && !strings.Contains(f.value, "*") {
				bad(field+".match."+f.name, "%q is not one of %v", f.value, ok[f.name][1:])
			}
		}
	}
	for t, d := range cfg.Destinations {
		field := fmt.Sprintf("routing.destinations[%q]", t)
		if !topics[t] {
			bad(field, "no route sends records to this topic")
		}
		switch d.Encoding {
		case "", EncodingStructured, EncodingBinary, EncodingAvro:
		default:
			bad(field+".encoding", "%q is not structured, binary or avro", d.Encoding)
		}
		switch d.Key {
		case "", KeySubject, KeyPrincipal, KeyConnection, KeyID:
		default:
			bad(field+".key", "%q is not subject, principal, connection or id", d.Key)
		}
		if d.RetentionMs < -1 {
			bad(field+".retention_ms", "must be -1 (forever), 0 (broker default) or positive, got %d", d.RetentionMs)
		}
		merged := r.destinations[t]
		merged.Encoding, merged.Key = d.Encoding, d.Key
		if d.RetentionMs != 0 {
			merged.RetentionMs = d.RetentionMs
		}
		r.destinations[t] = merged
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for t := range topics {
		r.topics = append(r.topics, t)
	}
	sort.Strings(r.topics)
	return r, nil
}

// Default is the router of a pipeline without routing config: every record
// to the audit topic, structured.
func Default(auditTopic string) *Router {
	return &Router{unmatched: auditTopic, destinations: map[string]Destination{}, topics: []string{auditTopic}}
}

// Topics lists every topic a record can be routed to, sorted.
func (r *Router) Topics() []string { return r.topics }

// Destination returns the settings of a topic, defaults filled in.
func (r *Router) Destination(topic string) Destination {
	d := r.destinations[topic]
	if d.Encoding == "" {
		d.Encoding = EncodingStructured
	}
	if d.Key == "" {
		d.Key = KeySubject
	}
	return d
}

// Decide routes one record.
func (r *Router) Decide(info schemas.RouteInfo) Decision {
	var d Decision
	say := func(format string, args ...any) { d.Explain = append(d.Explain, fmt.Sprintf(format, args...)) }
	if r.confluent != nil && r.confluent.excluded[info.Principal] {
		say("excluded principal %s: discarded", info.Principal)
		return d
	}
	var topics []string
	matched, stopped := false, false
	for i, rt := range r.cfg.Routes {
		if !rt.Match.matches(info) {
			continue
		}
		matched = true
		topics = append(topics, rt.Topics...)
		say("ordered route %s matches: %s", routeName(i, rt), strings.Join(rt.Topics, ","))
		if rt.StopProcessing {
			say("route %s has stop_processing", routeName(i, rt))
			stopped = true
			break
		}
	}
	switch {
	case stopped:
	case r.confluent != nil:
		t, why := r.confluent.decide(info)
		if t == "" {
			say("router config: %s: discarded", why)
		} else {
			say("router config: %s: %s", why, t)
			topics = append(topics, t)
		}
	case !matched && r.unmatched != "":
		say("no ordered route matches: unmatched_topic %s", r.unmatched)
		topics = append(topics, r.unmatched)
	case !matched:
		say("no ordered route matches and unmatched_topic is empty: discarded")
	}
	seen := map[string]bool{}
	for _, t := range topics {
		if seen[t] {
			continue
		}
		seen[t] = true
		if loops(info, t) {
			say("loop guard: %s on topic %s is not audited into %s itself", info.Method, t, t)
			continue
		}
		dst := r.Destination(t)
		d.Targets = append(d.Targets, schemas.Target{Topic: t, Encoding: dst.Encoding, Key: dst.Key})
	}
	return d
}

// loops reports whether auditing the record into topic would feed on itself:
// a produce to (or fetch from) the audit topic, audited into that topic,
// makes the next produce/fetch there.
func loops(info schemas.RouteInfo, topic string) bool {
	return (info.Category == schemas.CatProduce || info.Category == schemas.CatConsume) &&
		info.ResourceType == "TOPIC" && info.ResourceName == topic
}

func routeName(i int, rt OrderedRoute) string {
	if rt.Name != "" {
		return rt.Name
	}
	return fmt.Sprintf("#%d", i)
}

func (m Match) matches(info schemas.RouteInfo) bool {
	cat := m.Category
	if n, ok := schemas.NormalizeCategory(cat); ok {
		cat = n
	}
	for _, f := range []struct{ pattern, value string }{
		{m.Method, info.Method}, {m.Type, info.Type}, {cat, info.Category},
		{m.Principal, info.Principal}, {m.ResourceType, info.ResourceType},
		{m.ResourceName, info.ResourceName}, {m.Status, info.Status}, {m.Authorization, info.Authz},
	} {
		if f.pattern != "" && !glob(f.pattern, f.value) {
			return false
		}
	}
	return true
}

// glob matches `*` as any run of characters; everything else literally.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
