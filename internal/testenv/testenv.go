// Package testenv lets tests that need root, Debian packages or built VM
// images skip on a developer's machine that lacks them but fail in CI,
// where scripts/test.sh installs everything (CI=true or NITRO_REQUIRE_E2E=1).
package testenv

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Required reports whether tests must not skip for a missing dependency:
// in CI (CI=true) or when NITRO_REQUIRE_E2E=1.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("NITRO_REQUIRE_E2E") == "1"
}

// Need skips t (or fails it, when Required) with reason if ok is false.
func Need(t testing.TB, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if Required() {
		t.Fatalf("required dependency missing: %s (scripts/test.sh installs it)", reason)
	}
	t.Skipf("skipping: %s (run scripts/test.sh to install it)", reason)
}

// Tool returns the path of the program name, skipping or failing t as Need
// does when it is not installed. Debian's tools are looked up in /usr/bin
// and /usr/sbin first, because pyenv's python3 shims shadow Debian's
// python3 on these machines.
func Tool(t testing.TB, name string) string {
	t.Helper()
	for _, dir := range []string{"/usr/bin", "/usr/sbin", "/sbin", "/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	p, err := exec.LookPath(name)
	Need(t, err == nil, name+" is not installed")
	return p
}

// Root skips or fails t unless the test runs as root.
func Root(t testing.TB) {
	t.Helper()
	Need(t, os.Geteuid() == 0, "needs root")
}

// Short skips t under `go test -short`, whatever Required says: -short is
// the developer's explicit request for the quick subset.
func Short(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping in -short mode")
	}
}

// Image is one entry of the VM image manifest written by
// scripts/vm-images.sh.
type Image struct {
	Name, Format, Path string
}

// Images returns the VM images listed in $NITRO_IMAGE_CACHE/manifest.tsv
// (default /var/cache/nitro-images), skipping or failing t when there are
// none.
func Images(t testing.TB) []Image {
	t.Helper()
	dir := os.Getenv("NITRO_IMAGE_CACHE")
	if dir == "" {
		dir = "/var/cache/nitro-images"
	}
	f, err := os.Open(filepath.Join(dir, "manifest.tsv"))
	Need(t, err == nil, "no VM images in "+dir+" (scripts/vm-images.sh builds them)")
	defer f.Close()
	var out []Image
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) < 3 || fs[0] == "name" {
			continue
		}
		out = append(out, Image{Name: fs[0], Format: fs[1], Path: fs[2]})
	}
	Need(t, len(out) > 0, "empty VM image manifest in "+dir)
	return out
}

// ImageNamed returns the image with the given name and format.
func ImageNamed(t testing.TB, name, format string) Image {
	t.Helper()
	for _, im := range Images(t) {
		if im.Name == name && im.Format == format {
			return im
		}
	}
	Need(t, false, "VM image "+name+"."+format+" not built")
	return Image{}
}
