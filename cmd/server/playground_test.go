package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/storetest"
)

// frontendDir holds the npm packages of the tests that run a browser
// (`npm ci` there installs node_modules, which .ci/run does).
const frontendDir = "internal/api/testdata/frontend"

func TestPlaygroundAssetsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "graphiql"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "graphiql", "package.json"), []byte(`{"version":"5.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dir, want string }{
		{dir, `graphiql is at "5.0.0"`},
		{filepath.Join(dir, "absent"), "no npm package graphiql"},
	} {
		err := run(context.Background(), []string{"server", "-http-addr", "127.0.0.1:0", "-playground-assets-dir", tc.dir}, envOf(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("PLAYGROUND_ASSETS_DIR=%s: %v, want an error with %q", tc.dir, err, tc.want)
		}
	}
}

// TestPlaygroundInBrowser opens the Playground of a server run as `go run
// ./cmd/server` runs it (the embedded mode) in headless Chromium, runs
// queries by clicking its run button, and reads the answers from the page.
// The machine has no internet, so the Playground's scripts and CSS, which
// gqlgen's page loads from a CDN, come from node_modules at the versions the
// page pins.
func TestPlaygroundInBrowser(t *testing.T) {
	chromium := servertest.NeedProgram(t, "chromium")
	modules := servertest.NeedNodeModules(t, frontendDir)
	addr, serverLog, _ := startEmbedded(t, "-embedded-demo-users", "50")
	base := "http://" + addr

	// The CDN files the page asks for, read from the page as served.
	_, page := servertest.Get(t, base+"/")
	var wantAssets []string
	for _, m := range regexp.MustCompile(`(?:src|href)="(https://[^"]+)"`).FindAllStringSubmatch(page, -1) {
		wantAssets = append(wantAssets, string(m[1]))
	}
	if len(wantAssets) == 0 {
		t.Fatalf("the page at / loads nothing from outside; has the Playground changed?\n%s", page)
	}

	ctx := servertest.NewBrowser(t, chromium, &storetest.SyncBuffer{})
	console := servertest.RecordConsole(ctx)
	cdn := servertest.ServeCDNFromNodeModules(t, ctx, modules)
	fail := func(t *testing.T, format string, args ...any) {
		t.Helper()
		served, refused := cdn.Report()
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
		chromedp.WaitVisible(servertest.QueryEditor),
		chromedp.WaitVisible(servertest.RunButton),
	); err != nil {
		fail(t, "the Playground did not render: %v", err)
	}
	t.Logf("the Playground rendered %v after the navigation began", time.Since(start).Round(time.Millisecond))

	dir := servertest.ArtifactDir(t)
	prev := ""
	for _, tc := range playgroundQueries {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, ctx, dir, &prev, fail) })
	}

	served, refused := cdn.Report()
	slices.Sort(served)
	slices.Sort(wantAssets)
	if !slices.Equal(served, wantAssets) || len(refused) > 0 {
		t.Errorf("CDN files served from node_modules: %q\nwant exactly the page's: %q\nrefused: %q", served, wantAssets, refused)
	}
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// playgroundQuery is a query TestPlaygroundInBrowser runs in the page, the
// answer it wants shown, and the file of its screenshot.
type playgroundQuery struct{ name, query, want, shot string }

var playgroundQueries = []playgroundQuery{
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
}

// run runs q in the Playground of ctx, whose last answer was *prev (which
// it sets to q's), and saves a screenshot in dir; fail reports what the
// page and the server said.
func (pq playgroundQuery) run(t *testing.T, ctx context.Context, dir string, prev *string, fail func(*testing.T, string, ...any)) {
	q, _ := json.Marshal(pq.query)
	p, _ := json.Marshal(*prev)
	// The query goes in through CodeMirror's own API: typed keys
	// would meet its bracket auto-closing and completion popups.
	// The run is a real click on the run button.
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).CodeMirror.setValue(%s)`, servertest.QueryEditor, q)),
		chromedp.Click(servertest.RunButton),
	); err != nil {
		fail(t, "run %s in the Playground: %v", pq.query, err)
	}
	// The answer is in when the response editor holds JSON other
	// than the previous answer.
	got, err := chromedp.Run(ctx, chromedp.Poll[string](fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		const v = el ? el.CodeMirror.getValue() : '';
		try { JSON.parse(v); } catch { return ''; }
		return v !== %s ? v : '';
	})()`, servertest.ResponseEditor, p), chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		fail(t, "no answer to %s in the Playground: %v", pq.query, err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Text(servertest.ResponseEditor))
	if err != nil {
		fail(t, "read the response pane: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		fail(t, "screenshot: %v", err)
	}
	*prev = got
	shotPath := filepath.Join(dir, pq.shot)
	if err := os.WriteFile(shotPath, png, 0o644); err != nil {
		t.Errorf("save the screenshot: %v", err)
	}
	t.Logf("screenshot: %s", shotPath)

	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(got)); err != nil {
		t.Fatalf("the response editor holds %q: %v", got, err)
	}
	if compact.String() != pq.want {
		t.Errorf("the Playground shows\n%s\nwant %s", got, pq.want)
	}
	// What a person sees: the rendered lines, not only the editor's
	// model.
	var answer struct {
		Data map[string]struct{ Name string }
	}
	_ = json.Unmarshal([]byte(pq.want), &answer)
	for _, u := range answer.Data {
		if !strings.Contains(shown, `"`+u.Name+`"`) {
			t.Errorf("the response pane's visible text has no %q:\n%s", u.Name, shown)
		}
	}
}
