package node

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestJSONLogIsNotSampled: the json logger keeps every line of a burst of
// equal messages (an access log under load); zap's production config
// would keep the first 100 of each second and every 100th after.
func TestJSONLogIsNotSampled(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w // zap opens "stderr" as os.Stderr when it builds
	c := Config{Region: "r1"}
	c.Log.Format, c.Log.Level = "json", "info"
	log, _, err := c.NewLoggerLevel()
	os.Stderr = stderr
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	done := make(chan int)
	go func() {
		lines := 0
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"msg":"access"`) {
				lines++
			}
		}
		done <- lines
	}()
	for range n {
		log.Info("access")
	}
	log.Sync()
	w.Close()
	if got := <-done; got != n {
		t.Fatalf("%d of %d access lines logged", got, n)
	}
}
