package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kaudit/kaudit/topology/query/ui"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, srv *httptest.Server, path string) (*http.Response, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

// TestServesEmbeddedPage checks that the page and every file it names are
// served, with the CSP that keeps it to its own origin.
func TestServesEmbeddedPage(t *testing.T) {
	srv := httptest.NewServer(ui.Handler())
	defer srv.Close()

	resp, index := get(t, srv, ui.Prefix)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'none'")
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Contains(t, index, `<form id="lookup"`)

	refs := regexp.MustCompile(`(?:src|href)="([^"#]+)"`).FindAllStringSubmatch(index, -1)
	require.NotEmpty(t, refs)
	for _, m := range refs {
		resp, body := get(t, srv, ui.Prefix+m[1])
		require.Equal(t, http.StatusOK, resp.StatusCode, m[1])
		require.NotEmpty(t, body, m[1])
	}
	resp, _ = get(t, srv, ui.Prefix+"app.js")
	require.Contains(t, resp.Header.Get("Content-Type"), "javascript")
}

// TestNoExternalResources keeps the page self-contained: no CDN, no web
// fonts, no absolute URLs in any embedded file.
func TestNoExternalResources(t *testing.T) {
	srv := httptest.NewServer(ui.Handler())
	defer srv.Close()
	for _, name := range []string{"", "app.js", "style.css"} {
		_, body := get(t, srv, ui.Prefix+name)
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "@font-face", "<script>"} {
			require.NotContains(t, strings.ToLower(body), bad, "%s must not load anything from elsewhere", name)
		}
	}
}

func TestUnknownFiles(t *testing.T) {
	srv := httptest.NewServer(ui.Handler())
	defer srv.Close()
	for _, path := range []string{ui.Prefix + "nope.js", ui.Prefix + "../ui.go", ui.Prefix + "%2e%2e/ui.go", "/elsewhere"} {
		resp, _ := get(t, srv, path)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, path)
	}
}
