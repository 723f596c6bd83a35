package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// TestDeployInstallScript runs the documented install, deploy/install.sh
// (the steps deploy/nitro.service's comments list), as on a fresh Debian
// but into a scratch root (ROOT=DIR: useradd --prefix, systemctl --root),
// with the binary just built. The root starts with nothing but root's
// entries in etc/{passwd,group,shadow,gshadow}, so a step that uses the
// nitro user or group before creating it fails here. Then it checks what
// was installed (owners, modes, the enabled unit), runs the script again
// (an upgrade keeps an edited configuration), and runs `systemd-analyze
// verify` on the installed unit against that root: any warning fails.
// systemd's own units are copied into the root from the host (the unit
// needs multi-user.target and sysinit.target to resolve); systemd need not
// run (it is not PID 1 here).
func TestDeployInstallScript(t *testing.T) {
	testenv.Root(t)
	analyze := testenv.Tool(t, "systemd-analyze")
	testenv.Tool(t, "systemctl")
	testenv.Tool(t, "useradd")
	testenv.Need(t, dirExists("/usr/lib/systemd/system"), "systemd package (/usr/lib/systemd/system)")
	bin := nitroBinary(t)

	root := t.TempDir()
	for name, content := range map[string]string{
		"etc/passwd":  "root:x:0:0:root:/root:/bin/bash\n",
		"etc/group":   "root:x:0:\n",
		"etc/shadow":  "root:*:20000:0:99999:7:::\n",
		"etc/gshadow": "root:*::\n",
	} {
		writeFile(t, filepath.Join(root, name), content, 0o600)
	}
	install := func() string {
		t.Helper()
		cmd := exec.Command("sh", filepath.Join(moduleRoot, "deploy", "install.sh"), bin)
		cmd.Env = append(os.Environ(), "ROOT="+root)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ROOT=%s deploy/install.sh: %v\n%s", root, err, out)
		}
		return string(out)
	}
	checkUnitStepsMatchScript(t)
	out := install()
	t.Logf("ROOT=%s deploy/install.sh %s:\n%s", root, bin, out)

	passwd := readFile(t, filepath.Join(root, "etc/passwd"))
	if !strings.Contains(passwd, ":/var/lib/nitro:/usr/sbin/nologin\n") || !strings.HasPrefix(strings.SplitN(passwd, "\n", 3)[1], "nitro:x:") {
		t.Errorf("etc/passwd:\n%s", passwd)
	}
	var gid string
	for _, l := range strings.Split(readFile(t, filepath.Join(root, "etc/group")), "\n") {
		if f := strings.Split(l, ":"); len(f) == 4 && f[0] == "nitro" {
			gid = f[2]
		}
	}
	if gid == "" {
		t.Fatal("no group nitro in etc/group")
	}
	for _, c := range []struct {
		path, mode, owner string
	}{
		{"usr/local/bin/nitro", "755", "0:0"},
		{"etc/nitro/nitro.yaml", "640", "0:" + gid},
		{"etc/systemd/system/nitro.service", "644", "0:0"},
		{"usr/share/doc/nitro/README.md", "644", "0:0"},
	} {
		st, err := exec.Command("stat", "-c", "%a %u:%g", filepath.Join(root, c.path)).Output()
		if got, want := strings.TrimSpace(string(st)), c.mode+" "+c.owner; err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", c.path, got, err, want)
		}
	}
	if l, err := os.Readlink(filepath.Join(root, "etc/systemd/system/multi-user.target.wants/nitro.service")); err != nil || l != "/etc/systemd/system/nitro.service" {
		t.Errorf("unit not enabled: %q %v", l, err)
	}
	if v, err := exec.Command(filepath.Join(root, "usr/local/bin/nitro"), "--version").Output(); err != nil || !strings.HasPrefix(string(v), "nitro ") {
		t.Errorf("installed nitro --version: %q %v", v, err)
	}

	// Again, as an upgrade: the operator's configuration stays.
	cfgPath := filepath.Join(root, "etc/nitro/nitro.yaml")
	edited := readFile(t, cfgPath) + "# edited by the operator\n"
	writeFile(t, cfgPath, edited, 0o640)
	install()
	if readFile(t, cfgPath) != edited {
		t.Error("a second install.sh replaced the edited configuration")
	}
	if n := strings.Count("\n"+readFile(t, filepath.Join(root, "etc/passwd")), "\nnitro:"); n != 1 {
		t.Errorf("%d nitro users after a second install", n)
	}

	// systemd-analyze verify against the root: systemd's units and the
	// programs the unit runs (ExecStart is installed; ExecReload's kill
	// comes from the host).
	copyTree(t, "/usr/lib/systemd/system", filepath.Join(root, "usr/lib/systemd/system"))
	for _, l := range []struct{ name, target string }{{"bin", "usr/bin"}, {"lib", "usr/lib"}, {"sbin", "usr/sbin"}} {
		if err := os.Symlink(l.target, filepath.Join(root, l.name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	kill, err := os.ReadFile("/usr/bin/kill")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "usr/bin/kill"), string(kill), 0o755)
	cmd := exec.Command(analyze, "verify", "--man=no", "--root="+root, "/etc/systemd/system/nitro.service")
	var vout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &vout, &vout
	err = cmd.Run()
	t.Logf("%s: %v, output %q", strings.Join(cmd.Args, " "), err, vout.String())
	if err != nil || vout.Len() > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, vout.String())
	}
}

// checkUnitStepsMatchScript: the install steps that deploy/nitro.service's
// comments list are the commands deploy/install.sh runs, in the same
// order (the user before anything uses its group).
func checkUnitStepsMatchScript(t *testing.T) {
	t.Helper()
	unit := readFile(t, filepath.Join(moduleRoot, "deploy", "nitro.service"))
	script := readFile(t, filepath.Join(moduleRoot, "deploy", "install.sh"))
	var steps []string
	for _, l := range strings.Split(unit, "\n") {
		if f := strings.Fields(strings.TrimPrefix(l, "#   ")); strings.HasPrefix(l, "#   ") && len(f) > 0 &&
			(f[0] == "useradd" || f[0] == "install" || f[0] == "systemctl") {
			steps = append(steps, f[0]+" "+f[1])
		}
	}
	if len(steps) < 5 || steps[0] != "useradd --system" {
		t.Fatalf("install steps in deploy/nitro.service's comments: %q, want useradd first", steps)
	}
	at := 0
	for _, st := range steps {
		word, _, _ := strings.Cut(st, " ")
		loc := regexp.MustCompile(`(?m)^\s*` + word + ` `).FindStringIndex(script[at:])
		if loc == nil {
			t.Errorf("deploy/install.sh has no %q after byte %d (the unit's comments list %q)", word, at, steps)
			return
		}
		at += loc[1]
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// copyTree copies src to dst with cp -a (symlinks as they are).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v\n%s", src, dst, err, out)
	}
}
