package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// artifactDir is where tests leave files for a person to look at:
// $HEADLINE_TEST_ARTIFACTS, else headline-test-artifacts in the OS's temp
// directory. Unlike t.TempDir it outlives the test, at a path that does not
// change from run to run.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HEADLINE_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "headline-test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts directory: %v", err)
	}
	return dir
}

// newBrowser starts headless Chromium with a fresh profile (and extra
// options) and returns a context for one tab; the test's cleanup closes it. The flags keep it off
// the network at start (no update checks, no sync, no QUIC probes), which a
// machine without internet would otherwise refuse, many connections at a
// time.
func newBrowser(t *testing.T, chromium string, output io.Writer, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // root in a container: Chromium's sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(output),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The browser lives as long as the context of its first action, so it
	// starts here, without the deadline the test's actions get below.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v\n%s", chromium, err, output)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// cdnFile maps a URL of the jsDelivr npm CDN,
// https://cdn.jsdelivr.net/npm/<package>@<version>/<file>, to that file in
// node_modules, provided the installed package is that exact version: the
// page's SRI hashes are of that version's files.
func cdnFile(modules, rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	spec, ok := strings.CutPrefix(u.Path, "/npm/")
	if u.Host != "cdn.jsdelivr.net" || !ok {
		return "", errors.New("not a URL of the npm CDN")
	}
	n := 1
	if strings.HasPrefix(spec, "@") {
		n = 2 // a scoped package: @scope/name@version/file
	}
	parts := strings.SplitN(spec, "/", n+1)
	if len(parts) != n+1 || !filepath.IsLocal(parts[n]) {
		return "", errors.New("no package file in the URL")
	}
	pkg, file := strings.Join(parts[:n], "/"), parts[n]
	at := strings.LastIndex(pkg, "@")
	if at <= 0 {
		return "", errors.New("no package version in the URL")
	}
	name, version := pkg[:at], pkg[at+1:]
	manifest, err := os.ReadFile(filepath.Join(modules, name, "package.json"))
	if err != nil {
		return "", fmt.Errorf("%s is not in node_modules: add it to %s/package.json at %s", name, frontendDir, version)
	}
	var m struct{ Version string }
	if err := json.Unmarshal(manifest, &m); err != nil {
		return "", fmt.Errorf("%s/package.json: %w", name, err)
	}
	if m.Version != version {
		return "", fmt.Errorf("node_modules has %s@%s, the page wants %s: pin it in %s/package.json", name, m.Version, version, frontendDir)
	}
	return filepath.Join(modules, name, filepath.FromSlash(file)), nil
}

// offlineCDN answers the page's https requests in the browser itself:
// files of the npm CDN from node_modules, anything else refused. The page is
// the one gqlgen serves, unchanged, so the browser still checks each file
// against the page's SRI hash.
type offlineCDN struct {
	mu      sync.Mutex
	served  []string
	refused []string
}

func serveCDNFromNodeModules(t *testing.T, ctx context.Context, modules string) *offlineCDN {
	t.Helper()
	c := &offlineCDN{}
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{
		Patterns: []*fetch.RequestPattern{{URLPattern: "https://*"}},
	}); err != nil {
		t.Fatalf("intercept the browser's https requests: %v", err)
	}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return // the browser closed
			}
			c.answer(ctx, modules, ev)
		}
	}()
	return c
}

func (c *offlineCDN) answer(ctx context.Context, modules string, ev fetch.EventRequestPaused) {
	raw := ev.Request.URL
	file, err := cdnFile(modules, raw)
	var body []byte
	if err == nil {
		body, err = os.ReadFile(file)
	}
	c.mu.Lock()
	if err != nil {
		c.refused = append(c.refused, fmt.Sprintf("%s: %v", raw, err))
	} else {
		c.served = append(c.served, raw)
	}
	c.mu.Unlock()
	if err != nil {
		_, _ = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
		return
	}
	_, _ = chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
		RequestID:    ev.RequestID,
		ResponseCode: http.StatusOK,
		ResponseHeaders: []*fetch.HeaderEntry{
			{Name: "Content-Type", Value: mime.TypeByExtension(path.Ext(file))},
			// The page loads them with crossorigin="anonymous", as SRI needs.
			{Name: "Access-Control-Allow-Origin", Value: "*"},
		},
		Body: body,
	})
}

func (c *offlineCDN) report() (served, refused []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.served), slices.Clone(c.refused)
}

// consoleLog keeps what the page wrote to its console, for failure messages
// and to check that it logged no error.
type consoleLog struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func recordConsole(ctx context.Context) *consoleLog {
	l := &consoleLog{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			l.mu.Lock()
			l.msgs = append(l.msgs, m)
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *consoleLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, m := range l.msgs {
		fmt.Fprintf(&b, "  %s\n", m)
	}
	return b.String()
}

func (l *consoleLog) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []string
	for _, m := range l.msgs {
		// The browser asks for /favicon.ico by itself; the server has none.
		if m.IsException() || m.Type == "error" && path.Base(m.URL) != "favicon.ico" {
			errs = append(errs, m.String()+" at "+m.URL)
		}
	}
	return errs
}

// Where GraphiQL 4 (the Playground gqlgen serves) keeps its editors: each is
// a CodeMirror 5 instance, reachable from its element.
const (
	queryEditor    = `.graphiql-query-editor .CodeMirror`
	responseEditor = `.result-window .CodeMirror`
	runButton      = `.graphiql-execute-button`
)

