package principals

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
)

// TestSeenKeepsMostRecent checks seen against its definition: append,
// stable-sort most recent first, keep MaxConnections. Times repeat so that
// ties, and widened entries that unsort the list, both occur.
func TestSeenKeepsMostRecent(t *testing.T) {
	base := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		conns int // distinct connection ids
		times int // distinct times
	}{
		{name: "few connections", conns: 50, times: 10},
		{name: "just over the bound", conns: MaxConnections + 1, times: 1000},
		{name: "many connections, many ties", conns: 5000, times: 20},
		{name: "many connections, few ties", conns: 5000, times: 100000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.conns)))
			var got, want []schemas.SeenConnection
			for range 4000 {
				at := base.Add(time.Duration(rng.IntN(tc.times)) * time.Millisecond)
				s := schemas.SeenConnection{
					Connection: "10.0.0.1:9092-10.0.1.2:" + strconv.Itoa(rng.IntN(tc.conns)) + "-0",
					First:      at, Last: at,
				}
				got = seen(got, s)
				want = seenBySorting(want, s)
				require.Equal(t, want, got)
			}
			require.LessOrEqual(t, len(got), MaxConnections)
		})
	}
}

// seenBySorting is seen as first written: sort on every overflow.
func seenBySorting(conns []schemas.SeenConnection, s schemas.SeenConnection) []schemas.SeenConnection {
	if widen(conns, s) {
		return conns
	}
	s.ClientIP = schemas.ClientIP(s.Connection)
	conns = append(slices.Clone(conns), s)
	if len(conns) > MaxConnections {
		slices.SortStableFunc(conns, recentFirst)
		conns = conns[:MaxConnections]
	}
	return conns
}
