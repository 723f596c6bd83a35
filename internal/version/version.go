// Package version reports which Nitro build is running, from the build
// information the Go toolchain embeds in the binary (runtime/debug): the
// main module's version and the VCS revision it was built from.
package version

import (
	"fmt"
	"runtime/debug"
)

// Info identifies a build. The JSON keys are those of /info's "nitro" key
// and of `nitro version --json`.
type Info struct {
	// Version is the main module's version: a tag ("v1.2.0"), a pseudo
	// version ("v0.0.0-20261129113000-2364baa1b2c3+dirty") when `go build`
	// ran in a git checkout, or "(devel)" when it had no VCS information
	// (go test, -buildvcs=false).
	Version string `json:"version"`
	// Revision is the VCS commit ("" when unknown) and Modified whether
	// the work tree had uncommitted changes.
	Revision string `json:"revision,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	// Time is the commit time in RFC 3339 ("" when unknown).
	Time string `json:"time,omitempty"`
	// GoVersion is the toolchain that built the binary ("go1.26.8").
	GoVersion string `json:"go_version"`
}

// Get returns the running binary's build information. Without embedded
// build information (never the case for a Go-built binary) it returns
// Version "unknown".
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown"}
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String is the one line `nitro version` prints:
// "nitro v1.2.0 (revision 2364baa1b2c3, 2026-11-29T11:30:00Z, modified) go1.26.8".
func (in Info) String() string {
	s := "nitro " + in.Version
	if in.Revision != "" {
		rev := in.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " (revision " + rev
		if in.Time != "" {
			s += ", " + in.Time
		}
		if in.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return fmt.Sprintf("%s %s", s, in.GoVersion)
}
