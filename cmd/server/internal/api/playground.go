package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql/playground"
)

// The Playground's page (gqlgen's GraphiQL) loads its scripts and CSS from a
// CDN, which a machine on a closed network cannot reach. With
// PLAYGROUND_ASSETS_DIR naming a node_modules folder that holds these npm
// packages (`npm install graphiql@4.1.2 react@18.2.0 react-dom@18.2.0`, or
// `npm ci` in cmd/server/internal/api/testdata/frontend), the server serves
// these four files itself and the page loads them from it. The versions are
// the ones gqlgen's page is written for.
var playgroundAssets = []struct {
	name    string // under /playground/assets/
	pkg     string
	version string
	file    string // inside the package
}{
	{"graphiql.min.js", "graphiql", "4.1.2", "graphiql.min.js"},
	{"graphiql.min.css", "graphiql", "4.1.2", "graphiql.min.css"},
	{"react.production.min.js", "react", "18.2.0", "umd/react.production.min.js"},
	{"react-dom.production.min.js", "react-dom", "18.2.0", "umd/react-dom.production.min.js"},
}

const playgroundAssetsPath = "/playground/assets/"

// PlaygroundAssets are the Playground's scripts, served by the server.
type PlaygroundAssets struct {
	opts  []playground.GraphiqlConfigOption // point the page at the server's copies
	serve http.Handler                      // serves exactly those files
}

// LocalPlayground checks dir's packages and returns the Playground options
// that point the page at the server's copies, with each file's SRI hash, and
// the handler that serves exactly those files.
func LocalPlayground(dir string) (*PlaygroundAssets, error) {
	files := make(map[string]string, len(playgroundAssets)) // name → path
	sri := make(map[string]string, len(playgroundAssets))
	for _, a := range playgroundAssets {
		if err := checkPackage(dir, a.pkg, a.version); err != nil {
			return nil, err
		}
		path := filepath.Join(dir, a.pkg, filepath.FromSlash(a.file))
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("PLAYGROUND_ASSETS_DIR: %w", err)
		}
		sum := sha256.Sum256(b)
		files[a.name] = path
		sri[a.name] = "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
	}
	url := func(name string) string { return playgroundAssetsPath + name }
	opts := []playground.GraphiqlConfigOption{
		playground.WithGraphiqlVersion(url("graphiql.min.js"), url("graphiql.min.css"), sri["graphiql.min.js"], sri["graphiql.min.css"]),
		playground.WithGraphiqlReactVersion(url("react.production.min.js"), url("react-dom.production.min.js"),
			sri["react.production.min.js"], sri["react-dom.production.min.js"]),
	}
	serve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, ok := files[r.PathValue("name")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		http.ServeFile(w, r, path)
	})
	return &PlaygroundAssets{opts: opts, serve: serve}, nil
}

// checkPackage makes sure dir holds pkg at version: a different version's
// files would not fit gqlgen's page.
func checkPackage(dir, pkg, version string) error {
	b, err := os.ReadFile(filepath.Join(dir, pkg, "package.json"))
	if err != nil {
		return fmt.Errorf("PLAYGROUND_ASSETS_DIR: no npm package %s in %s (npm install %s@%s)", pkg, dir, pkg, version)
	}
	var meta struct{ Version string }
	if err := json.Unmarshal(b, &meta); err != nil || meta.Version != version {
		return fmt.Errorf("PLAYGROUND_ASSETS_DIR: %s is at %q in %s, the Playground needs %s (npm install %s@%s)",
			pkg, meta.Version, dir, version, pkg, version)
	}
	return nil
}

