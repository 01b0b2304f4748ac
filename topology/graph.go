package topology

import (
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/kaudit/kaudit/processors/dedup"
	"github.com/kaudit/kaudit/processors/enrich"
	"github.com/kaudit/kaudit/schemas"
)

// DedupGraph keeps, per connection, the first Produce and the first Fetch.
// Shippers key raw lines by anything (usually nothing), so lines are parsed
// and looped back keyed by cluster|connection: ctx.Value() is scoped to the
// message key, and the loop puts every request of a connection on one
// partition of the table.
func DedupGraph(st Streams, s dedup.Settings) *goka.GroupGraph {
	out := dedup.Outputs{Kept: st.Requests, DeadLetter: st.DeadLetter}
	return goka.DefineGroup(DedupGroup,
		goka.Input(st.Raw, new(codec.Bytes), dedup.Rekey(out, s)), // unparsable -> DeadLetter
		goka.Loop(new(schemas.RequestLogCodec), dedup.Collapse(out, s)),
		goka.Output(st.Requests, new(schemas.RequestLogCodec)),
		goka.Output(st.DeadLetter, new(codec.Bytes)),
		goka.Persist(new(schemas.ConnStateCodec)),
	)
}

// AuditGraph enriches kept requests into CloudEvents and routes them. It
// is stateless; its input stays keyed by connection so one connection's
// records keep their order.
func AuditGraph(st Streams, destinations []string, s enrich.Settings) *goka.GroupGraph {
	edges := []goka.Edge{
		goka.Input(st.Requests, new(schemas.RequestLogCodec), enrich.Process(enrich.Outputs{DeadLetter: st.DeadLetter}, s)),
		goka.Output(st.DeadLetter, new(codec.Bytes)),
	}
	for _, d := range destinations {
		edges = append(edges, goka.Output(goka.Stream(d), new(codec.Bytes)))
	}
	return goka.DefineGroup(AuditGroup, edges...)
}
