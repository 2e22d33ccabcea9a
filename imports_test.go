package headline_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// mayImport is docs/architecture.md's rule as a table: for each package of
// the module (by path below it, "." the domain), the packages of the
// module its non-test code may import. An arrow only points down, and
// above the store a package reaches it through an interface of its own.
// A new package must be added here, which is when to decide what it may
// import; cmd/server, which wires everything, is not restricted.
var mayImport = map[string][]string{
	".":                              nil,
	"store/migrations":               nil,
	"store/localcache":               nil,
	"store/rediscache":               {"."},
	"store/sqldb":                    {".", "store/migrations"},
	"store":                          {".", "store/rediscache", "store/sqldb", "store/localcache"},
	"store/persisted":                {".", "store/rediscache"},
	"store/storetest":                {".", "store/sqldb"},
	"dataloaders":                    {".", "store"},
	"graph":                          {".", "dataloaders", "graph/internal/gqlgenrt"},
	"graph/internal/gqlgenrt":        nil,
	"graph/internal/generate":        nil,
	"cmd/server/internal/api":        {".", "graph", "dataloaders", "cmd/server/internal/telemetry", "store/rediscache", "store/sqldb"},
	"cmd/server/internal/telemetry":  {"store", "store/rediscache", "store/localcache"},
	"cmd/server/internal/settings":   nil,
	"cmd/server/internal/embedded":   {".", "store/sqldb"},
	"cmd/server/internal/gcpace":     nil,
	"cmd/server/internal/servertest": {".", "store/rediscache", "store/sqldb", "store/storetest"},
	"cmd/bench":                      {".", "store/rediscache", "store/localcache"},
	"cmd/server":                     {"*"},
}

// TestImportsFollowTheArchitecture reads every package's imports with go
// list and checks them against mayImport.
func TestImportsFollowTheArchitecture(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/headline/headline"
	rel := func(path string) (string, bool) {
		if path == module {
			return ".", true
		}
		r, ok := strings.CutPrefix(path, module+"/")
		return r, ok
	}
	seen := map[string]bool{}
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		fields := strings.Fields(line)
		pkg, _ := rel(fields[0])
		seen[pkg] = true
		allowed, ok := mayImport[pkg]
		if !ok {
			t.Errorf("package %s is not in mayImport: add it with what it may import (docs/architecture.md)", pkg)
			continue
		}
		if slices.Contains(allowed, "*") {
			continue
		}
		for _, imp := range fields[1:] {
			if r, ours := rel(imp); ours && !slices.Contains(allowed, r) {
				t.Errorf("%s imports %s, which docs/architecture.md does not allow it", pkg, r)
			}
		}
	}
	for pkg := range mayImport {
		if !seen[pkg] {
			t.Errorf("mayImport names %s, which go list did not list", pkg)
		}
	}
}
