package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/99designs/gqlgen/graphql/playground"
)

// The Playground's page (gqlgen's GraphiQL) loads its scripts and CSS from a
// CDN, which a machine on a closed network cannot reach. With
// PLAYGROUND_ASSETS_DIR naming a node_modules folder that holds these npm
// packages (`npm install graphiql@4.1.2 react@18.2.0 react-dom@18.2.0`, or
// `npm ci` in cmd/server/testdata/frontend), the server serves these four
// files itself and the page loads them from it. The versions are the ones
// gqlgen's page is written for.
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

// localPlayground checks dir's packages and returns the Playground options
// that point the page at the server's copies, with each file's SRI hash, and
// the handler that serves exactly those files.
func localPlayground(dir string) ([]playground.GraphiqlConfigOption, http.Handler, error) {
	files := make(map[string]string, len(playgroundAssets)) // name → path
	sri := make(map[string]string, len(playgroundAssets))
	for _, a := range playgroundAssets {
		if err := checkPackage(dir, a.pkg, a.version); err != nil {
			return nil, nil, err
		}
		path := filepath.Join(dir, a.pkg, filepath.FromSlash(a.file))
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("PLAYGROUND_ASSETS_DIR: %w", err)
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
	return opts, serve, nil
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
