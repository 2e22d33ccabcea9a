package servertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/headline/headline/store/storetest"
)

// ArtifactDir is where tests leave files for a person to look at:
// $HEADLINE_TEST_ARTIFACTS, else headline-test-artifacts in the OS's temp
// directory. Unlike t.TempDir it outlives the test, at a path that does not
// change from run to run.
func ArtifactDir(t testing.TB) string {
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

// NewBrowser starts headless Chromium with a fresh profile (and extra
// options) and returns a context for one tab; the test's cleanup closes it. The flags keep it off
// the network at start (no update checks, no sync, no QUIC probes), which a
// machine without internet would otherwise refuse, many connections at a
// time.
func NewBrowser(t testing.TB, chromium string, output io.Writer, extra ...chromedp.ExecAllocatorOption) context.Context {
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
		return "", fmt.Errorf("%s is not in node_modules: add it to %s at %s", name, filepath.Join(filepath.Dir(modules), "package.json"), version)
	}
	var m struct{ Version string }
	if err := json.Unmarshal(manifest, &m); err != nil {
		return "", fmt.Errorf("%s/package.json: %w", name, err)
	}
	if m.Version != version {
		return "", fmt.Errorf("node_modules has %s@%s, the page wants %s: pin it in %s", name, m.Version, version, filepath.Join(filepath.Dir(modules), "package.json"))
	}
	return filepath.Join(modules, name, filepath.FromSlash(file)), nil
}

// OfflineCDN answers the page's https requests in the browser itself:
// files of the npm CDN from node_modules, anything else refused. The page is
// the one gqlgen serves, unchanged, so the browser still checks each file
// against the page's SRI hash.
type OfflineCDN struct {
	mu      sync.Mutex
	served  []string
	refused []string
}

// ServeCDNFromNodeModules answers the browser's https requests from
// modules, a node_modules folder, as OfflineCDN says.
func ServeCDNFromNodeModules(t testing.TB, ctx context.Context, modules string) *OfflineCDN {
	t.Helper()
	c := &OfflineCDN{}
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

func (c *OfflineCDN) answer(ctx context.Context, modules string, ev fetch.EventRequestPaused) {
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

// Report lists the URLs served and those refused, with why.
func (c *OfflineCDN) Report() (served, refused []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.served), slices.Clone(c.refused)
}

// ConsoleLog keeps what the page wrote to its console, for failure messages
// and to check that it logged no error.
type ConsoleLog struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

// RecordConsole keeps what the page of ctx writes to its console.
func RecordConsole(ctx context.Context) *ConsoleLog {
	l := &ConsoleLog{}
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

func (l *ConsoleLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, m := range l.msgs {
		fmt.Fprintf(&b, "  %s\n", m)
	}
	return b.String()
}

// Errors are the errors and exceptions the page logged.
func (l *ConsoleLog) Errors() []string {
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
	QueryEditor    = `.graphiql-query-editor .CodeMirror`
	ResponseEditor = `.result-window .CodeMirror`
	RunButton      = `.graphiql-execute-button`
)

// Unavailable skips the test on a machine that lacks what it needs, or
// fails it when the tests run on real services: CI promises those and
// installs the tools too, so there a missing tool is a broken CI, not a
// reason to skip.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if storetest.RealServices() {
		t.Fatalf("%s, but %s/%s promise real services (.ci/run installs it)", msg, storetest.MySQLEnv, storetest.RedisEnv)
	}
	t.Skip(msg)
}

// NeedProgram returns the path of a program the test runs.
func NeedProgram(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "%s is not installed", name)
	}
	return p
}

// NeedNodeModules returns the absolute path of the node_modules folder that
// `npm ci` installed in dir.
func NeedNodeModules(t testing.TB, dir string) string {
	t.Helper()
	modules, err := filepath.Abs(filepath.Join(dir, "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	// npm ci writes this file last; without it the install is absent or broken.
	if _, err := os.Stat(filepath.Join(modules, ".package-lock.json")); err != nil {
		Unavailable(t, "no npm packages in %s: run `npm ci` there", dir)
	}
	return modules
}
