package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/kaudit/kaudit/schemas"
)

// chromium finds Debian's chromium, which .ci/run installs. The test is
// skipped only where it is not installed.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("browser test skipped: chromium is not installed; install it with `apt-get install -y chromium` (Debian's package; .ci/run installs it when apt-get works)")
	return ""
}

// browser starts a headless Chromium for one test. The flags keep it off
// the network: this machine has none, and the page needs none.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // root in a container
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		// Close the browser and wait for its process before goleak looks.
		if err := chromedp.Cancel(ctx); err != nil {
			t.Logf("closing chromium: %v", err)
		}
		cancelBrowser()
		cancelAlloc()
	})
	return ctx
}

// screenshot saves the page as e2e/artifacts/browser-<name>.png (the
// directory is gitignored) and logs where.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG
	require.NoError(t, err)
	dir, err := filepath.Abs("artifacts")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, "browser-"+name+".png")
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}

type css = chromedp.CSS

// text reads an element's text.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
	require.NoError(t, err, sel)
	return s
}

// rows reads a table body's cell texts.
func rows(t *testing.T, ctx context.Context, table string) [][]string {
	t.Helper()
	script := `[...document.querySelectorAll(` + "'" + table + ` tbody tr')].map(tr => [...tr.cells].map(c => c.textContent.trim()))`
	r, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](script))
	require.NoError(t, err, table)
	return r
}

// TestBrowserLooksUpPrincipal drives the page in headless Chromium
// against an embedded pipeline that requires a bearer token: it enters
// the token, looks up a principal and checks the rendered topics,
// connections and denial rows, follows a link to a topic, and checks the
// recent-records panel names the destination topic.
func TestBrowserLooksUpPrincipal(t *testing.T) {
	skipShort(t)
	ctx := browser(t) // skips before any broker starts when chromium is absent
	b := startBroker(t)
	cfg := httpConfig(b)
	cfg.HTTPToken = queryToken
	p := startPipeline(t, cfg)
	waitReady(t, p)
	lines, e := sendQueryTraffic(t, b, p, cfg)

	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	base := "http://" + p.HTTPAddr()

	// Without the token the page loads, and says it needs one.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/"), // redirects to /ui/
		chromedp.WaitVisible(css("#lookup")),
		chromedp.WaitVisible(css("#recent-body .error")),
	))
	require.Contains(t, text(t, ctx, "#recent-body"), "needs an API token")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(css("#token"), queryToken),
		chromedp.Click(css("#token-save")),
		chromedp.SetValue(css("#kind"), "principal"),
		chromedp.SendKeys(css("#key"), "User:mallory"),
		chromedp.Click(css("#go")),
		chromedp.WaitVisible(css(`#result[data-state="ok"] #denials`)),
		chromedp.WaitVisible(css("#recent-table")),
	))
	require.Equal(t, "User:mallory", text(t, ctx, "#answer-key"))
	result := text(t, ctx, "#result")
	require.Contains(t, result, "view current (lag 0)")
	require.Contains(t, result, "Total\n1 produce · 6 fetch · 2 admin · 5 denied · 280 B")
	require.NotContains(t, result, "[object", "every value is rendered as text")

	// Resources: type, name, produce, fetch, admin, denied, bytes, first, last.
	byName := map[string][]string{}
	for _, r := range rows(t, ctx, "#resources") {
		require.Len(t, r, 9)
		byName[r[0]+":"+r[1]] = r[2:7]
	}
	require.Equal(t, map[string][]string{
		"TOPIC:orders":       {"0", "4", "0", "0", "280 B"},
		"TOPIC:payroll":      {"1", "2", "1", "4", "0 B"},
		"TOPIC:payroll-copy": {"0", "0", "1", "1", "0 B"},
	}, byName)

	// Denials, newest first: time, method, resource, connection, error.
	want := e.principals["User:mallory"].Denials
	denials := rows(t, ctx, "#denials")
	require.Len(t, denials, len(want))
	for i, d := range want {
		require.Equal(t, []string{
			d.Time.UTC().Format("2006-01-02 15:04:05.000") + " UTC", d.Method, "TOPIC:" + d.Resource, d.Connection, d.ErrorType,
		}, denials[len(want)-1-i])
	}
	conns := rows(t, ctx, "#connections")
	require.Len(t, conns, 2)
	require.Equal(t, []string{qMallory1.ID, qMallory1.ClientID, schemas.ClientIP(qMallory1.ID)}, conns[0][:3])
	require.Equal(t, []string{qMallory2.ID, qMallory2.ClientID, schemas.ClientIP(qMallory2.ID)}, conns[1][:3])

	// Recent records: the destination topic, with this run's records.
	recent := rows(t, ctx, "#recent-table")
	require.Len(t, recent, 1)
	require.Equal(t, cfg.Topics.Audit, recent[0][0])
	kept := strconv.FormatInt(e.kept, 10)
	require.Equal(t, []string{kept, kept}, recent[0][2:4], "last hour, since start")
	require.Contains(t, text(t, ctx, "#counts"), "Lines in\n"+strconv.Itoa(lines))
	screenshot(t, ctx, "principal")

	// A link in the answer looks the topic up.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(css(`#resources a.ref[href="#topic/payroll"]`)),
		chromedp.WaitVisible(css(`#result[data-state="ok"] #principals`)),
	))
	require.Equal(t, "payroll", text(t, ctx, "#answer-key"))
	principals := rows(t, ctx, "#principals")
	require.Len(t, principals, 1)
	require.Equal(t, []string{"User:mallory", "1", "2", "1", "4", "0 B"}, principals[0][:6])
	screenshot(t, ctx, "topic")

	// An unknown principal says so.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(css("#kind"), "principal"),
		chromedp.SetValue(css("#key"), "User:nobody"),
		chromedp.Click(css("#go")),
		chromedp.WaitVisible(css(`#result[data-state="error"]`)),
	))
	msg := text(t, ctx, "#result")
	require.True(t, strings.HasPrefix(msg, "Principal User:nobody not found."), msg)
}
