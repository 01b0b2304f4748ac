// Package grafana_test checks the Grafana dashboard in this directory:
// valid JSON, one Prometheus datasource variable that every panel uses,
// panels that do not overlap, and queries that name only metrics kaudit
// registers (topology/metrics.go) or the Go and process collectors export.
package grafana_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		Datasource *datasource `json:"datasource"`
		Expr       string      `json:"expr"`
		RefID      string      `json:"refId"`
	} `json:"targets"`
}

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

// registered reads the metric names topology/metrics.go registers.
func registered(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile("../../topology/metrics.go")
	require.NoError(t, err)
	names := map[string]bool{}
	// Through the helpers, or as plain prometheus.Opts.
	for _, m := range regexp.MustCompile(`(?:(?:counter|gauge|histogram)\("|Name: "kaudit_)(\w+)"`).FindAllStringSubmatch(string(src), -1) {
		names["kaudit_"+m[1]] = true
	}
	require.NotEmpty(t, names, "no metrics found in topology/metrics.go")
	return names
}

func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile("kaudit-dashboard.json")
	require.NoError(t, err)
	require.True(t, json.Valid(raw), "kaudit-dashboard.json is not valid JSON")
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	require.NoError(t, dec.Decode(&d))
	require.Equal(t, "kaudit", d.Title)
	require.NotEmpty(t, d.UID)

	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Name == "datasource" {
			require.Equal(t, "prometheus", v.Query, "the datasource variable picks a Prometheus datasource")
		}
	}
	require.Equal(t, "datasource", vars["datasource"], "a Prometheus datasource variable")

	known := registered(t)
	used := map[string]bool{}
	ids := map[int]bool{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	metric := regexp.MustCompile(`\b((?:kaudit|process|go)_[a-z_]+)\b`)
	for _, p := range d.Panels {
		require.False(t, ids[p.ID], "panel id %d used twice", p.ID)
		ids[p.ID] = true
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				require.Empty(t, taken[cell{x, y}], "panel %q overlaps %q", p.Title, taken[cell{x, y}])
				taken[cell{x, y}] = p.Title
			}
		}
		require.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, p.Title)
		if p.Type == "row" {
			continue
		}
		require.NotNil(t, p.Datasource, p.Title)
		require.Equal(t, datasource{"prometheus", "${datasource}"}, *p.Datasource, p.Title)
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			require.Equal(t, datasource{"prometheus", "${datasource}"}, *tg.Datasource, p.Title)
			require.Equal(t, strings.Count(tg.Expr, "("), strings.Count(tg.Expr, ")"), "%s: %s", p.Title, tg.Expr)
			require.Equal(t, strings.Count(tg.Expr, "{"), strings.Count(tg.Expr, "}"), "%s: %s", p.Title, tg.Expr)
			for _, m := range metric.FindAllString(tg.Expr, -1) {
				if strings.HasPrefix(m, "kaudit_") {
					require.True(t, known[m], "%s: %s is not a kaudit metric (topology/metrics.go)", p.Title, m)
				}
				used[m] = true
			}
		}
	}
	for _, m := range []string{
		"kaudit_lines_in_total", "kaudit_records_out_total", "kaudit_suppressed_total", "kaudit_dead_letter_total",
		"kaudit_consumer_lag", "kaudit_view_lag", "kaudit_view_recovered", "kaudit_rebalances_total",
		"kaudit_recovery_seconds", "process_resident_memory_bytes",
	} {
		require.True(t, used[m], "the dashboard graphs %s", m)
	}
}