// playgroundHandler serves gqlgen's Playground page. With its scripts from
// the CDN (fromCDN), the page also carries a note that takes the place of
// its "Loading…" when they cannot be fetched — on a closed network the
// page would otherwise stay blank — saying what failed and how to serve
// them from the server. The page is gqlgen's own, unchanged but for that
// (its scripts' SRI included); it depends on no request, so that page is
// rendered once. With the scripts served locally, gqlgen's handler renders
// it for each request.
func playgroundHandler(opts []playground.GraphiqlConfigOption, fromCDN bool) http.Handler {
	gqlgen := playground.Handler("headline", "/graphql", opts...)
	if !fromCDN {
		return gqlgen
	}
	rec := &pageRecorder{header: http.Header{}}
	gqlgen.ServeHTTP(rec, &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}})
	page := rec.body.Bytes()
	// First in <head>: the listener must be there before the scripts
	// whose failures it hears of.
	var files strings.Builder
	for _, m := range cdnFileRE.FindAllSubmatch(page, -1) {
		fmt.Fprintf(&files, "<li>%s</li>", m[1]) // as the page has it: HTML-escaped
	}
	if i := bytes.Index(page, []byte("<head>")); i >= 0 {
		i += len("<head>")
		page = slices.Concat(page[:i], fmt.Appendf(nil, cdnFailureNote, files.String()), page[i:])
	}
	contentType := rec.header.Get("Content-Type")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(page)
	})
}

// cdnFileRE finds the files gqlgen's page loads from outside.
var cdnFileRE = regexp.MustCompile(`(?:src|href)="(https://[^"]+)"`)

// pageRecorder keeps what a handler writes.
type pageRecorder struct {
	header http.Header
	body   bytes.Buffer
}

func (r *pageRecorder) Header() http.Header         { return r.header }
func (r *pageRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *pageRecorder) WriteHeader(int)             {}

// cdnFailureNote is put first in the page's <head>, with the list of the
// files the page loads from the CDN for %s. It counts the scripts and
// stylesheets that load or fail (resource events do not bubble, but window
// sees them while capturing). Once the page has loaded without GraphiQL, it
// shows the note in place of "Loading…". A network that drops packets
// rather than refusing them fails nothing for minutes, and the browser draws
// nothing while the parser waits on the first script: if no file at all has
// answered after 15 s, the note replaces the document. A slow CDN that has
// sent one file is waited for.
const cdnFailureNote = `
<template id="headline-cdn-note-template">
  <div id="headline-cdn-note" style="max-width:60rem;margin:3rem auto;padding:0 1rem;font:16px/1.5 system-ui,sans-serif">
    <h1 style="font-size:1.5rem">The Playground could not load its scripts</h1>
    <p>This browser could not fetch GraphiQL and React from the CDN (cdn.jsdelivr.net):
    this machine or its network cannot reach it. The API works without them: POST /graphql.</p>
    <p>The files:</p>
    <ul style="font-family:monospace;font-size:.85rem">%s</ul>
    <p>To have headline serve these files itself, run, in a checkout of headline
    (npm needs its registry or a mirror; the folder can also be copied from a machine that has one):</p>
    <pre style="background:#f4f4f4;padding:.75rem;overflow-x:auto;font-size:.85rem">npm ci --prefix cmd/server/internal/api/testdata/frontend
PLAYGROUND_ASSETS_DIR=$PWD/cmd/server/internal/api/testdata/frontend/node_modules go run ./cmd/server</pre>
    <p>PLAYGROUND_ASSETS_DIR may name any node_modules folder that holds graphiql@4.1.2,
    react@18.2.0 and react-dom@18.2.0.</p>
  </div>
</template>
<script>
(function () {
  var answered = 0;
  function file(e) { return e.target && (e.target.tagName === 'SCRIPT' || e.target.tagName === 'LINK'); }
  window.addEventListener('error', function (e) { if (file(e)) answered++; }, true);
  window.addEventListener('load', function (e) { if (file(e)) answered++; }, true);
  function note() {
    return document.getElementById('headline-cdn-note-template').content.cloneNode(true);
  }
  window.addEventListener('load', function () {
    if (typeof GraphiQL === 'undefined') document.getElementById('graphiql').replaceChildren(note());
  });
  setTimeout(function () {
    if (typeof GraphiQL !== 'undefined' || answered > 0) return;
    var div = document.createElement('div');
    div.appendChild(note());
    var title = document.title;
    document.open();
    document.write('<!DOCTYPE html><meta charset="utf-8"><title></title><body style="margin:0">' + div.innerHTML + '</body>');
    document.close();
    document.title = title;
  }, 15000);
})();
</script>
`
