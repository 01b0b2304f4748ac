package topology_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/lovoo/goka"
	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/topology"
)

// describe renders group graphs as text, one block per group and one line
// per edge: kind, topic, codec type. Edges are listed by kind, in the order
// the graph declares them.
func describe(graphs []*goka.GroupGraph) string {
	var b strings.Builder
	for i, g := range graphs {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "group %s\n", g.Group())
		w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		line := func(kind string, e goka.Edge) {
			fmt.Fprintf(w, "  %s\t%s\t%T\n", kind, e.Topic(), e.Codec())
		}
		for _, e := range g.InputStreams() {
			line("input", e)
		}
		if e := g.LoopStream(); e != nil {
			line("loop", e)
		}
		for _, e := range g.JointTables() {
			line("join", e)
		}
		for _, e := range g.LookupTables() {
			line("lookup", e)
		}
		for _, e := range g.OutputStreams() {
			line("output", e)
		}
		if e := g.GroupTable(); e != nil {
			line("table", e)
		}
		if err := w.Flush(); err != nil {
			panic(err) // a strings.Builder does not fail
		}
	}
	return b.String()
}

// TestTopologyGolden keeps testdata/topology.golden equal to the graphs a
// pipeline with the default config runs, so that topology changes show in
// review. UPDATE_GOLDEN=1 rewrites it.
func TestTopologyGolden(t *testing.T) {
	p, err := topology.New(topology.Defaults(), topology.WithLogger(discardLogger()))
	require.NoError(t, err)
	graphs := p.Graphs()
	for _, g := range graphs {
		require.NoError(t, g.Validate(), "group %s", g.Group())
	}
	got := describe(graphs)

	path := filepath.Join("testdata", "topology.golden")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), got, "topology changed: review, then run UPDATE_GOLDEN=1 go test ./topology")
}

// TestGraphInvariants checks, for the default pipeline, what goka only
// finds at run time: one graph per group, each table named by
// goka.GroupTable and owned by exactly one group, and every table a group
// looks up or joins written by some group.
func TestGraphInvariants(t *testing.T) {
	p, err := topology.New(topology.Defaults(), topology.WithLogger(discardLogger()))
	require.NoError(t, err)
	graphs := p.Graphs()

	groups := map[goka.Group]bool{}
	tables := map[string]goka.Group{}
	for _, g := range graphs {
		require.False(t, groups[g.Group()], "group %s defined twice", g.Group())
		groups[g.Group()] = true
		if e := g.GroupTable(); e != nil {
			require.Equal(t, string(goka.GroupTable(g.Group())), e.Topic())
			tables[e.Topic()] = g.Group()
		}
	}
	for _, tbl := range []goka.Table{
		topology.DedupTable, topology.CatalogTable, topology.DirectoryTable, topology.TopicsTable, topology.PrincipalsTable,
	} {
		require.Contains(t, tables, string(tbl), "no group owns %s", tbl)
	}
	for _, g := range graphs {
		for _, e := range append(g.LookupTables(), g.JointTables()...) {
			require.Contains(t, tables, e.Topic(), "group %s reads table %s that no group writes", g.Group(), e.Topic())
		}
	}
}
