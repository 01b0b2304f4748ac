package route

import (
	"fmt"
	"sort"
	"strings"
)

// Describe lists the routing config as one line per rule, sorted: the
// stable summary that config-change records diff.
func (r *Router) Describe() []string {
	var out []string
	for i, rt := range r.cfg.Routes {
		out = append(out, fmt.Sprintf("route %d %s: match %s -> %s stop=%t",
			i, routeName(i, rt), rt.Match, strings.Join(rt.Topics, ","), rt.StopProcessing))
	}
	if r.confluent != nil {
		c := r.confluent.cfg
		out = append(out, fmt.Sprintf("router-config default_topics: allowed=%s denied=%s", deref(c.DefaultTopics.Allowed), deref(c.DefaultTopics.Denied)))
		excluded := append([]string(nil), c.ExcludedPrincipals...)
		sort.Strings(excluded)
		out = append(out, "router-config excluded_principals: "+strings.Join(excluded, ","))
		for _, rt := range r.confluent.routes {
			cats := make([]string, 0, len(rt.categories))
			for cat, t := range rt.categories {
				if t == nil {
					cats = append(cats, cat+"=null")
					continue
				}
				cats = append(cats, fmt.Sprintf("%s.allowed=%s %s.denied=%s", cat, deref(t.Allowed), cat, deref(t.Denied)))
			}
			sort.Strings(cats)
			out = append(out, fmt.Sprintf("router-config route %s: %s", rt.pattern, strings.Join(cats, " ")))
		}
	} else {
		out = append(out, "unmatched_topic: "+r.unmatched)
	}
	for _, t := range r.topics {
		d := r.Destination(t)
		out = append(out, fmt.Sprintf("destination %s: encoding=%s key=%s retention_ms=%d", t, d.Encoding, d.Key, d.RetentionMs))
	}
	sort.Strings(out)
	return out
}

func (m Match) String() string {
	var parts []string
	for _, f := range []struct{ k, v string }{
		{"method", m.Method}, {"type", m.Type}, {"category", m.Category}, {"principal", m.Principal},
		{"resource_type", m.ResourceType}, {"resource_name", m.ResourceName}, {"status", m.Status}, {"authorization", m.Authorization},
	} {
		if f.v != "" {
			parts = append(parts, f.k+"="+f.v)
		}
	}
	if len(parts) == 0 {
		return "{all}"
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return fmt.Sprintf("%q", *s)
}
