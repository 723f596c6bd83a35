package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// Benchmarks of the full node over loopback HTTP next to the raw chunkstore
// calls they wrap, to show the node's overhead (auth, namespace commit,
// HTTP): go test ./node -run - -bench . -benchtime 20x

const benchObject = 8 << 20

// benchPut PUTs body as name and fails b unless 201.
func benchPut(b *testing.B, client *http.Client, c *swiftClient, name string, body []byte) {
	req, _ := http.NewRequest("PUT", c.storageURL+name, bytes.NewReader(body))
	req.Header.Set("X-Auth-Token", c.token)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		b.Fatalf("PUT %s: %s", name, resp.Status)
	}
}

func benchNode(b *testing.B) (*running, *swiftClient) {
	r := startNode(b, testConfig(b))
	c := login(b, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/bench", nil, nil)
	return r, c
}

// BenchmarkPutObject PUTs 8 MiB of new random bytes per op.
func BenchmarkPutObject(b *testing.B) {
	_, c := benchNode(b)
	client := &http.Client{}
	b.SetBytes(benchObject)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		body := randomBytes(b, benchObject)
		b.StartTimer()
		benchPut(b, client, c, fmt.Sprintf("/bench/o%d", i), body)
	}
}

// BenchmarkPutObjectDuplicate PUTs the same 8 MiB per op: every chunk
// deduplicates, so this is the node's and chunker's cost without storage.
func BenchmarkPutObjectDuplicate(b *testing.B) {
	_, c := benchNode(b)
	client := &http.Client{}
	body := randomBytes(b, benchObject)
	b.SetBytes(benchObject)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchPut(b, client, c, fmt.Sprintf("/bench/o%d", i), body)
	}
}

// BenchmarkGetObject GETs one 8 MiB object per op.
func BenchmarkGetObject(b *testing.B) {
	_, c := benchNode(b)
	client := &http.Client{}
	body := randomBytes(b, benchObject)
	benchPut(b, client, c, "/bench/o", body)
	req, _ := http.NewRequest("GET", c.storageURL+"/bench/o", nil)
	req.Header.Set("X-Auth-Token", c.token)
	b.SetBytes(benchObject)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != benchObject {
			b.Fatalf("GET: %d bytes, %v", n, err)
		}
	}
}

// BenchmarkStoreWrite is the raw chunkstore.Write under BenchmarkPutObject.
func BenchmarkStoreWrite(b *testing.B) {
	r, _ := benchNode(b)
	ctx := context.Background()
	b.SetBytes(benchObject)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		body := randomBytes(b, benchObject)
		b.StartTimer()
		if _, _, err := r.store.Write(ctx, bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreRead is the raw chunkstore reader under BenchmarkGetObject.
func BenchmarkStoreRead(b *testing.B) {
	r, _ := benchNode(b)
	ctx := context.Background()
	rec, _, err := r.store.Write(ctx, bytes.NewReader(randomBytes(b, benchObject)))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchObject)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rd, err := r.store.NewReader(ctx, rec, 0, -1, nil)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, rd); err != nil || n != benchObject {
			b.Fatalf("read %d, %v", n, err)
		}
		rd.Close()
	}
}

// BenchmarkConcurrentPutOneContainer PUTs 4 KiB objects of new random
// bytes into one container from 20 and from 200 concurrent clients (b.N
// PUTs in all, shared among them), the load under which a per-write update
// of one container record made Badger transactions conflict. It reports
// the PUTs that failed with a 5xx as "5xx" (the total, not per op) and
// PUTs per second; it does not fail on them, so that it measures a store
// before the fix too:
//
//	go test ./node -run - -bench ConcurrentPutOneContainer -benchtime 2000x
func BenchmarkConcurrentPutOneContainer(b *testing.B) {
	for _, writers := range []int{20, 200} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			_, sc := benchNode(b)
			c := newLoadClient(sc, writers)
			var next, fails atomic.Int64
			var wg sync.WaitGroup
			b.SetBytes(4 << 10)
			b.ResetTimer()
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					body := make([]byte, 4<<10)
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						for j := 0; j < len(body); j += 8 {
							binary.LittleEndian.PutUint64(body[j:], rng.Uint64())
						}
						code, _, _, err := c.do("PUT", fmt.Sprintf("/bench/o%d", i), body)
						if err != nil || code >= 500 {
							fails.Add(1)
						} else if code != 201 {
							b.Errorf("PUT: %d", code)
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(fails.Load()), "5xx")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "PUT/s")
		})
	}
}
