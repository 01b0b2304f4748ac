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

// DedupGraph keeps, per connection, the first Produce and the first Fetch.
// Shippers key raw lines by anything (usually nothing), so lines are parsed
// and looped back keyed by cluster|connection: ctx.Value() is scoped to the
// message key, and the loop puts every request of a connection on one
// partition of the table.
func DedupGraph(st Streams, s dedup.Settings) *goka.GroupGraph {
	out := st.dedupOutputs()
	return goka.DefineGroup(DedupGroup,
		goka.Input(st.Raw, new(codec.Bytes), dedup.Rekey(out, s)), // unparsable -> DeadLetter
		goka.Loop(new(schemas.RequestLogCodec), dedup.Collapse(out, s)),
		goka.Output(st.Requests, new(schemas.RequestLogCodec)),
		goka.Output(st.DeadLetter, new(codec.Bytes)),
		goka.Output(st.TopicIDs, new(schemas.TopicInfoCodec)),
		goka.Output(st.AccessByTopic, new(schemas.TopicSummaryCodec)),
		goka.Output(st.AccessByPrincipal, new(schemas.PrincipalSummaryCodec)),
		goka.Lookup(CatalogTable, new(schemas.TopicInfoCodec)), // names for v13+ topic ids
		goka.Persist(new(schemas.ConnStateCodec)),
	)
}

func (st Streams) dedupOutputs() dedup.Outputs {
	return dedup.Outputs{
		Kept: st.Requests, DeadLetter: st.DeadLetter, TopicIDs: st.TopicIDs,
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

// AuditGraph enriches kept requests into CloudEvents and routes them. It
// has no table of its own; its input stays keyed by connection so one
// connection's records keep their order. It looks topic names and
// identities up in the catalog and directory tables.
func AuditGraph(st Streams, destinations []string, s enrich.Settings) *goka.GroupGraph {
	edges := []goka.Edge{
		goka.Input(st.Requests, new(schemas.RequestLogCodec), enrich.Process(enrich.Outputs{DeadLetter: st.DeadLetter}, s)),
		goka.Output(st.DeadLetter, new(codec.Bytes)),
		goka.Output(st.AccessByTopic, new(schemas.TopicSummaryCodec)),
		goka.Output(st.AccessByPrincipal, new(schemas.PrincipalSummaryCodec)),
		goka.Lookup(CatalogTable, new(schemas.TopicInfoCodec)),
		goka.Lookup(DirectoryTable, new(schemas.IdentityTableCodec)),
	}
	for _, d := range destinations {
		edges = append(edges, goka.Output(goka.Stream(d), new(codec.Bytes)))
	}
	return goka.DefineGroup(AuditGroup, edges...)
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
