// Package topics keeps the topics table: per topic, who produced to it,
// who fetched from it and who was denied there, folded from the access
// deltas of the groups that see requests.
package topics

import (
	"github.com/lovoo/goka"

	"github.com/kaudit/kaudit/schemas"
)

// MaxPrincipals bounds a topic's per-principal map: every delta re-encodes
// the summary, so an unbounded map makes busy topics ever slower (measured
// with make bench). Beyond it, the least recently seen principal's counts
// fold into OverflowPrincipal.
const MaxPrincipals = 256

// OverflowPrincipal holds the counts of principals beyond MaxPrincipals.
const OverflowPrincipal = "*"

// Fold adds one access delta to a topic's summary (or partial summary).
func Fold(sum *schemas.TopicSummary, d *schemas.AccessDelta) *schemas.TopicSummary {
	sum = orNew(sum, d.Cluster, d.Resource)
	sum.Total.Add(d.Access)
	schemas.AddAccess(sum.Principals, d.Principal, d.Access, MaxPrincipals, OverflowPrincipal)
	return sum
}

// Merge adds part, a partial summary of the same topic, to sum.
func Merge(sum, part *schemas.TopicSummary) *schemas.TopicSummary {
	sum = orNew(sum, part.Cluster, part.Topic)
	sum.Total.Add(part.Total)
	for p, a := range part.Principals {
		schemas.AddAccess(sum.Principals, p, *a, MaxPrincipals, OverflowPrincipal)
	}
	return sum
}

func orNew(sum *schemas.TopicSummary, cluster, topic string) *schemas.TopicSummary {
	if sum == nil {
		sum = &schemas.TopicSummary{Cluster: cluster, Topic: topic}
	}
	if sum.Principals == nil {
		sum.Principals = map[string]*schemas.Access{}
	}
	return sum
}

// Update merges each partial summary into the table, keyed by
// cluster|topic.
func Update() goka.ProcessCallback {
	return func(ctx goka.Context, msg any) {
		part, _ := msg.(*schemas.TopicSummary) // the input codec yields *TopicSummary
		sum, _ := ctx.Value().(*schemas.TopicSummary)
		ctx.SetValue(Merge(sum, part))
	}
}
