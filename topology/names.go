package topology

import "github.com/lovoo/goka"

// Groups. Each is one goka.DefineGroup in graph.go.
const (
	// RekeyGroup parses raw lines and re-keys them by connection onto the
	// rekeyed stream, counting the repeats it can (dedup.Batcher).
	RekeyGroup goka.Group = "kaudit-rekey"
	// DedupGroup collapses repeated Produce/Fetch per connection in its
	// table, reading the rekeyed stream.
	DedupGroup goka.Group = "kaudit-dedup"
	// AuditGroup turns the kept requests an older kaudit left on the
	// requests topic into routed CloudEvent audit records; the re-key and
	// dedup groups audit the requests they keep themselves.
	AuditGroup goka.Group = "kaudit-audit"
	// CatalogGroup keeps topic id -> name, fed by the re-key group.
	CatalogGroup goka.Group = "kaudit-catalog"
	// DirectoryGroup keeps Kafka principal -> identity, fed by the
	// principal-directory topic.
	DirectoryGroup goka.Group = "kaudit-directory"
	// TopicsGroup folds access deltas into per-topic summaries.
	TopicsGroup goka.Group = "kaudit-topics"
	// PrincipalsGroup folds access deltas into per-principal summaries.
	PrincipalsGroup goka.Group = "kaudit-principals"
)

// Tables, each the table of the group of the same name.
var (
	// DedupTable holds one ConnState per cluster|connection.
	DedupTable = goka.GroupTable(DedupGroup)
	// CatalogTable holds one TopicInfo per cluster|topicId.
	CatalogTable = goka.GroupTable(CatalogGroup)
	// DirectoryTable holds one Identity per Kafka principal.
	DirectoryTable = goka.GroupTable(DirectoryGroup)
	// TopicsTable holds one TopicSummary per cluster|topic.
	TopicsTable = goka.GroupTable(TopicsGroup)
	// PrincipalsTable holds one PrincipalSummary per Kafka principal.
	PrincipalsTable = goka.GroupTable(PrincipalsGroup)
)

// Streams are the configured topic names as goka streams.
type Streams struct {
	Raw        goka.Stream // request-log lines, any key
	Rekeyed    goka.Stream // parsed requests, batches and expiry markers, keyed by connection
	Requests   goka.Stream // kept requests of an older kaudit, keyed by connection; drained only
	DeadLetter goka.Stream // unusable input, with the reason in headers
	TopicIDs   goka.Stream // harvested topic ids, keyed by cluster|topicId
	Directory  goka.Stream // principal directory (compacted), keyed by principal
	// Access deltas, keyed by cluster|topic and by principal.
	AccessByTopic     goka.Stream
	AccessByPrincipal goka.Stream
}

// Streams returns the streams named by the config.
func (c *Config) Streams() Streams {
	return Streams{
		Raw:               goka.Stream(c.Topics.Raw),
		Rekeyed:           goka.Stream(c.Topics.Rekeyed),
		Requests:          goka.Stream(c.Topics.Requests),
		DeadLetter:        goka.Stream(c.Topics.DeadLetter),
		TopicIDs:          goka.Stream(c.Topics.TopicIDs),
		Directory:         goka.Stream(c.Topics.Directory),
		AccessByTopic:     goka.Stream(c.Topics.AccessByTopic),
		AccessByPrincipal: goka.Stream(c.Topics.AccessByPrincipal),
	}
}
