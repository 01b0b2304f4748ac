package topology

import (
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/kaudit/kaudit/processors/catalog"
	"github.com/kaudit/kaudit/processors/dedup"
	"github.com/kaudit/kaudit/processors/directory"
	"github.com/kaudit/kaudit/processors/enrich"
	"github.com/kaudit/kaudit/processors/principals"
	"github.com/kaudit/kaudit/processors/topics"
	"github.com/kaudit/kaudit/schemas"
)

// RekeyGraph parses raw lines and re-keys them by cluster|connection onto
// the rekeyed stream: shippers key raw lines by anything (usually nothing),
// and ctx.Value() is scoped to the message key, so every request of a
// connection must meet on one partition of the dedup table. Like a Kafka
// Streams repartition topic, the stream starts a group of its own rather
// than a goka loop: the raw topic's partition count stays the shipper's
// choice, the parse and the table run in goroutines of their own (7% less
// CPU per line, BENCHMARKS.md), and each group scales on its own.
//
// Requests that always pass are audited here, by s.Keep; keep are the
// edges it needs besides the catalog and the dead letters (KeepEdges).
func RekeyGraph(st Streams, s dedup.Settings, keep ...goka.Edge) *goka.GroupGraph {
	return goka.DefineGroup(RekeyGroup, append([]goka.Edge{
		goka.Input(st.Raw, new(codec.Bytes), dedup.Rekey(st.dedupOutputs(), s)), // unparsable -> DeadLetter
		goka.Output(st.Rekeyed, new(schemas.RequestLogCodec)),
		goka.Output(st.DeadLetter, new(codec.Bytes)),
		goka.Output(st.TopicIDs, new(schemas.TopicInfoCodec)),
		goka.Lookup(CatalogTable, new(schemas.TopicInfoCodec)), // names for topic ids (enrich.Lookups)
	}, keep...)...)
}

// DedupGraph keeps, per connection, the first Produce and the first Fetch,
// and audits them (and denials) by s.Keep, with keep as in RekeyGraph.
// With drainLoop it also reads kaudit-dedup-loop, where kaudit before the
// re-key group sent requests, so that an upgrade loses none of those.
func DedupGraph(st Streams, s dedup.Settings, drainLoop bool, keep ...goka.Edge) *goka.GroupGraph {
	out := st.dedupOutputs()
	edges := append([]goka.Edge{
		goka.Input(st.Rekeyed, new(schemas.RequestLogCodec), dedup.Collapse(out, s)),
		goka.Output(st.DeadLetter, new(codec.Bytes)),
		goka.Output(st.AccessByTopic, new(schemas.TopicSummaryCodec)),
		goka.Output(st.AccessByPrincipal, new(schemas.PrincipalSummaryCodec)),
		goka.Lookup(CatalogTable, new(schemas.TopicInfoCodec)), // names for v13+ topic ids
		goka.Persist(new(schemas.ConnStateCodec)),
	}, keep...)
	if drainLoop {
		edges = append(edges, goka.Loop(new(schemas.RequestLogCodec), dedup.Collapse(out, s)))
	}
	return goka.DefineGroup(DedupGroup, edges...)
}

// KeepEdges are the edges of enrich.Process in the re-key and dedup groups
// beyond those both have: the directory it looks principals up in and the
// destinations it routes records to.
func KeepEdges(destinations []string) []goka.Edge {
	edges := []goka.Edge{goka.Lookup(DirectoryTable, new(schemas.IdentityTableCodec))}
	for _, d := range destinations {
		edges = append(edges, goka.Output(goka.Stream(d), new(codec.Bytes)))
	}
	return edges
}

func (st Streams) dedupOutputs() dedup.Outputs {
	return dedup.Outputs{
		Rekeyed: st.Rekeyed, DeadLetter: st.DeadLetter, TopicIDs: st.TopicIDs,
		AccessByTopic: st.AccessByTopic, AccessByPrincipal: st.AccessByPrincipal,
	}
}

// TopicsGraph merges partial summaries into per-topic summaries. They are
// keyed by cluster|topic, so one topic's parts meet on one partition.
func TopicsGraph(st Streams) *goka.GroupGraph {
	return goka.DefineGroup(TopicsGroup,
		goka.Input(st.AccessByTopic, new(schemas.TopicSummaryCodec), topics.Update()),
		goka.Persist(new(schemas.TopicSummaryCodec)),
	)
}

// PrincipalsGraph merges partial summaries into per-principal summaries,
// keyed by principal.
func PrincipalsGraph(st Streams) *goka.GroupGraph {
	return goka.DefineGroup(PrincipalsGroup,
		goka.Input(st.AccessByPrincipal, new(schemas.PrincipalSummaryCodec), principals.Update()),
		goka.Persist(new(schemas.PrincipalSummaryCodec)),
	)
}

// CatalogGraph keeps topic id -> name. Its input is keyed by cluster|id,
// so each id's updates meet on one partition.
func CatalogGraph(st Streams) *goka.GroupGraph {
	return goka.DefineGroup(CatalogGroup,
		goka.Input(st.TopicIDs, new(schemas.TopicInfoCodec), catalog.Update()),
		goka.Persist(new(schemas.TopicInfoCodec)),
	)
}

// DirectoryGraph keeps Kafka principal -> identity from the compacted
// directory topic. Values are read as bytes so a bad entry is
// dead-lettered instead of stopping the group.
func DirectoryGraph(st Streams) *goka.GroupGraph {
	return goka.DefineGroup(DirectoryGroup,
		goka.Input(st.Directory, new(codec.Bytes), directory.Update(directory.Outputs{DeadLetter: st.DeadLetter})),
		goka.Output(st.DeadLetter, new(codec.Bytes)),
		goka.Persist(new(schemas.IdentityTableCodec)),
	)
}

// AuditGraph drains the requests topic, through which an older kaudit
// sent kept requests to this group; the re-key and dedup groups audit them
// in place now. Pipeline runs it while the topic exists (upgrade), so that
// no request an older instance sent is lost. keep are as in RekeyGraph.
func AuditGraph(st Streams, s enrich.Settings, keep ...goka.Edge) *goka.GroupGraph {
	return goka.DefineGroup(AuditGroup, append([]goka.Edge{
		goka.Input(st.Requests, new(schemas.RequestLogCodec), enrich.Process(enrich.Outputs{DeadLetter: st.DeadLetter}, s)),
		goka.Output(st.DeadLetter, new(codec.Bytes)),
		goka.Lookup(CatalogTable, new(schemas.TopicInfoCodec)),
	}, keep...)...)
}

// GroupOptions are the processor options a group's graph needs to work as
// declared: the directory group sees tombstones as nil messages, which
// delete entries.
func GroupOptions(g goka.Group) []goka.ProcessorOption {
	if g == DirectoryGroup {
		return []goka.ProcessorOption{goka.WithNilHandling(goka.NilProcess)}
	}
	return nil
}
