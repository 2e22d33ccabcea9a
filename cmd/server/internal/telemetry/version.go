package telemetry

import (
	"fmt"
	"runtime/debug"
)

// BuildInfo is what the binary knows of its own build: the module version
// and the VCS state go build stamped into it ("unknown" when it stamped
// none: built with -buildvcs=false, outside a repository, or a test).
type BuildInfo struct {
	Version   string // module version: a tag, a pseudo-version, or "(devel)"
	Revision  string // vcs.revision: the commit
	Time      string // vcs.time: the commit's time, RFC 3339
	Modified  string // vcs.modified: "true" when the work tree had changes
	GoVersion string
}

// ReadBuildInfo reads the running binary's build information.
func ReadBuildInfo() BuildInfo { return buildInfoFrom(debug.ReadBuildInfo()) }

func buildInfoFrom(bi *debug.BuildInfo, ok bool) BuildInfo {
	b := BuildInfo{Version: "unknown", Revision: "unknown", Time: "unknown", Modified: "unknown", GoVersion: "unknown"}
	if !ok || bi == nil {
		return b
	}
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		b.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value
		}
	}
	return b
}

// String is what `server -version` prints: one line of key=value pairs, as
// the startup log line has them.
func (b BuildInfo) String() string {
	return fmt.Sprintf("headline version=%s revision=%s time=%s modified=%s go=%s",
		b.Version, b.Revision, b.Time, b.Modified, b.GoVersion)
}
