// Package query serves kaudit's group tables over HTTP as JSON, with the
// health endpoints and the web page. It knows tables only as getters, not
// processors. Every instance answers for every key: its views hold all
// partitions (see README "Query").
package query

import (
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
)

// Table is one queryable table.
type Table struct {
	// Get returns the value for a table key, nil when absent.
	Get func(key string) (any, error)
	// Key maps the id in the URL to the table key (e.g. adds the cluster).
	Key func(r *http.Request, id string) string
	// List returns up to limit entries whose id starts with prefix, and
	// whether more matched; nil when listing this table is not cheap.
	List func(r *http.Request, prefix string, limit int) ([]Item, bool, error)
	// Staleness says how current the answers are (view recovered? lag).
	Staleness func() any
}

// Item is one listed entry.
type Item struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// Answer is the envelope of a lookup.
type Answer struct {
	Table     string `json:"table"`
	Key       string `json:"key,omitempty"`
	Value     any    `json:"value,omitempty"`
	Error     string `json:"error,omitempty"`
	Staleness any    `json:"staleness,omitempty"`
}

// ListAnswer is the envelope of a list.
type ListAnswer struct {
	Table     string `json:"table"`
	Prefix    string `json:"prefix"`
	Items     []Item `json:"items"`
	Truncated bool   `json:"truncated"`
	Staleness any    `json:"staleness,omitempty"`
}

// Options configure the handler.
type Options struct {
	Tables map[string]Table
	Ready  func() bool
	Log    *slog.Logger
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// everything but /healthz and /readyz, which probes call.
	Token string
	// Extra adds read-only GET routes behind the token (/v1/stats, /metrics).
	Extra map[string]http.Handler
}

// MaxListLimit bounds one list answer.
const MaxListLimit = 1000

// Handler serves GET /v1/{table}/{id}, GET /v1/{table}?prefix=&limit=,
// /healthz and /readyz. Every route is read-only.
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !o.Ready() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "recovering"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	api := http.NewServeMux()
	// {id...} takes the rest of the path: ids are URL-escaped by clients,
	// and PathValue returns them unescaped.
	api.HandleFunc("GET /v1/{table}/{id...}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("table")
		t, ok := o.Tables[name]
		if !ok {
			writeJSON(w, http.StatusNotFound, Answer{Table: name, Error: "no such table: " + name})
			return
		}
		id := r.PathValue("id")
		if id == "" {
			list(w, r, o, name, t)
			return
		}
		key := id
		if t.Key != nil {
			key = t.Key(r, id)
		}
		a := Answer{Table: name, Key: key, Staleness: stale(t)}
		v, err := t.Get(key)
		switch {
		case err != nil:
			o.Log.Warn("table lookup failed", "table", name, "key", key, "err", err)
			a.Error = err.Error()
			writeJSON(w, http.StatusServiceUnavailable, a)
		case v == nil: // goka getters return nil for absent keys
			a.Error = "not found: " + id
			writeJSON(w, http.StatusNotFound, a)
		default:
			a.Value = v
			writeJSON(w, http.StatusOK, a)
		}
	})
	for pattern, h := range o.Extra {
		api.Handle(pattern, h)
	}
	protected := requireToken(o.Token, api)
	mux.Handle("/", protected)
	return mux
}

func list(w http.ResponseWriter, r *http.Request, o Options, name string, t Table) {
	if t.List == nil {
		writeJSON(w, http.StatusBadRequest, Answer{Table: name, Error: "listing " + name + " is not supported; look one up by id"})
		return
	}
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, Answer{Table: name, Error: "limit must be a positive integer"})
			return
		}
		limit = min(n, MaxListLimit)
	}
	prefix := r.URL.Query().Get("prefix")
	items, more, err := t.List(r, prefix, limit)
	if err != nil {
		o.Log.Warn("table list failed", "table", name, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, Answer{Table: name, Error: err.Error()})
		return
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
	if items == nil {
		items = []Item{}
	}
	writeJSON(w, http.StatusOK, ListAnswer{Table: name, Prefix: prefix, Items: items, Truncated: more, Staleness: stale(t)})
}

func stale(t Table) any {
	if t.Staleness == nil {
		return nil
	}
	return t.Staleness()
}

// requireToken checks the bearer token in constant time; "" disables it.
func requireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kaudit"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// The status is sent; an encode error means the client went away.
	_ = enc.Encode(v) //nolint:errcheck
}
