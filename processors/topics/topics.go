// Package topics keeps the topics table: per topic, who produced to it,
// who fetched from it and who was denied there, folded from the access
// deltas of the dedup and audit groups.
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

// Fold adds one access delta to a topic's summary.
func Fold(sum *schemas.TopicSummary, d *schemas.AccessDelta) *schemas.TopicSummary {
	if sum == nil {
		sum = &schemas.TopicSummary{Cluster: d.Cluster, Topic: d.Resource}
	}
	if sum.Principals == nil {
		sum.Principals = map[string]*schemas.Access{}
	}
	sum.Total.Add(d.Access)
	a := sum.Principals[d.Principal]
	if a == nil {
		a = &schemas.Access{}
		sum.Principals[d.Principal] = a
	}
	a.Add(d.Access)
	schemas.BoundAccess(sum.Principals, MaxPrincipals, OverflowPrincipal)
	return sum
}

// Update folds each delta into the table, keyed by cluster|topic.
func Update() goka.ProcessCallback {
	return func(ctx goka.Context, msg any) {
		d, _ := msg.(*schemas.AccessDelta) // the input codec yields *AccessDelta
		sum, _ := ctx.Value().(*schemas.TopicSummary)
		ctx.SetValue(Fold(sum, d))
	}
}
