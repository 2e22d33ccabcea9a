package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPlaygroundAssets serves the Playground's scripts from node_modules
// (PLAYGROUND_ASSETS_DIR): the page names no CDN, each file it names is
// served with the hash the page asks for, and nothing else is served.
func TestPlaygroundAssets(t *testing.T) {
	modules := needNodeModules(t)
	addr, _, _ := startEmbedded(t, "-playground-assets-dir", modules)
	base := "http://" + addr
	getPath := func(path string) (int, []byte) {
		t.Helper()
		resp, body := get(t, base+path)
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

// TestPlaygroundAssetsInBrowser runs a query in the Playground with every
// request off the machine refused: with PLAYGROUND_ASSETS_DIR the page needs
// none.
func TestPlaygroundAssetsInBrowser(t *testing.T) {
	chromium := needProgram(t, "chromium")
	modules := needNodeModules(t)
	addr, _, _ := startEmbedded(t, "-embedded-demo-users", "50", "-playground-assets-dir", modules)

	ctx := newBrowser(t, chromium, &syncBuffer{})
	console := recordConsole(ctx)
	outside := serveCDNFromNodeModules(t, ctx, t.TempDir()) // no files there: every https request is refused
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+addr+"/"),
		chromedp.WaitVisible(queryEditor),
		chromedp.WaitVisible(runButton),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).CodeMirror.setValue(%q)`, queryEditor, `{ user(id: "3") { name } }`)),
		chromedp.Click(runButton),
	); err != nil {
		_, refused := outside.report()
		t.Fatalf("the Playground did not run a query: %v\nrefused: %q\nconsole:\n%s", err, refused, console)
	}
	got, err := chromedp.Run(ctx, chromedp.Poll[string](fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		return el && el.CodeMirror.getValue().includes('"name"') ? el.CodeMirror.getValue() : '';
	})()`, responseEditor), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil || !strings.Contains(got, "头条用户3") {
		t.Fatalf("the Playground shows %q (%v)", got, err)
	}
	if served, refused := outside.report(); len(served)+len(refused) > 0 {
		t.Errorf("the page asked outside the machine: served %q, refused %q", served, refused)
	}
	if errs := console.errors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}
