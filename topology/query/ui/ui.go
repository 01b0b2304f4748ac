// Package ui is kaudit's web page: a small, read-only page that looks up a
// connection, principal or topic through the JSON API and shows recent
// record counts per destination. Its HTML, CSS and JavaScript are embedded
// in the binary and load nothing from elsewhere (no CDN, no web fonts);
// the Content-Security-Policy it is served with enforces that.
//
// The files hold no data, so they are served without the bearer token:
// a browser cannot send "Authorization: Bearer" on a page load. Every data
// request the page makes goes to the API, with the token the user typed
// (kept in sessionStorage).
package ui

import (
	"bytes"
	"embed"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var files embed.FS

// Prefix is where the page lives; Handler expects request paths under it.
const Prefix = "/ui/"

// csp allows only the page's own files and API: no inline script, no
// other origin. Data from the tables is untrusted (client ids come from
// the request log), so the page writes it as text, never as HTML.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the embedded files under Prefix; Prefix itself serves
// index.html. Unknown files get 404.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, Prefix)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if name == "" {
			name = "index.html"
		}
		// embed.FS rejects "..", "." and leading slashes itself; Clean keeps
		// the lookup to plain names.
		data, err := files.ReadFile("static/" + path.Clean(name))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
			h.Set("Content-Type", ct)
		}
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// Embedded files carry no modification time; revalidate on every
		// load so an upgraded kaudit serves its own page at once.
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	})
}
