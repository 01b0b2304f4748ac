// Package principals keeps the principals table: per Kafka principal, the
// resources it touched, its connections and its denials, folded from the
// access deltas of the groups that see requests.
package principals

import (
	"slices"
	"sort"

	"github.com/lovoo/goka"

	"github.com/kaudit/kaudit/schemas"
)

// The lists keep the most recent entries, so a value stays bounded however
// long a principal lives.
const (
	MaxConnections = 100
	MaxDenials     = 100
	// MaxResources bounds the per-resource map; older resources fold into
	// OverflowResource (schemas.BoundAccess).
	MaxResources = 256
)

// OverflowResource holds the counts of resources beyond MaxResources.
const OverflowResource = "*"

// Fold adds one access delta to a principal's summary (or partial
// summary).
func Fold(sum *schemas.PrincipalSummary, d *schemas.AccessDelta) *schemas.PrincipalSummary {
	sum = orNew(sum, d.Principal)
	sum.Total.Add(d.Access)
	schemas.AddAccess(sum.Resources, d.ResourceType+":"+d.Resource, d.Access, MaxResources, OverflowResource)
	if d.Connection != "" {
		sum.Connections = seen(sum.Connections, schemas.SeenConnection{
			Connection: d.Connection, ClientID: d.ClientID, First: d.Access.First, Last: d.Access.Last,
		})
	}
	if d.Access.Denied > 0 && d.Method != "" {
		sum.Denials = denied(sum.Denials, schemas.Denial{
			Time: d.Access.Last, Method: d.Method, ResourceType: d.ResourceType, Resource: d.Resource,
			Connection: d.Connection, ErrorType: d.ErrorType,
		})
	}
	return sum
}

// Merge adds part, a partial summary of the same principal, to sum.
func Merge(sum, part *schemas.PrincipalSummary) *schemas.PrincipalSummary {
	sum = orNew(sum, part.Principal)
	sum.Total.Add(part.Total)
	for k, a := range part.Resources {
		schemas.AddAccess(sum.Resources, k, *a, MaxResources, OverflowResource)
	}
	for _, c := range part.Connections {
		sum.Connections = seen(sum.Connections, c)
	}
	sum.Denials = denied(sum.Denials, part.Denials...)
	return sum
}

func orNew(sum *schemas.PrincipalSummary, principal string) *schemas.PrincipalSummary {
	if sum == nil {
		sum = &schemas.PrincipalSummary{Principal: principal}
	}
	if sum.Resources == nil {
		sum.Resources = map[string]*schemas.Access{}
	}
	return sum
}

// seen records a connection, widening its time span when it is known, and
// keeps the MaxConnections most recently active.
func seen(conns []schemas.SeenConnection, s schemas.SeenConnection) []schemas.SeenConnection {
	if widen(conns, s) {
		return conns
	}
	if s.ClientIP == "" {
		s.ClientIP = schemas.ClientIP(s.Connection) // only for new entries
	}
	conns = append(conns, s)
	if len(conns) > MaxConnections {
		// A busy principal opens a connection after another, and sorting
		// each time cost 3% of the pipeline. The list is usually sorted
		// already (only widening an entry unsorts it), so put the new one
		// where a stable sort would: after every entry at least as recent.
		old := conns[:len(conns)-1]
		if slices.IsSortedFunc(old, recentFirst) {
			i := sort.Search(len(old), func(i int) bool { return old[i].Last.Before(s.Last) })
			copy(conns[i+1:], old[i:])
			conns[i] = s
		} else {
			slices.SortStableFunc(conns, recentFirst)
		}
		conns = conns[:MaxConnections]
	}
	return conns
}

// widen widens the time span of s's connection if conns has it, and
// reports whether it had.
func widen(conns []schemas.SeenConnection, s schemas.SeenConnection) bool {
	for i := range conns {
		c := &conns[i]
		if c.Connection != s.Connection {
			continue
		}
		if s.Last.After(c.Last) {
			c.Last = s.Last
		}
		if !s.First.IsZero() && (c.First.IsZero() || s.First.Before(c.First)) {
			c.First = s.First
		}
		return true
	}
	return false
}

func recentFirst(a, b schemas.SeenConnection) int { return b.Last.Compare(a.Last) }

// denied adds denials, keeping the MaxDenials most recent, oldest first.
func denied(ds []schemas.Denial, add ...schemas.Denial) []schemas.Denial {
	if len(add) == 0 {
		return ds
	}
	ds = append(ds, add...)
	slices.SortStableFunc(ds, func(a, b schemas.Denial) int { return a.Time.Compare(b.Time) })
	if n := len(ds); n > MaxDenials {
		ds = ds[n-MaxDenials:]
	}
	return ds
}

// Update merges each partial summary into the table, keyed by principal.
func Update() goka.ProcessCallback {
	return func(ctx goka.Context, msg any) {
		part, _ := msg.(*schemas.PrincipalSummary) // the input codec yields *PrincipalSummary
		sum, _ := ctx.Value().(*schemas.PrincipalSummary)
		ctx.SetValue(Merge(sum, part))
	}
}
