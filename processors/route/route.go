// Package route decides which topics an audit record goes to. Routing is a
// pure function of the record's RouteInfo; the audit callback emits.
package route

import "github.com/kaudit/kaudit/schemas"

// DefaultTopic is Confluent's default audit-log destination.
const DefaultTopic = "confluent-audit-log-events"

// Router maps a record to its destination topics; none discards it.
type Router interface {
	Route(info schemas.RouteInfo) []string
	// Topics lists every topic Route can return, so they can be created
	// and declared as outputs up front.
	Topics() []string
}

// Single sends every record to one topic.
type Single string

// Route implements Router.
func (s Single) Route(schemas.RouteInfo) []string { return []string{string(s)} }

// Topics implements Router.
func (s Single) Topics() []string { return []string{string(s)} }
