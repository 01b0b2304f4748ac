package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"

	"github.com/kaudit/kaudit/schemas"
)

// ConfluentConfig is Confluent Platform's audit-log router config, the JSON
// of the broker property confluent.security.event.router.config
// (FORMATS.md C.1).
type ConfluentConfig struct {
	Destinations struct {
		BootstrapServers []string                    `json:"bootstrap_servers"`
		Topics           map[string]DestinationTopic `json:"topics"`
	} `json:"destinations"`
	ExcludedPrincipals []string                      `json:"excluded_principals"`
	DefaultTopics      Topics                        `json:"default_topics"`
	Routes             map[string]map[string]*Topics `json:"routes"`
	// Metadata is written by Confluent's MDS; accepted and ignored.
	Metadata json.RawMessage `json:"metadata"`
}

// DestinationTopic is one destinations.topics entry.
type DestinationTopic struct {
	RetentionMs int64 `json:"retention_ms"`
}

// Topics is an allowed/denied pair. Nil means "not set": fall through to
// the default behaviour; "" means discard.
type Topics struct {
	Allowed *string `json:"allowed"`
	Denied  *string `json:"denied"`
}

// confluentTopicName is Confluent's rule for destination names, enforced
// only with --strict-topic-names.
var confluentTopicName = regexp.MustCompile(`^confluent-audit-log-events[-_a-zA-Z0-9]*$`)

// ParseConfluent reads a router config. Unknown fields are errors, so a
// misspelt key does not silently change routing.
func ParseConfluent(data []byte) (*ConfluentConfig, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c ConfluentConfig
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("router config: %w", err)
	}
	return &c, nil
}

// confluentRouter is a compiled ConfluentConfig.
type confluentRouter struct {
	cfg      *ConfluentConfig
	excluded map[string]bool
	routes   []compiledRoute
}

type compiledRoute struct {
	pattern    string
	crn        crn
	categories map[string]*Topics // normalised category -> topics
}

// compileConfluent validates the config; every error names the route (by
// its CRN pattern) and the field.
func compileConfluent(c *ConfluentConfig, strictNames bool) (*confluentRouter, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if len(c.Destinations.Topics) == 0 {
		bad("destinations.topics", "at least one destination topic is required")
	}
	for t, d := range c.Destinations.Topics {
		if strictNames && !confluentTopicName.MatchString(t) {
			bad(fmt.Sprintf("destinations.topics[%q]", t), "must match %s (--strict-topic-names)", confluentTopicName)
		}
		if len(t) > 249 {
			bad(fmt.Sprintf("destinations.topics[%q]", t), "longer than 249 characters")
		}
		if d.RetentionMs < -1 || d.RetentionMs == 0 {
			bad(fmt.Sprintf("destinations.topics[%q].retention_ms", t), "must be positive or -1 (forever), got %d", d.RetentionMs)
		}
	}
	checkTopic := func(field string, t *string, required bool) {
		switch {
		case t == nil && required:
			bad(field, "is required (a topic, or \"\" to discard)")
		case t != nil && *t != "":
			if _, ok := c.Destinations.Topics[*t]; !ok {
				bad(field, "topic %q is not in destinations.topics", *t)
			}
		}
	}
	checkTopic("default_topics.allowed", c.DefaultTopics.Allowed, true)
	checkTopic("default_topics.denied", c.DefaultTopics.Denied, true)

	r := &confluentRouter{cfg: c, excluded: map[string]bool{}}
	for _, p := range c.ExcludedPrincipals {
		r.excluded[p] = true
	}
	patterns := make([]string, 0, len(c.Routes))
	for p := range c.Routes {
		patterns = append(patterns, p)
	}
	sort.Strings(patterns)
	for _, p := range patterns {
		field := fmt.Sprintf("routes[%q]", p)
		parsed, err := parseCRN(p)
		if err == nil {
			err = validatePattern(parsed)
		}
		if err != nil {
			bad(field, "%v", err)
			continue
		}
		cr := compiledRoute{pattern: p, crn: parsed, categories: map[string]*Topics{}}
		for cat, topics := range c.Routes[p] {
			norm, ok := schemas.NormalizeCategory(cat)
			if !ok {
				bad(field+"."+cat, "unknown category; want one of %v (or legacy other)", schemas.Categories)
				continue
			}
			if _, dup := cr.categories[norm]; dup {
				bad(field+"."+cat, "duplicates category %s (other is management)", norm)
			}
			if topics != nil {
				checkTopic(field+"."+cat+".allowed", topics.Allowed, false)
				checkTopic(field+"."+cat+".denied", topics.Denied, false)
			}
			cr.categories[norm] = topics
		}
		r.routes = append(r.routes, cr)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// defaultCategories go to default_topics when no route says otherwise; all
// others are discarded (FORMATS.md C.2 item 3).
var defaultCategories = map[string]bool{
	schemas.CatManagement: true, schemas.CatAuthorize: true, schemas.CatAuthentication: true,
}

// decide returns the one destination of a record ("" for none) and why.
func (r *confluentRouter) decide(info schemas.RouteInfo) (string, string) {
	subject, err := parseCRN(info.Subject)
	if err != nil {
		return "", fmt.Sprintf("subject %q is not a CRN", info.Subject)
	}
	var best *compiledRoute
	for i := range r.routes {
		rt := &r.routes[i]
		if rt.crn.matches(subject) && (best == nil || moreSpecific(rt.crn, best.crn)) {
			best = rt
		}
	}
	allowed := info.Authz != schemas.AuthzDeny
	side := "denied"
	if allowed {
		side = "allowed"
	}
	if best != nil {
		// Only the single best route is consulted; a missing or null entry
		// falls to the default behaviour, never to a less specific route.
		if t := best.categories[info.Category]; t != nil {
			pick := t.Denied
			if allowed {
				pick = t.Allowed
			}
			if pick != nil {
				return *pick, fmt.Sprintf("route %q %s.%s", best.pattern, info.Category, side)
			}
		}
	}
	why := "no route matches"
	if best != nil {
		why = fmt.Sprintf("route %q has no %s.%s", best.pattern, info.Category, side)
	}
	if !defaultCategories[info.Category] {
		return "", why + fmt.Sprintf("; category %s is discarded by default", info.Category)
	}
	pick := r.cfg.DefaultTopics.Denied
	if allowed {
		pick = r.cfg.DefaultTopics.Allowed
	}
	return *pick, why + "; default_topics." + side
}
