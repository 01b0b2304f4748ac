package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/kaudit/kaudit/schemas"
	"github.com/kaudit/kaudit/topology"
)

const queryUsage = `usage: kaudit query connection|principal|topic KEY [flags]
       kaudit query principals|topics [--prefix P] [flags]`

// queryTables maps a query subcommand to its API table; the plural forms
// list by prefix.
var queryTables = map[string]string{
	"connection": "connections", "principal": "principals", "topic": "topics",
	"principals": "principals", "topics": "topics",
}

// queryCmd asks a running kaudit's HTTP API for one table entry, or a
// list, and prints it as a table or as the raw JSON answer.
func queryCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || queryTables[args[0]] == "" {
		return errors.New(queryUsage)
	}
	sub := args[0]
	fs, _ := newFlags("query " + sub)
	server := fs.String("server", envOr("KAUDIT_SERVER", "http://127.0.0.1:8080"), "kaudit's HTTP address (env KAUDIT_SERVER)")
	asJSON := fs.Bool("json", false, "print the server's JSON answer instead of a table")
	token := fs.String("token", "", "bearer token, when the server has one (env KAUDIT_HTTP_TOKEN)")
	cluster := fs.String("cluster", "", "cluster id, when not the server's own")
	prefix := fs.String("prefix", "", "principals|topics: list the ids that start with this")
	limit := fs.Int("limit", 100, "principals|topics: at most this many entries")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	list := strings.HasSuffix(sub, "s")
	switch {
	case list && len(pos) > 0:
		return fmt.Errorf("kaudit query %s takes no KEY (use --prefix)\n%s", sub, queryUsage)
	case !list && len(pos) != 1:
		return fmt.Errorf("kaudit query %s needs exactly one KEY\n%s", sub, queryUsage)
	}
	if *token == "" {
		*token = os.Getenv("KAUDIT_HTTP_TOKEN")
	}
	base := strings.TrimRight(*server, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	table := queryTables[sub]
	q := url.Values{}
	if *cluster != "" {
		q.Set("cluster", *cluster)
	}
	target := base + "/v1/" + table + "/"
	what := ""
	if list {
		q.Set("prefix", *prefix)
		q.Set("limit", fmt.Sprint(*limit))
		what = fmt.Sprintf("%s starting with %q", table, *prefix)
	} else {
		// Connection ids hold ':' and may hold '%' (IPv6 zones); principals
		// may hold '/'. PathEscape keeps each one in one path segment.
		target += url.PathEscape(pos[0])
		what = fmt.Sprintf("%s %q", sub, pos[0])
	}
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	body, err := queryGet(ctx, target, *token, base, what)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	if list {
		return printList(stdout, table, body)
	}
	return printAnswer(stdout, table, body)
}

// parseInterleaved parses flags that may come before or after positional
// arguments (flag stops at the first non-flag), and returns the latter.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// queryGet fetches target and turns every failure into a message that
// says what to do about it.
func queryGet(ctx context.Context, target, token, server, what string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("--server %s: %w", server, err)
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("cannot reach kaudit at %s: connection refused (is `kaudit run --http` listening there? set --server or KAUDIT_SERVER)", server)
		}
		return nil, fmt.Errorf("cannot reach kaudit at %s: %w", server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer from %s: %w", server, err)
	}
	var env struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &env) //nolint:errcheck // only for the error text; the status decides
	switch resp.StatusCode {
	case http.StatusOK:
		return body, nil
	case http.StatusUnauthorized:
		if token == "" {
			return nil, fmt.Errorf("%s requires a bearer token (HTTP 401): pass --token or set KAUDIT_HTTP_TOKEN", server)
		}
		return nil, fmt.Errorf("%s rejected the bearer token (HTTP 401): check --token or KAUDIT_HTTP_TOKEN", server)
	case http.StatusNotFound:
		return nil, fmt.Errorf("%s not found on %s (HTTP 404)", what, server)
	}
	if env.Error == "" {
		env.Error = strings.TrimSpace(string(body))
	}
	return nil, fmt.Errorf("%s on %s: HTTP %d: %s", what, server, resp.StatusCode, env.Error)
}

