package chunkstore

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// crashObject is the deterministic content of object i of run iter: a
// shared prefix (dedup across objects) plus its own data, 64 KiB..1.6 MiB.
func crashObject(iter, i int) []byte {
	seed := uint64(iter*1000 + i + 1)
	rng := splitmix(seed)
	own := testData(seed, 64<<10+int(rng.next()%(1<<20)))
	return append(testData(999, int(rng.next()%(512<<10))), own...)
}

// TestCrashChild is the child of TestCrashRecovery: it writes objects to
// the store in $NITRO_CRASH_DIR forever, committing a record for each and
// printing "ACK <iter> <i> <recipeID>" after Write and Records.Update
// returned, until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("NITRO_CRASH_DIR")
	if dir == "" {
		t.Skip("child of TestCrashRecovery")
	}
	iter, _ := strconv.Atoi(os.Getenv("NITRO_CRASH_ITER"))
	s, err := Open(Config{Dir: dir}, nil)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	ctx := t.Context()
	for i := 0; ; i++ {
		rec, id, err := s.Write(ctx, bytes.NewReader(crashObject(iter, i)))
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(3)
		}
		key := fmt.Sprintf("obj/%03d/%05d", iter, i)
		if err := s.Records().Update(ctx, func(tx RecordTxn) error { return tx.Set([]byte(key), id[:]) }); err != nil {
			fmt.Println("ERR", err)
			os.Exit(3)
		}
		_ = rec
		os.Stdout.WriteString(fmt.Sprintf("ACK %d %d %s\n", iter, i, id)) // unbuffered
	}
}

// TestCrashRecovery runs TestCrashChild in a child process, kills it with
// SIGKILL at a random point, reopens the store and checks that it opens,
// passes fsck, and lost nothing that had been acknowledged: every ACKed
// object's record names its recipe, which reads back byte-exact. 20 rounds
// on one store.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	rng := splitmix(uint64(time.Now().UnixNano()))
	var live []recipe.ID
	acked := 0
	start := time.Now()
	for iter := 0; iter < 20; iter++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.v=false")
		cmd.Env = append(os.Environ(), "NITRO_CRASH_DIR="+dir, "NITRO_CRASH_ITER="+strconv.Itoa(iter))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		type ack struct {
			i  int
			id recipe.ID
		}
		acks := make(chan ack, 1000)
		readDone := make(chan error, 1)
		firstAck, ended := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(ended)
			defer close(acks)
			acked := false
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) == 4 && f[0] == "ACK" {
					i, _ := strconv.Atoi(f[2])
					id, err := recipe.ParseID(f[3])
					if err != nil {
						readDone <- err
						return
					}
					if !acked {
						acked = true
						close(firstAck)
					}
					acks <- ack{i, id}
				} else if len(f) > 0 && f[0] == "ERR" {
					readDone <- fmt.Errorf("child: %s", sc.Text())
					return
				}
			}
			readDone <- nil
		}()
		// The kill lands 150–750 ms after the child's first
		// acknowledged write, at a random point of the writes after it
		// (mid-Write, mid-commit, between). Counted from the child's
		// start, as before, a loaded machine (load ~15) spent most of
		// that in exec and Open, and 20 rounds acknowledged 7 writes.
		select {
		case <-firstAck:
		case <-ended: // the child failed (ERR) or exited: reported below
		case <-time.After(2 * time.Minute):
			t.Errorf("iter %d: no write acknowledged 2 min after the child started", iter)
		}
		delay := time.Duration(150+rng.next()%600) * time.Millisecond
		time.Sleep(delay)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		var got []ack
		for a := range acks {
			got = append(got, a)
		}
		if err := <-readDone; err != nil {
			t.Fatal(err)
		}
		cmd.Wait()

		s, err := Open(Config{Dir: dir}, nil)
		if err != nil {
			t.Fatalf("iter %d: reopen after SIGKILL: %v", iter, err)
		}
		ctx := t.Context()
		for _, a := range got {
			key := fmt.Sprintf("obj/%03d/%05d", iter, a.i)
			v, err := s.Records().Get(ctx, []byte(key))
			if err != nil || !bytes.Equal(v, a.id[:]) {
				t.Fatalf("iter %d: acked record %s lost: %v", iter, key, err)
			}
			rec, err := s.Recipe(ctx, a.id)
			if err != nil {
				t.Fatalf("iter %d: acked recipe %s lost: %v", iter, a.id, err)
			}
			want := crashObject(iter, a.i)
			r, err := s.NewReader(ctx, rec, 0, -1, nil)
			if err != nil {
				t.Fatal(err)
			}
			h := md5.New()
			n, err := io.Copy(h, r)
			r.Close()
			if err != nil || n != int64(len(want)) || [md5.Size]byte(h.Sum(nil)) != md5.Sum(want) {
				t.Fatalf("iter %d: object %d reads back wrong: %v", iter, a.i, err)
			}
			live = append(live, a.id)
		}
		acked += len(got)
		rep, err := s.Fsck(ctx, live, false)
		if err != nil || !rep.OK() {
			t.Fatalf("iter %d: fsck: %+v %v", iter, rep, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("iter %d: killed after %v, %d acked, fsck checked %d chunks %d recipes (unstamped %d, stray stamps %d)",
			iter, delay, len(got), rep.ChunksChecked, rep.RecipesChecked, rep.Unstamped, rep.StrayStamps)
	}
	if acked < 20 {
		t.Fatalf("only %d writes acknowledged in 20 rounds: the test proves little", acked)
	}
	t.Logf("%d acknowledged writes survived 20 SIGKILLs in %v", acked, time.Since(start))
}
