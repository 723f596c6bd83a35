package glanceshim

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestNewTransID: Swift's form (swift/common/utils.py generate_trans_id:
// "tx" + 21 hex digits + "-" + the Unix time in 10 hex digits), different
// each time.
func TestNewTransID(t *testing.T) {
	re := regexp.MustCompile(`^tx[0-9a-f]{21}-([0-9a-f]{10})$`)
	seen := map[string]bool{}
	for range 100 {
		before := time.Now().Unix()
		id := newTransID()
		m := re.FindStringSubmatch(id)
		if m == nil {
			t.Fatalf("trans id %q not in Swift's form", id)
		}
		ts, _ := strconv.ParseInt(m[1], 16, 64)
		if ts < before || ts > time.Now().Unix() {
			t.Fatalf("trans id %q: time %d, want about %d", id, ts, before)
		}
		if want := fmt.Sprintf("%010x", ts); m[1] != want {
			t.Fatalf("trans id %q: time digits %s, want %s", id, m[1], want)
		}
		if seen[id] {
			t.Fatalf("trans id %q twice", id)
		}
		seen[id] = true
	}
}
