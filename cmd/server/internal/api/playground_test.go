package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/headline/headline"
	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/store/storetest"
)

// playgroundServer is a test server whose Playground loads its scripts from
// modules, a node_modules folder (PLAYGROUND_ASSETS_DIR), or from the CDN
// when modules is "".
func playgroundServer(t *testing.T, modules string) *testServer {
	t.Helper()
	if modules == "" {
		return newTestServer(t)
	}
	assets, err := LocalPlayground(modules)
	if err != nil {
		t.Fatal(err)
	}
	return newTestServer(t, func(c *testConfig) { c.Playground = assets })
}

// TestPlaygroundAssets serves the Playground's scripts from node_modules
// (PLAYGROUND_ASSETS_DIR): the page names no CDN, each file it names is
// served with the hash the page asks for, and nothing else is served.
func TestPlaygroundAssets(t *testing.T) {
	modules := servertest.NeedNodeModules(t, frontendDir)
	base := playgroundServer(t, modules).URL
	getPath := func(path string) (int, []byte) {
		t.Helper()
		resp, body := servertest.Get(t, base+path)
		return resp.StatusCode, []byte(body)
	}

	_, page := getPath("/")
	if strings.Contains(string(page), "cdn.jsdelivr.net") || strings.Contains(string(page), "https://") {
		t.Errorf("the page still loads from outside:\n%s", page)
	}
	refs := regexp.MustCompile(`(?:src|href)="(/playground/assets/[^"]+)"\s+integrity="([^"]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) != len(playgroundAssets) {
		t.Fatalf("the page names %d local files with hashes, want %d:\n%s", len(refs), len(playgroundAssets), page)
	}
	for _, ref := range refs {
		status, body := getPath(ref[1])
		sum := sha256.Sum256(body)
		want := html.UnescapeString(ref[2])
		if got := "sha256-" + base64.StdEncoding.EncodeToString(sum[:]); status != http.StatusOK || got != want {
			t.Errorf("GET %s: %d, %d bytes hashing to %s; the page wants %s", ref[1], status, len(body), got, want)
		}
	}
	for _, path := range []string{
		"/playground/assets/package.json",
		"/playground/assets/..%2fgraphiql%2fpackage.json",
		"/playground/assets/%2e%2e/%2e%2e/go.mod",
		"/playground/assets/",
	} {
		if status, _ := getPath(path); status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, status)
		}
	}
}

// TestPlaygroundAssetsInBrowser runs a query in the Playground with every
// request off the machine refused: with PLAYGROUND_ASSETS_DIR the page needs
// none.
func TestPlaygroundAssetsInBrowser(t *testing.T) {
	chromium := servertest.NeedProgram(t, "chromium")
	modules := servertest.NeedNodeModules(t, frontendDir)
	s := playgroundServer(t, modules)
	id := storetest.IDs(t, 1)
	name := fmt.Sprintf("头条用户%d", id)
	s.AddUsers(t, headline.User{ID: id, Name: name})

	ctx := servertest.NewBrowser(t, chromium, &storetest.SyncBuffer{})
	console := servertest.RecordConsole(ctx)
	outside := servertest.ServeCDNFromNodeModules(t, ctx, t.TempDir()) // no files there: every https request is refused
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(servertest.QueryEditor),
		chromedp.WaitVisible(servertest.RunButton),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).CodeMirror.setValue(%q)`, servertest.QueryEditor, fmt.Sprintf(`{ user(id: "%d") { name } }`, id))),
		chromedp.Click(servertest.RunButton),
	); err != nil {
		_, refused := outside.Report()
		t.Fatalf("the Playground did not run a query: %v\nrefused: %q\nconsole:\n%s", err, refused, console)
	}
	got, err := chromedp.Run(ctx, chromedp.Poll[string](fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		return el && el.CodeMirror.getValue().includes('"name"') ? el.CodeMirror.getValue() : '';
	})()`, servertest.ResponseEditor), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil || !strings.Contains(got, name) {
		t.Fatalf("the Playground shows %q (%v)", got, err)
	}
	if served, refused := outside.Report(); len(served)+len(refused) > 0 {
		t.Errorf("the page asked outside the machine: served %q, refused %q", served, refused)
	}
	if errs := console.Errors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// cdnHint is the command the Playground's page gives for serving its
// scripts locally.
const cdnHint = "PLAYGROUND_ASSETS_DIR=$PWD/cmd/server/internal/api/testdata/frontend/node_modules go run ./cmd/server"

// TestPlaygroundPageExplainsAFailedCDN: the page served with scripts from
// the CDN carries, ahead of them, the note it shows if they fail; the
// commands in it name the folder whose package.json pins the versions the
// page needs. With PLAYGROUND_ASSETS_DIR it has no such note.
func TestPlaygroundPageExplainsAFailedCDN(t *testing.T) {
	resp, page := servertest.Get(t, playgroundServer(t, "").URL+"/")
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	note, cdn := strings.Index(page, `id="headline-cdn-note-template"`), strings.Index(page, `src="https://cdn.jsdelivr.net/`)
	if note < 0 || cdn < 0 || note > cdn {
		t.Fatalf("the note (at %d) is not ahead of the first CDN script (at %d):\n%.3000s", note, cdn, page)
	}
	for _, want := range []string{"npm ci --prefix cmd/server/internal/api/" + frontendDir + "\n", cdnHint} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	b, err := os.ReadFile(filepath.Join(frontendDir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct{ Dependencies map[string]string }
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	for _, a := range playgroundAssets {
		if got := pkg.Dependencies[a.pkg]; got != a.version {
			t.Errorf("%s/package.json pins %s at %q; the page needs %s", frontendDir, a.pkg, got, a.version)
		}
	}
	if !strings.Contains(page, "node_modules go run") || !strings.HasSuffix(filepath.ToSlash(frontendDir), "testdata/frontend") {
		t.Errorf("the hint's folder is not %s/node_modules", frontendDir)
	}

	modules := servertest.NeedNodeModules(t, frontendDir)
	if _, page := servertest.Get(t, playgroundServer(t, modules).URL+"/"); strings.Contains(page, "headline-cdn-note") {
		t.Errorf("with PLAYGROUND_ASSETS_DIR the page still carries the CDN note")
	}
}

// TestPlaygroundInBrowserWithoutTheCDN opens the Playground in Chromium
// with the CDN out of reach — refusing every request off the machine, or
// never answering — and reads what the page shows instead of "Loading…".
func TestPlaygroundInBrowserWithoutTheCDN(t *testing.T) {
	chromium := servertest.NeedProgram(t, "chromium")
	url := playgroundServer(t, "").URL
	_, served := servertest.Get(t, url+"/")
	var assets []string
	for _, m := range regexp.MustCompile(`(?:src|href)="(https://[^"]+)"`).FindAllStringSubmatch(served, -1) {
		assets = append(assets, m[1])
	}
	for _, tc := range []struct {
		name    string
		browser func(t *testing.T) context.Context
		within  time.Duration
	}{
		{"every request refused", func(t *testing.T) context.Context {
			ctx := servertest.NewBrowser(t, chromium, &storetest.SyncBuffer{})
			servertest.ServeCDNFromNodeModules(t, ctx, t.TempDir()) // no files there: each is refused
			return ctx
		}, 20 * time.Second},
		{"a CDN that accepts and never answers", func(t *testing.T) context.Context {
			// As behind a firewall that drops: nothing fails for minutes.
			silent := storetest.StartUnanswering(t)
			return servertest.NewBrowser(t, chromium, &storetest.SyncBuffer{},
				chromedp.Flag("host-resolver-rules", "MAP cdn.jsdelivr.net "+silent.Addr))
		}, 40 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.browser(t)
			ctx, cancel := context.WithTimeout(ctx, tc.within)
			defer cancel()
			began := time.Now()
			// Not chromedp.Navigate, which waits for the load event: with a
			// CDN that never answers, it comes when the browser gives up.
			if _, err := chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: url + "/"}); err != nil {
				t.Fatalf("navigate: %v", err)
			}
			shown, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
				const note = document.getElementById('headline-cdn-note');
				const drawn = performance.getEntriesByType('paint').some(e => e.name === 'first-contentful-paint');
				return note && note.checkVisibility() && drawn ? document.documentElement.innerText : '';
			})()`, chromedp.WithPollingTimeout(tc.within)))
			if err != nil {
				t.Fatalf("no note drawn on the page: %v", err)
			}
			t.Logf("the note showed %v after the navigation began", time.Since(began).Round(time.Millisecond))
			for _, want := range []string{"could not load its scripts", "npm ci --prefix cmd/server/internal/api/testdata/frontend", cdnHint} {
				if !strings.Contains(shown, want) {
					t.Errorf("the page shows no %q:\n%s", want, shown)
				}
			}
			if strings.Contains(shown, "Loading…") {
				t.Errorf("the page still shows Loading…:\n%s", shown)
			}
			for _, a := range assets {
				if !strings.Contains(shown, html.UnescapeString(a)) {
					t.Errorf("the note does not list %s:\n%s", a, shown)
				}
			}
			// What a person sees: the page is drawn.
			if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err != nil {
				t.Errorf("screenshot: %v", err)
			} else {
				shot := filepath.Join(servertest.ArtifactDir(t), "playground-cdn-"+strings.ReplaceAll(tc.name, " ", "-")+".png")
				if err := os.WriteFile(shot, png, 0o644); err == nil {
					t.Logf("screenshot: %s", shot)
				}
			}
		})
	}
}