// TestPlaygroundInBrowser opens the Playground of a server run as `go run
// ./cmd/server` runs it (the embedded mode) in headless Chromium, runs
// queries by clicking its run button, and reads the answers from the page.
// The machine has no internet, so the Playground's scripts and CSS, which
// gqlgen's page loads from a CDN, come from node_modules at the versions the
// page pins.
func TestPlaygroundInBrowser(t *testing.T) {
	chromium := needProgram(t, "chromium")
	modules := needNodeModules(t)
	addr, serverLog, _ := startEmbedded(t, "-embedded-demo-users", "50")
	base := "http://" + addr

	// The CDN files the page asks for, read from the page as served.
	_, page := get(t, base+"/")
	var wantAssets []string
	for _, m := range regexp.MustCompile(`(?:src|href)="(https://[^"]+)"`).FindAllStringSubmatch(page, -1) {
		wantAssets = append(wantAssets, string(m[1]))
	}
	if len(wantAssets) == 0 {
		t.Fatalf("the page at / loads nothing from outside; has the Playground changed?\n%s", page)
	}

	ctx := newBrowser(t, chromium, &syncBuffer{})
	console := recordConsole(ctx)
	cdn := serveCDNFromNodeModules(t, ctx, modules)
	fail := func(t *testing.T, format string, args ...any) {
		t.Helper()
		served, refused := cdn.report()
		t.Fatalf("%s\nCDN files served from node_modules: %q\nrequests refused: %q\nconsole:\n%sserver log:\n%s",
			fmt.Sprintf(format, args...), served, refused, console, serverLog)
	}

	start := time.Now()
	// A page whose scripts failed never renders: give up well before the
	// test's deadline, with the console's reasons.
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(rctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(queryEditor),
		chromedp.WaitVisible(runButton),
	); err != nil {
		fail(t, "the Playground did not render: %v", err)
	}
	t.Logf("the Playground rendered %v after the navigation began", time.Since(start).Round(time.Millisecond))

	dir := artifactDir(t)
	prev := ""
	for _, tc := range []struct {
		name, query, want, shot string
	}{
		{
			name:  "user(id:)",
			query: `{ user(id: "3") { id name } }`,
			want:  `{"data":{"user":{"id":"3","name":"头条用户3"}}}`,
			shot:  "playground-user.png",
		},
		{
			// The demo token the embedded mode puts in the headers editor.
			name:  "me, with the Playground's default Authorization header",
			query: `{ me { id name } }`,
			want:  `{"data":{"me":{"id":"1","name":"user1"}}}`,
			shot:  "playground-me.png",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := json.Marshal(tc.query)
			p, _ := json.Marshal(prev)
			// The query goes in through CodeMirror's own API: typed keys
			// would meet its bracket auto-closing and completion popups.
			// The run is a real click on the run button.
			if err := chromedp.Do(ctx,
				chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).CodeMirror.setValue(%s)`, queryEditor, q)),
				chromedp.Click(runButton),
			); err != nil {
				fail(t, "run %s in the Playground: %v", tc.query, err)
			}
			// The answer is in when the response editor holds JSON other
			// than the previous answer.
			got, err := chromedp.Run(ctx, chromedp.Poll[string](fmt.Sprintf(`(() => {
				const el = document.querySelector(%q);
				const v = el ? el.CodeMirror.getValue() : '';
				try { JSON.parse(v); } catch { return ''; }
				return v !== %s ? v : '';
			})()`, responseEditor, p), chromedp.WithPollingTimeout(30*time.Second)))
			if err != nil {
				fail(t, "no answer to %s in the Playground: %v", tc.query, err)
			}
			shown, err := chromedp.Run(ctx, chromedp.Text(responseEditor))
			if err != nil {
				fail(t, "read the response pane: %v", err)
			}
			png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			if err != nil {
				fail(t, "screenshot: %v", err)
			}
			prev = got
			shotPath := filepath.Join(dir, tc.shot)
			if err := os.WriteFile(shotPath, png, 0o644); err != nil {
				t.Errorf("save the screenshot: %v", err)
			}
			t.Logf("screenshot: %s", shotPath)

			var compact bytes.Buffer
			if err := json.Compact(&compact, []byte(got)); err != nil {
				t.Fatalf("the response editor holds %q: %v", got, err)
			}
			if compact.String() != tc.want {
				t.Errorf("the Playground shows\n%s\nwant %s", got, tc.want)
			}
			// What a person sees: the rendered lines, not only the editor's
			// model.
			var answer struct {
				Data map[string]struct{ Name string }
			}
			_ = json.Unmarshal([]byte(tc.want), &answer)
			for _, u := range answer.Data {
				if !strings.Contains(shown, `"`+u.Name+`"`) {
					t.Errorf("the response pane's visible text has no %q:\n%s", u.Name, shown)
				}
			}
		})
	}

	served, refused := cdn.report()
	slices.Sort(served)
	slices.Sort(wantAssets)
	if !slices.Equal(served, wantAssets) || len(refused) > 0 {
		t.Errorf("CDN files served from node_modules: %q\nwant exactly the page's: %q\nrefused: %q", served, wantAssets, refused)
	}
	if errs := console.errors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}
