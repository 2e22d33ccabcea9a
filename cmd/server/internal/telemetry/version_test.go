package telemetry

import (
	"runtime/debug"
	"testing"
)

func TestBuildInfoFrom(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{
			"a build in a clean checkout",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261126150000-913316f1a2b3"}, Settings: []debug.BuildSetting{
				{Key: "-buildmode", Value: "exe"},
				{Key: "vcs", Value: "git"},
				{Key: "vcs.revision", Value: "913316f1a2b3c4d5e6f708192a3b4c5d6e7f8091"},
				{Key: "vcs.time", Value: "2026-11-26T15:00:00Z"},
				{Key: "vcs.modified", Value: "false"},
			}}, true,
			"headline version=v0.0.0-20261126150000-913316f1a2b3 revision=913316f1a2b3c4d5e6f708192a3b4c5d6e7f8091 time=2026-11-26T15:00:00Z modified=false go=go1.26.8",
		},
		{
			"a tagged build with changes in the work tree",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0+dirty"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.time", Value: "2026-11-20T08:00:00Z"}, {Key: "vcs.modified", Value: "true"},
			}}, true,
			"headline version=v1.4.0+dirty revision=abc time=2026-11-20T08:00:00Z modified=true go=go1.26.8",
		},
		{
			"built with -buildvcs=false",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true,
			"headline version=(devel) revision=unknown time=unknown modified=unknown go=go1.26.8",
		},
		{"no build information", nil, false, "headline version=unknown revision=unknown time=unknown modified=unknown go=unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := buildInfoFrom(tc.bi, tc.ok).String(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
