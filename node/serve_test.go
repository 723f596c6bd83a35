package node

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

var (
	buildOnce sync.Once
	nitroBin  string
	buildErr  error
	buildOut  []byte
)

func TestMain(m *testing.M) {
	code := m.Run()
	if nitroBin != "" {
		os.RemoveAll(filepath.Dir(nitroBin))
	}
	os.Exit(code)
}

// nitroBinary builds the nitro command once per test binary.
func nitroBinary(t *testing.T) string {
	t.Helper()
	testenv.Short(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nitro-bin")
		if err != nil {
			buildErr = err
			return
		}
		nitroBin = filepath.Join(dir, "nitro")
		cmd := exec.Command("go", "build", "-o", nitroBin, "github.com/nitro-cloud/nitro")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return nitroBin
}

var authLine = regexp.MustCompile(`^auth: curl -H 'X-Auth-User: ([^']+)' -H 'X-Auth-Key: ([^']+)' (http://\S+)/auth/v1\.0$`)

// TestServeCommand runs `nitro serve` without a config in an empty
// working dir (falling back to a config on port 0 when 8080 is taken),
// reads the credentials it prints, PUTs and GETs an object with them,
// sends SIGTERM and expects exit status 0 and the data in ./nitro-data.
func TestServeCommand(t *testing.T) {
	bin := nitroBinary(t)
	dir := t.TempDir()
	args := []string{"serve"}
	if ln, err := net.Listen("tcp", "127.0.0.1:8080"); err != nil {
		t.Logf("127.0.0.1:8080 is busy (%v): serving on port 0 from a config", err)
		cfgFile := filepath.Join(dir, "nitro.yaml")
		os.WriteFile(cfgFile, []byte("swift:\n  listen: 127.0.0.1:0\n"), 0o600)
		args = append(args, "--config", cfgFile)
	} else {
		ln.Close()
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	var m []string
	deadline := time.After(20 * time.Second)
	for m == nil {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("nitro serve exited without an auth line: %v\n%s", cmd.Wait(), stderr.String())
			}
			m = authLine.FindStringSubmatch(l)
		case <-deadline:
			t.Fatalf("no auth line after 20 s; stderr:\n%s", stderr.String())
		}
	}
	if m[1] != "test:tester" || m[2] != "testing" {
		t.Errorf("printed credentials %q %q", m[1], m[2])
	}
	c := login(t, m[3], m[1], m[2])
	c.must(201, "PUT", "/c", nil, nil)
	body := randomBytes(t, 1<<20)
	c.must(201, "PUT", "/c/o", nil, bytes.NewReader(body))
	_, got := c.must(200, "GET", "/c/o", nil, nil)
	if !bytes.Equal(got, body) {
		t.Fatal("GET returned other bytes")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("nitro serve after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("nitro serve still running 30 s after SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(dir, "nitro-data")); err != nil {
		t.Errorf("no ./nitro-data: %v", err)
	}

	// The offline commands open the stopped node's dir.
	for _, sub := range [][]string{{"gc", "--grace", "2h"}, {"fsck"}} {
		cmd := exec.Command(bin, sub...)
		cmd.Dir = dir
		if len(args) > 1 {
			cmd.Args = append(cmd.Args, args[1:]...)
		}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "{") {
			t.Errorf("nitro %s: %v\n%s", sub[0], err, out)
		}
	}
}

func TestPrintDefaultConfig(t *testing.T) {
	bin := nitroBinary(t)
	out, err := exec.Command(bin, "serve", "--print-default-config").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, DefaultYAML) {
		t.Fatal("--print-default-config differs from default.yaml")
	}
	cfg, err := Parse(bytes.NewReader(out), "printed")
	if err != nil || !cfg.DevAccounts() {
		t.Fatalf("printed default config: %v", err)
	}
}
