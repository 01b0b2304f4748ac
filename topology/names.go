package topology

import "github.com/lovoo/goka"

// Groups. Each is one goka.DefineGroup in graph.go.
const (
	// DedupGroup parses raw lines, re-keys them by connection through its
	// loop topic, and collapses repeated Produce/Fetch in its table.
	DedupGroup goka.Group = "kaudit-dedup"
	// AuditGroup turns kept requests into routed CloudEvent audit records.
	AuditGroup goka.Group = "kaudit-audit"
)

// DedupTable is the dedup group's table: one ConnState per connection.
var DedupTable = goka.GroupTable(DedupGroup)

// Streams are the configured topic names as goka streams.
type Streams struct {
	Raw        goka.Stream // request-log lines, any key
	Requests   goka.Stream // kept requests, keyed by connection
	DeadLetter goka.Stream // unusable input, with the reason in headers
}

// Streams returns the streams named by the config.
func (c *Config) Streams() Streams {
	return Streams{
		Raw:        goka.Stream(c.Topics.Raw),
		Requests:   goka.Stream(c.Topics.Requests),
		DeadLetter: goka.Stream(c.Topics.DeadLetter),
	}
}
