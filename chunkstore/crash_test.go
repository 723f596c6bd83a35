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

// crashAckTimeout bounds the wait for a child's acknowledged writes: far
// above the few seconds a loaded 2-core machine takes to start the child,
// open the store and write four objects.
const crashAckTimeout = 2 * time.Minute

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
// SIGKILL at a random point of its write loop, reopens the store and
// checks that it opens, passes fsck, and lost nothing that had been
// acknowledged: every ACKed object's record names its recipe, which reads
// back byte-exact. 20 rounds on one store.
//
// Where the kill lands is chosen by the child's progress, not the clock,
// so that a loaded machine (a child slow to start and write) does not
// turn the rounds into kills before the first write: a round waits until
// the child has acknowledged a random 1..4 writes (for up to
// crashAckTimeout) and kills it a random 0..100 ms later, in the middle of
// a later Write or Update. Every fifth round kills 0..300 ms after the
// start instead, whatever the child has done (mostly while it opens the
// store and recovers from the previous kill, or writes its first object).
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := splitmix(seed)
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
		go func() {
			defer close(acks)
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
					acks <- ack{i, id}
				} else if len(f) > 0 && f[0] == "ERR" {
					readDone <- fmt.Errorf("child: %s", sc.Text())
					return
				}
			}
			readDone <- nil
		}()
		// Kill after want acknowledged writes (0: after a delay alone).
		want := 1 + int(rng.next()%4)
		delay := time.Duration(rng.next()%100) * time.Millisecond
		if iter%5 == 4 {
			want, delay = 0, time.Duration(rng.next()%300)*time.Millisecond
		}
		var got []ack
		deadline := time.NewTimer(crashAckTimeout)
		for len(got) < want {
			select {
			case a, ok := <-acks:
				if !ok {
					cmd.Wait()
					t.Fatalf("iter %d: child exited after %d of %d acks: %v", iter, len(got), want, <-readDone)
				}
				got = append(got, a)
			case <-deadline.C:
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("iter %d: child acknowledged %d of %d writes in %v", iter, len(got), want, crashAckTimeout)
			}
		}
		deadline.Stop()
		time.Sleep(delay)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
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
		t.Logf("iter %d: killed %v after ack %d, %d acked, fsck checked %d chunks %d recipes (unstamped %d, stray stamps %d)",
			iter, delay, want, len(got), rep.ChunksChecked, rep.RecipesChecked, rep.Unstamped, rep.StrayStamps)
	}
	t.Logf("%d acknowledged writes survived 20 SIGKILLs in %v", acked, time.Since(start))
}
