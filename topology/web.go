package topology

import (
	"net/http"

	"github.com/kaudit/kaudit/topology/query/ui"
)

// routeUI serves the web page at /ui/ and redirects / there. It goes on
// the outer mux, ahead of the token check: a browser cannot send
// "Authorization: Bearer" when it loads a page, and the page's files hold
// no data. Every answer the page shows comes from /v1/, which still
// requires the token.
func routeUI(mux *http.ServeMux) {
	mux.Handle("GET "+ui.Prefix, ui.Handler())
	mux.Handle("GET /{$}", http.RedirectHandler(ui.Prefix, http.StatusFound))
}