// answer is the API's lookup envelope with the value left raw.
type answer struct {
	Table     string              `json:"table"`
	Key       string              `json:"key"`
	Value     json.RawMessage     `json:"value"`
	Staleness *topology.Staleness `json:"staleness"`
}

type listAnswer struct {
	Table  string `json:"table"`
	Prefix string `json:"prefix"`
	Items  []struct {
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"`
	} `json:"items"`
	Truncated bool                `json:"truncated"`
	Staleness *topology.Staleness `json:"staleness"`
}

func printAnswer(w io.Writer, table string, body []byte) error {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("decoding the answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var err error
	switch table {
	case "connections":
		var v schemas.ConnState
		if err = json.Unmarshal(a.Value, &v); err == nil {
			printConnection(tw, &v, a.Staleness)
		}
	case "principals":
		var v schemas.PrincipalSummary
		if err = json.Unmarshal(a.Value, &v); err == nil {
			printPrincipal(tw, &v, a.Staleness)
		}
	case "topics":
		var v schemas.TopicSummary
		if err = json.Unmarshal(a.Value, &v); err == nil {
			printTopic(tw, &v, a.Staleness)
		}
	}
	if err != nil {
		return fmt.Errorf("decoding the %s value: %w", table, err)
	}
	return tw.Flush()
}

func printConnection(w io.Writer, c *schemas.ConnState, st *topology.Staleness) {
	row(w, "connection", c.Connection)
	row(w, "view", viewState(st))
	row(w, "cluster", c.Cluster)
	row(w, "principal", c.Principal)
	row(w, "client id", orDash(c.ClientID))
	row(w, "client address", orDash(c.ClientAddress))
	row(w, "listener", fmt.Sprintf("%s (%s)", orDash(c.Listener), orDash(c.SecurityProtocol)))
	row(w, "first seen", fmtTime(c.FirstSeen))
	row(w, "last seen", fmtTime(c.LastSeen))
	row(w, "audited requests", fmt.Sprint(c.Requests))
	row(w, "first produce", firstRequest(c.FirstProduce))
	row(w, "first fetch", firstRequest(c.FirstFetch))
	row(w, "suppressed", fmt.Sprintf("%d produce, %d fetch, %d bytes", c.SuppressedProduce, c.SuppressedFetch, c.SuppressedBytes))
	fmt.Fprintln(w)
	row(w, "TOPIC", "PRODUCE", "FETCH", "DENIED", "BYTES", "FIRST", "LAST")
	for _, t := range c.Topics {
		a := t.Total
		row(w, t.Topic, fmt.Sprint(a.Produce), fmt.Sprint(a.Fetch), fmt.Sprint(a.Denied), fmt.Sprint(a.Bytes), fmtTime(a.First), fmtTime(a.Last))
	}
}

func printPrincipal(w io.Writer, p *schemas.PrincipalSummary, st *topology.Staleness) {
	row(w, "principal", p.Principal)
	row(w, "view", viewState(st))
	printAccess(w, p.Total, "RESOURCE", p.Resources)
	fmt.Fprintln(w)
	conns := append([]schemas.SeenConnection(nil), p.Connections...)
	sort.SliceStable(conns, func(i, j int) bool { return conns[i].First.Before(conns[j].First) })
	row(w, "CONNECTION", "CLIENT ID", "CLIENT IP", "FIRST", "LAST")
	for _, c := range conns {
		row(w, c.Connection, orDash(c.ClientID), orDash(c.ClientIP), fmtTime(c.First), fmtTime(c.Last))
	}
	fmt.Fprintln(w)
	row(w, "DENIED AT", "METHOD", "RESOURCE", "CONNECTION", "ERROR")
	for _, d := range p.Denials {
		row(w, fmtTime(d.Time), d.Method, d.ResourceType+":"+d.Resource, d.Connection, d.ErrorType)
	}
}

func printTopic(w io.Writer, t *schemas.TopicSummary, st *topology.Staleness) {
	row(w, "topic", t.Topic)
	row(w, "view", viewState(st))
	row(w, "cluster", t.Cluster)
	printAccess(w, t.Total, "PRINCIPAL", t.Principals)
}

// printAccess writes a summary's totals and its access table, one row per
// key (a principal's resources, a topic's principals).
func printAccess(w io.Writer, total schemas.Access, keyHeader string, by map[string]*schemas.Access) {
	row(w, "total", totals(total))
	row(w, "first seen", fmtTime(total.First))
	row(w, "last seen", fmtTime(total.Last))
	fmt.Fprintln(w)
	row(w, accessHeader(keyHeader)...)
	for _, k := range sortedKeys(by) {
		row(w, accessRow(k, by[k])...)
	}
}

func printList(w io.Writer, table string, body []byte) error {
	var l listAnswer
	if err := json.Unmarshal(body, &l); err != nil {
		return fmt.Errorf("decoding the answer: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if table == "topics" {
		row(tw, "TOPIC", "PRINCIPALS", "PRODUCE", "FETCH", "ADMIN", "DENIED", "BYTES", "LAST")
	} else {
		row(tw, "PRINCIPAL", "RESOURCES", "CONNECTIONS", "DENIALS", "PRODUCE", "FETCH", "ADMIN", "DENIED", "LAST")
	}
	for _, it := range l.Items {
		if table == "topics" {
			var v schemas.TopicSummary
			if err := json.Unmarshal(it.Value, &v); err != nil {
				return fmt.Errorf("decoding topic %s: %w", it.Key, err)
			}
			a := v.Total
			row(tw, it.Key, fmt.Sprint(len(v.Principals)), fmt.Sprint(a.Produce), fmt.Sprint(a.Fetch), fmt.Sprint(a.Admin),
				fmt.Sprint(a.Denied), fmt.Sprint(a.Bytes), fmtTime(a.Last))
			continue
		}
		var v schemas.PrincipalSummary
		if err := json.Unmarshal(it.Value, &v); err != nil {
			return fmt.Errorf("decoding principal %s: %w", it.Key, err)
		}
		a := v.Total
		row(tw, it.Key, fmt.Sprint(len(v.Resources)), fmt.Sprint(len(v.Connections)), fmt.Sprint(len(v.Denials)),
			fmt.Sprint(a.Produce), fmt.Sprint(a.Fetch), fmt.Sprint(a.Admin), fmt.Sprint(a.Denied), fmtTime(a.Last))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.Truncated {
		fmt.Fprintf(w, "(more matched; raise --limit or narrow --prefix)\n")
	}
	fmt.Fprintf(w, "%d %s, view %s\n", len(l.Items), table, viewState(l.Staleness))
	return nil
}

func row(w io.Writer, cells ...string) { fmt.Fprintln(w, strings.Join(cells, "\t")) }

func accessHeader(first string) []string {
	return []string{first, "PRODUCE", "FETCH", "ADMIN", "DENIED", "BYTES", "FIRST", "LAST"}
}

func accessRow(name string, a *schemas.Access) []string {
	if a == nil {
		a = &schemas.Access{}
	}
	return []string{name, fmt.Sprint(a.Produce), fmt.Sprint(a.Fetch), fmt.Sprint(a.Admin), fmt.Sprint(a.Denied),
		fmt.Sprint(a.Bytes), fmtTime(a.First), fmtTime(a.Last)}
}

func totals(a schemas.Access) string {
	return fmt.Sprintf("%d produce, %d fetch, %d admin, %d denied, %d bytes", a.Produce, a.Fetch, a.Admin, a.Denied, a.Bytes)
}

func firstRequest(f *schemas.FirstRequest) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("%s correlation id %d, topics %s (raw line %d/%d)", fmtTime(f.Time), f.CorrelationID,
		strings.Join(f.Topics, ","), f.SourcePartition, f.SourceOffset)
}

func viewState(st *topology.Staleness) string {
	switch {
	case st == nil:
		return "staleness unknown"
	case !st.Recovered:
		return "recovering (the answer may be incomplete)"
	case st.Lag > 0:
		return fmt.Sprintf("%d messages behind", st.Lag)
	}
	return "current (recovered, lag 0)"
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
