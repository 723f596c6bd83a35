package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"tagged", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "2364baa1b2c3d4e5f6"}, {Key: "vcs.time", Value: "2026-11-29T11:30:00Z"}}},
			"nitro v1.2.0 (revision 2364baa1b2c3, 2026-11-29T11:30:00Z) go1.26.8"},
		{"dirty", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261129113000-2364baa1b2c3+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "2364baa"}, {Key: "vcs.modified", Value: "true"}}},
			"nitro v0.0.0-20261129113000-2364baa1b2c3+dirty (revision 2364baa, modified) go1.26.8"},
		{"no vcs", debug.BuildInfo{GoVersion: "go1.26.8"}, "nitro (devel) go1.26.8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromBuildInfo(&tc.bi).String(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestGet(t *testing.T) {
	in := Get()
	if in.Version == "" || in.GoVersion == "" {
		t.Errorf("Get() = %+v: empty version or Go version", in)
	}
}
