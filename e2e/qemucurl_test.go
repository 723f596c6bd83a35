package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// qemu's curl block driver (Debian 12's qemu 7.2, block/curl.c) hangs a
// guest read for good when a transfer finishes inside a libcurl call after
// which qemu reads no completion: curl_multi_check_completion reads at
// most one CURLMSG_DONE per call, and the socket_action "kick" in
// curl_setup_preadv reads none, while a read completes only when its DONE
// message is read. Over a kept-alive connection a fast server's answer can
// finish inside such a call, its DONE is never read, its CURLState stays
// taken, and once all 8 are taken no transfer starts again. It is not
// Nitro's framing: qemu-io hangs the same way against net/http.FileServer
// (5 of 5 runs of 200 reads each), and not at all (0 of 20, against either
// server) when every answer closes its connection, since each transfer then
// starts with a connect whose write event makes qemu read one completion
// more. An LD_PRELOAD shim that only makes qemu's own timer fire while
// DONE messages wait (so qemu reads them) makes keep-alive hang-free too
// (0 of 20); see scripts/qemu-curl-hang.sh.

// qemuIOReads runs qemu-io on url through the http driver (no readahead):
// n aio reads of 4–128 KiB at random offsets below size, in batches of
// batch, each batch waited for (aio_flush). It returns how many reads
// completed and whether qemu-io finished within limit.
func qemuIOReads(t *testing.T, url string, size int64, seed uint64, n, batch int, limit time.Duration) (done int, finished bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 15))
	var cmds strings.Builder
	for i := 0; i < n; i++ {
		sz := []int64{4096, 4096, 4096, 8192, 16384, 65536, 131072}[rng.IntN(7)]
		fmt.Fprintf(&cmds, "aio_read %d %d\n", rng.Int64N(size-sz)&^4095, sz)
		if (i+1)%batch == 0 {
			cmds.WriteString("aio_flush\n")
		}
	}
	cmds.WriteString("aio_flush\n")
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Tool(t, "qemu-io"), "-r", "--image-opts",
		"driver=raw,file.driver=http,file.readahead=0,file.timeout=60,file.url="+strings.ReplaceAll(url, ",", ",,"))
	cmd.Stdin = strings.NewReader(cmds.String())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run() // killed (by its PID) at the limit
	done = len(regexp.MustCompile(`read \d+/\d+ bytes`).FindAllIndex(out.Bytes(), -1))
	return done, err == nil && ctx.Err() == nil
}

// TestQemuCurlDriverConnectionClose: qemu's http driver reads an object
// from a node with swift.disable_keep_alive (what a node serving qemu
// needs, see above) without hanging: 5 runs of 400 concurrent-batch reads
// each complete. A node with keep-alive is run once too and its outcome
// logged (not checked: it is qemu's bug; the day it stops hanging, the
// workaround can go).
func TestQemuCurlDriverConnectionClose(t *testing.T) {
	testenv.Short(t)
	testenv.Tool(t, "qemu-io")
	_, err := os.Stat("/usr/lib/x86_64-linux-gnu/qemu/block-curl.so")
	testenv.Need(t, err == nil, "qemu's http block driver (qemu-block-extra)")
	const size = 64 << 20
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{15}).Read(data)
	put := func(n *nitroNode) string {
		c := mustLogin(t, n.URL)
		resp, err := c.send("PUT", "/qemu", map[string]string{"X-Container-Read": ".r:*"}, nil)
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("PUT container: %v %v", resp, err)
		}
		resp.Body.Close()
		c.must(t, 201, "PUT", "/qemu/disk", data)
		return c.storage + "/qemu/disk"
	}
	closing := startNitro(t, nodeConfig{Comment: "e2e qemu curl driver, Connection: close", Swift: []string{"disable_keep_alive: true"}}.template())
	url := put(closing)
	for run := uint64(1); run <= 5; run++ {
		done, finished := qemuIOReads(t, url, size, run, 400, 16, 2*time.Minute)
		if !finished || done != 400 {
			t.Fatalf("run %d with Connection: close: %d of 400 reads done, finished %v", run, done, finished)
		}
	}
	kept := startNitro(t, nodeConfig{Comment: "e2e qemu curl driver, keep-alive"}.template())
	done, finished := qemuIOReads(t, put(kept), size, 1, 400, 16, 30*time.Second)
	t.Logf("QEMUCURL with keep-alive (qemu's bug, not checked): %d of 400 reads done, qemu-io finished: %v", done, finished)
}
