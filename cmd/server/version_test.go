package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/headline/headline/cmd/server/internal/servertest"
	"github.com/headline/headline/cmd/server/internal/telemetry"
)

func TestVersionFlag(t *testing.T) {
	want := telemetry.ReadBuildInfo()

	t.Run("run -version prints the build and returns nil without serving", func(t *testing.T) {
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := run(ctx, []string{"server", "-version"}, envOf(nil), &out); err != nil {
			t.Fatalf("run -version: %v", err)
		}
		if got := out.String(); got != want.String()+"\n" {
			t.Errorf("printed %q, want %q", got, want.String()+"\n")
		}
	})

	t.Run("the startup log line names the build", func(t *testing.T) {
		_, out, _ := startEmbedded(t, "-embedded-demo-users", "1")
		line := waitForLog(t, out, regexp.MustCompile(`(msg=listening .*)`))
		for _, kv := range []string{"version=" + want.Version, "revision=" + want.Revision, "modified=" + want.Modified} {
			if !strings.Contains(line, " "+kv) {
				t.Errorf("startup line %q lacks %s", line, kv)
			}
		}
	})

	t.Run("headline_build_info on /metrics", func(t *testing.T) {
		s := newTestServer(t)
		m := servertest.ScrapeMetrics(t, s.URL)
		series := m.Find(t, "headline_build_info",
			"version", want.Version, "revision", want.Revision, "vcs_time", want.Time, "modified", want.Modified, "goversion", want.GoVersion)
		if got := series.GetGauge().GetValue(); got != 1 {
			t.Errorf("headline_build_info = %v, want 1", got)
		}
		if n := len(m["headline_build_info"].GetMetric()); n != 1 {
			t.Errorf("%d headline_build_info series, want 1", n)
		}
	})
}

// TestVersionOfTheBinary builds the server and runs `server -version`: it
// must exit 0 and print what the Go toolchain stamped into the binary, as
// `go version -m` reads it. Go stamps VCS information only where `.git` is
// a directory (not in a linked git worktree, golang/go#58218); there the
// revision is also checked against git's HEAD.
func TestVersionOfTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, ".git"))
	_, gitErr := exec.LookPath("git")
	stamped := err == nil && fi.IsDir() && gitErr == nil
	buildvcs := "-buildvcs=false"
	if stamped {
		buildvcs = "-buildvcs=true"
	}
	bin := buildServer(t, t.TempDir(), buildvcs)

	// What the toolchain stamped, as `go version -m` reports it.
	meta, err := exec.Command(goTool(), "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	stamp := map[string]string{"mod": "unknown", "vcs.revision": "unknown", "vcs.time": "unknown", "vcs.modified": "unknown"}
	for _, l := range strings.Split(string(meta), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[0] == "mod":
			stamp["mod"] = f[2]
		case len(f) == 2 && f[0] == "build":
			if k, v, ok := strings.Cut(f[1], "="); ok {
				stamp[k] = v
			}
		}
	}
	first := strings.SplitN(string(meta), "\n", 2)[0] // "<path>: go1.26.8"
	goVersion := first[strings.LastIndex(first, " ")+1:]

	cmd := exec.Command(bin, "-version")
	cmd.Env = []string{} // no settings needed, none read
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("server -version: %v (want exit status 0)", err)
	}
	want := "headline version=" + stamp["mod"] + " revision=" + stamp["vcs.revision"] + " time=" + stamp["vcs.time"] +
		" modified=" + stamp["vcs.modified"] + " go=" + goVersion + "\n"
	if got := string(out); got != want {
		t.Errorf("server -version printed\n%q\nwant\n%q", got, want)
	}
	if !stamped {
		t.Logf("%s/.git is not a directory (a git worktree?) or git is missing: no VCS stamp to compare with git", root)
		return
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	if rev := strings.TrimSpace(string(head)); stamp["vcs.revision"] != rev {
		t.Errorf("the binary says revision %s, git's HEAD is %s", stamp["vcs.revision"], rev)
	}
}
