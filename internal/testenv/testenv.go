// Package testenv lets tests that need root, Debian packages or built VM
// images skip on a developer's machine that lacks them but fail in CI,
// where scripts/test.sh installs everything (CI=true or NITRO_REQUIRE_E2E=1).
package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// SmallFS mounts a new file system of size bytes for t and returns its
// mount point, unmounted when t ends: kind "tmpfs" (memory), or "ext4" (an
// image file in t.TempDir formatted with mkfs.ext4 -m 0, so that root has
// no reserved blocks either, loop-mounted). Tests of what happens when a
// disk fills use it. It needs root (and e2fsprogs for ext4): it skips, or
// fails when Required, without them.
func SmallFS(t testing.TB, kind string, size int64) string {
	t.Helper()
	Root(t)
	mountBin := Tool(t, "mount")
	umountBin := Tool(t, "umount")
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	var args []string
	switch kind {
	case "tmpfs":
		args = []string{"-t", "tmpfs", "-o", "size=" + strconv.FormatInt(size, 10), "tmpfs", mnt}
	case "ext4":
		mkfs := Tool(t, "mkfs.ext4")
		img := filepath.Join(dir, "fs.img")
		if err := os.WriteFile(img, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, size); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(mkfs, "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
			t.Fatalf("mkfs.ext4: %v\n%s", err, out)
		}
		args = []string{"-o", "loop", img, mnt}
	default:
		t.Fatalf("SmallFS: unknown kind %q", kind)
	}
	if out, err := exec.Command(mountBin, args...).CombinedOutput(); err != nil {
		Need(t, false, fmt.Sprintf("mount %s: %v: %s", strings.Join(args, " "), err, out))
	}
	t.Cleanup(func() {
		out, err := exec.Command(umountBin, mnt).CombinedOutput()
		if err != nil {
			// Busy (a process of the test still holds a file): detach it
			// now, the kernel frees it when the last user goes.
			if out2, err2 := exec.Command(umountBin, "-l", mnt).CombinedOutput(); err2 != nil {
				t.Errorf("umount %s: %v: %s; %v: %s", mnt, err, out, err2, out2)
			}
		}
	})
	return mnt
}
