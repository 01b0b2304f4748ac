package query

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeTable is a Getter over a map that records the keys it was asked for.
type fakeTable struct {
	mu     sync.Mutex
	values map[string]any
	err    error
	asked  []string
}

func (f *fakeTable) Get(key string) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, key)
	if f.err != nil {
		return nil, f.err
	}
	v, ok := f.values[key]
	if !ok {
		return nil, nil // like goka's View.Get for an absent key
	}
	return v, nil
}

func (f *fakeTable) keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

type connState struct {
	Connection string `json:"connection"`
	Requests   int64  `json:"requests"`
}

const connID = "10.0.0.11:9094-10.0.1.23:51544-17"

// get serves one request and returns the status, Content-Type and body.
func get(t *testing.T, h http.Handler, method, target string) (int, string, []byte) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequest(method, srv.URL+target, nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

func TestTables(t *testing.T) {
	conns := &fakeTable{values: map[string]any{
		"lkc-1|" + connID:          &connState{Connection: connID, Requests: 42},
		"lkc-2|" + connID:          &connState{Connection: connID, Requests: 7},
		"lkc-1|fe80::2%eth0:40000": &connState{Connection: "fe80::2%eth0:40000", Requests: 1},
		"lkc-1|a/b":                &connState{Connection: "a/b", Requests: 2},
	}}
	principals := &fakeTable{values: map[string]any{"User:alice": map[string]string{"type": "confluentUser", "id": "u-1"}}}
	broken := &fakeTable{err: errors.New("View is either not running, not correctly initialized or stopped again")}
	tables := map[string]Table{
		"connections": {
			Get: conns.Get,
			// As in topology: ?cluster= picks the cluster, default lkc-1.
			Key: func(r *http.Request, id string) string {
				c := r.URL.Query().Get("cluster")
				if c == "" {
					c = "lkc-1"
				}
				return c + "|" + id
			},
		},
		"principals": {Get: principals.Get}, // no Key: the id is the key
		"broken":     {Get: broken.Get},
	}
	var logs bytes.Buffer
	h := Handler(Options{Tables: tables, Ready: func() bool { return true }, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	hit := func(table, key string, v any) Answer { return Answer{Table: table, Key: key, Value: v} }
	miss := func(table, key, msg string) Answer { return Answer{Table: table, Key: key, Error: msg} }

	for _, tc := range []struct {
		name     string
		method   string
		target   string
		status   int
		want     any    // JSON body, compared after decoding
		wantKey  string // the key the table was asked for
		getter   *fakeTable
		wantLogs string
	}{
		{
			name: "hit", target: "/v1/connections/" + connID,
			status: http.StatusOK, want: hit("connections", "lkc-1|"+connID, connState{Connection: connID, Requests: 42}),
			getter: conns, wantKey: "lkc-1|" + connID,
		},
		{
			name: "hit with an escaped id", target: "/v1/connections/" + url.QueryEscape(connID),
			status: http.StatusOK, want: hit("connections", "lkc-1|"+connID, connState{Connection: connID, Requests: 42}),
			getter: conns, wantKey: "lkc-1|" + connID,
		},
		{
			name: "hit on another cluster", target: "/v1/connections/" + url.PathEscape(connID) + "?cluster=lkc-2",
			status: http.StatusOK, want: hit("connections", "lkc-2|"+connID, connState{Connection: connID, Requests: 7}),
			getter: conns, wantKey: "lkc-2|" + connID,
		},
		{
			name: "escaped ipv6 scope", target: "/v1/connections/fe80::2%25eth0:40000",
			status: http.StatusOK, want: hit("connections", "lkc-1|fe80::2%eth0:40000", connState{Connection: "fe80::2%eth0:40000", Requests: 1}),
			getter: conns, wantKey: "lkc-1|fe80::2%eth0:40000",
		},
		{
			name: "escaped slash stays in the id", target: "/v1/connections/a%2Fb",
			status: http.StatusOK, want: hit("connections", "lkc-1|a/b", connState{Connection: "a/b", Requests: 2}),
			getter: conns, wantKey: "lkc-1|a/b",
		},
		{
			name: "table without a key func", target: "/v1/principals/" + url.PathEscape("User:alice"),
			status: http.StatusOK, want: hit("principals", "User:alice", map[string]string{"type": "confluentUser", "id": "u-1"}),
			getter: principals, wantKey: "User:alice",
		},
		{
			name: "miss", target: "/v1/connections/" + url.PathEscape("10.0.0.11:9094-10.0.1.99:1-1"),
			status: http.StatusNotFound, want: miss("connections", "lkc-1|10.0.0.11:9094-10.0.1.99:1-1", "not found: 10.0.0.11:9094-10.0.1.99:1-1"),
			getter: conns, wantKey: "lkc-1|10.0.0.11:9094-10.0.1.99:1-1",
		},
		{
			name: "unknown table", target: "/v1/groups/g1",
			status: http.StatusNotFound, want: Answer{Table: "groups", Error: "no such table: groups"},
		},
		{
			name: "getter error", target: "/v1/broken/k1",
			status: http.StatusServiceUnavailable,
			want:   miss("broken", "k1", "View is either not running, not correctly initialized or stopped again"),
			getter: broken, wantKey: "k1",
			wantLogs: `"msg":"table lookup failed","table":"broken","key":"k1"`,
		},
		{
			name: "no id lists, but connections are not listable", target: "/v1/connections/",
			status: http.StatusBadRequest, want: Answer{Table: "connections", Error: "listing connections is not supported; look one up by id"},
		},
		{name: "post is not allowed", method: http.MethodPost, target: "/v1/connections/" + connID, status: http.StatusMethodNotAllowed},
		{name: "unknown path", target: "/v2/connections/x", status: http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before int
			if tc.getter != nil {
				before = len(tc.getter.keys())
			}
			logs.Reset()
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			status, ctype, body := get(t, h, method, tc.target)
			require.Equal(t, tc.status, status, "body: %s", body)
			if tc.want != nil {
				require.Equal(t, "application/json", ctype)
				wantJSON, err := json.Marshal(tc.want)
				require.NoError(t, err)
				require.JSONEq(t, string(wantJSON), string(body))
			}
			if tc.wantKey != "" {
				require.Equal(t, []string{tc.wantKey}, tc.getter.keys()[before:])
			}
			if tc.wantLogs != "" {
				require.Contains(t, logs.String(), tc.wantLogs)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	var ready atomic.Bool
	h := Handler(Options{Tables: map[string]Table{}, Ready: ready.Load, Log: slog.New(slog.DiscardHandler)})

	for _, tc := range []struct {
		name   string
		ready  bool
		target string
		status int
		body   string
	}{
		{name: "healthz while recovering", target: "/healthz", status: http.StatusOK, body: `{"status":"ok"}`},
		{name: "readyz while recovering", target: "/readyz", status: http.StatusServiceUnavailable, body: `{"status":"recovering"}`},
		{name: "readyz once ready", ready: true, target: "/readyz", status: http.StatusOK, body: `{"status":"ready"}`},
		{name: "healthz once ready", ready: true, target: "/healthz", status: http.StatusOK, body: `{"status":"ok"}`},
		{name: "readyz after shutdown began", ready: false, target: "/readyz", status: http.StatusServiceUnavailable, body: `{"status":"recovering"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready.Store(tc.ready)
			status, ctype, body := get(t, h, http.MethodGet, tc.target)
			require.Equal(t, tc.status, status)
			require.Equal(t, "application/json", ctype)
			require.JSONEq(t, tc.body, string(body))
		})
	}
}

func TestList(t *testing.T) {
	items := map[string]string{"User:alice": "a", "User:albert": "b", "User:bob": "c", "Group:x": "d"}
	tables := map[string]Table{
		"principals": {
			Get: func(string) (any, error) { return nil, nil },
			List: func(_ *http.Request, prefix string, limit int) ([]Item, bool, error) {
				var out []Item
				for k, v := range items {
					if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
						if len(out) == limit {
							return out, true, nil
						}
						out = append(out, Item{Key: k, Value: v})
					}
				}
				return out, false, nil
			},
			Staleness: func() any { return map[string]any{"recovered": true, "lag": 3} },
		},
	}
	h := Handler(Options{Tables: tables, Ready: func() bool { return true }, Log: slog.New(slog.DiscardHandler)})
	for _, tc := range []struct {
		name, target string
		status       int
		want         string
	}{
		{"prefix", "/v1/principals/?prefix=User:al", 200, `{"table":"principals","prefix":"User:al","items":[{"key":"User:albert","value":"b"},{"key":"User:alice","value":"a"}],"truncated":false,"staleness":{"recovered":true,"lag":3}}`},
		{"no match", "/v1/principals/?prefix=Nope", 200, `{"table":"principals","prefix":"Nope","items":[],"truncated":false,"staleness":{"recovered":true,"lag":3}}`},
		{"bad limit", "/v1/principals/?limit=0", 400, `{"table":"principals","error":"limit must be a positive integer"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := get(t, h, http.MethodGet, tc.target)
			require.Equal(t, tc.status, status, "body: %s", body)
			require.JSONEq(t, tc.want, string(body))
		})
	}
	status, _, body := get(t, h, http.MethodGet, "/v1/principals/?prefix=User:&limit=2")
	require.Equal(t, 200, status)
	var la ListAnswer
	require.NoError(t, json.Unmarshal(body, &la))
	require.Len(t, la.Items, 2)
	require.True(t, la.Truncated)
}

func TestBearerToken(t *testing.T) {
	tables := map[string]Table{"t": {Get: func(string) (any, error) { return "v", nil }}}
	h := Handler(Options{Tables: tables, Ready: func() bool { return true }, Log: slog.New(slog.DiscardHandler), Token: "s3cret",
		Extra: map[string]http.Handler{"GET /metrics": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("m")) })}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	do := func(path, auth string) int {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, do("/v1/t/k", ""))
	require.Equal(t, http.StatusUnauthorized, do("/v1/t/k", "Bearer wrong"))
	require.Equal(t, http.StatusOK, do("/v1/t/k", "Bearer s3cret"))
	require.Equal(t, http.StatusUnauthorized, do("/metrics", ""))
	require.Equal(t, http.StatusOK, do("/metrics", "Bearer s3cret"))
	require.Equal(t, http.StatusOK, do("/healthz", ""), "probes stay open")
	require.Equal(t, http.StatusOK, do("/readyz", ""), "probes stay open")
}
