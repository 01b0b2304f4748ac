// Package principals keeps the principals table: per Kafka principal, the
// resources it touched, its connections and its denials, folded from the
// access deltas of the dedup and audit groups.
package principals

import (
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

// Fold adds one access delta to a principal's summary.
func Fold(sum *schemas.PrincipalSummary, d *schemas.AccessDelta) *schemas.PrincipalSummary {
	if sum == nil {
		sum = &schemas.PrincipalSummary{Principal: d.Principal}
	}
	if sum.Resources == nil {
		sum.Resources = map[string]*schemas.Access{}
	}
	sum.Total.Add(d.Access)
	key := d.ResourceType + ":" + d.Resource
	a := sum.Resources[key]
	if a == nil {
		a = &schemas.Access{}
		sum.Resources[key] = a
	}
	a.Add(d.Access)
	schemas.BoundAccess(sum.Resources, MaxResources, OverflowResource)
	sum.Connections = seen(sum.Connections, d)
	if d.Access.Denied > 0 && d.Method != "" {
		sum.Denials = append(sum.Denials, schemas.Denial{
			Time: d.Access.Last, Method: d.Method, ResourceType: d.ResourceType, Resource: d.Resource,
			Connection: d.Connection, ErrorType: d.ErrorType,
		})
		sort.SliceStable(sum.Denials, func(i, j int) bool { return sum.Denials[i].Time.Before(sum.Denials[j].Time) })
		if n := len(sum.Denials); n > MaxDenials {
			sum.Denials = sum.Denials[n-MaxDenials:]
		}
	}
	return sum
}

// seen records the delta's connection, keeping the most recently active.
func seen(conns []schemas.SeenConnection, d *schemas.AccessDelta) []schemas.SeenConnection {
	if d.Connection == "" {
		return conns
	}
	for i := range conns {
		c := &conns[i]
		if c.Connection != d.Connection {
			continue
		}
		if d.Access.Last.After(c.Last) {
			c.Last = d.Access.Last
		}
		if !d.Access.First.IsZero() && d.Access.First.Before(c.First) {
			c.First = d.Access.First
		}
		return conns
	}
	conns = append(conns, schemas.SeenConnection{
		Connection: d.Connection, ClientID: d.ClientID, ClientIP: schemas.ClientIP(d.Connection),
		First: d.Access.First, Last: d.Access.Last,
	})
	if len(conns) > MaxConnections {
		sort.SliceStable(conns, func(i, j int) bool { return conns[i].Last.After(conns[j].Last) })
		conns = conns[:MaxConnections]
	}
	return conns
}

// Update folds each delta into the table, keyed by principal.
func Update() goka.ProcessCallback {
	return func(ctx goka.Context, msg any) {
		d, _ := msg.(*schemas.AccessDelta) // the input codec yields *AccessDelta
		sum, _ := ctx.Value().(*schemas.PrincipalSummary)
		ctx.SetValue(Fold(sum, d))
	}
}
