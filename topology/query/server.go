// Package query serves kaudit's group tables over HTTP as JSON, with the
// health endpoints. It knows tables only as getters, not processors.
package query

import (
	"encoding/json"
	"log/slog"
	"net/http"
)

// Table is one queryable table.
type Table struct {
	// Get returns the value for a table key, nil when absent.
	Get func(key string) (any, error)
	// Key maps the id in the URL to the table key (e.g. adds the cluster).
	Key func(r *http.Request, id string) string
}

// Handler serves GET /v1/{table}/{id}, /healthz and /readyz.
func Handler(tables map[string]Table, ready func() bool, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "recovering"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	// {id...} takes the rest of the path: ids are URL-escaped by clients,
	// and PathValue returns them unescaped.
	mux.HandleFunc("GET /v1/{table}/{id...}", func(w http.ResponseWriter, r *http.Request) {
		t, ok := tables[r.PathValue("table")]
		if !ok {
			writeJSON(w, http.StatusNotFound, errBody("no such table: "+r.PathValue("table")))
			return
		}
		id := r.PathValue("id")
		key := id
		if t.Key != nil {
			key = t.Key(r, id)
		}
		v, err := t.Get(key)
		if err != nil {
			log.Warn("table lookup failed", "table", r.PathValue("table"), "key", key, "err", err)
			writeJSON(w, http.StatusServiceUnavailable, errBody(err.Error()))
			return
		}
		if v == nil { // goka getters return nil for absent keys
			writeJSON(w, http.StatusNotFound, errBody("not found: "+id))
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
	return mux
}

func errBody(msg string) map[string]string { return map[string]string{"error": msg} }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// The status is sent; an encode error means the client went away.
	_ = enc.Encode(v) //nolint:errcheck
}
