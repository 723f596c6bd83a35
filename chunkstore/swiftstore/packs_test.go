package swiftstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/chunkstore/swiftstore"
	"github.com/nitro-cloud/nitro/internal/swifttest"
)

// failPacks is a transport that refuses every PUT of a pack object with
// a 503 (a cluster whose pack PUTs fail), counting as counter does.
type failPacks struct{ counter }

func (f *failPacks) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "-"+swiftstore.KindPacks+"/") {
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
			Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}, Request: r}, nil
	}
	return f.counter.RoundTrip(r)
}

// listNames lists container's object names.
func listNames(t *testing.T, cl *swiftstore.Store, container string) []string {
	t.Helper()
	pages, err := objects.List(cl.Client(), container, objects.ListOpts{}).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names, err := objects.ExtractNames(pages)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestClusterPacks runs chunkstore on a real Swift (Debian's, started by
// the test) with packing on (Config.PackSize): the pack rules of
// chunkstore/packs.go, subtest by subtest.
func TestClusterPacks(t *testing.T) {
	e := &env{srv: swifttest.Start(t), packSize: 1 << 20}
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, prefix string)
	}{
		{"WriteReadVerifyAndLearn", func(t *testing.T, prefix string) {
			cnt := &counter{}
			a, cl := e.open(t, t.TempDir(), prefix, cnt, 0)
			in := data(21, 3<<20)
			rec, id := write(t, a, in)
			packs := listNames(t, cl, cl.Layout().Unsharded(swiftstore.KindPacks))
			idx := listNames(t, cl, cl.Layout().Unsharded(swiftstore.KindPackIndex))
			if p := cnt.get("PUT packs"); p < 2 || p != len(packs) || len(idx) != len(packs) {
				t.Errorf("pack PUTs %d, packs %d, indexes %d: want ≥ 2, equal", p, len(packs), len(idx))
			}
			if c, h := cnt.get("PUT chunks"), cnt.get("HEAD chunks"); c != 0 || h != 0 {
				t.Errorf("%d chunk PUTs, %d chunk HEADs in pack mode; want 0, 0", c, h)
			}
			checkRead(t, a, rec, in, "read back differs")
			// Every chunk is in exactly one pack, once, by the indexes.
			where := map[recipe.ChunkID]int{}
			for _, n := range idx {
				entries, err := cl.GetPackIndex(ctx, n, false)
				if err != nil {
					t.Fatal(err)
				}
				for _, en := range entries {
					where[en.ID]++
					b, _, err := cl.GetPackRange(ctx, n, en.Off, en.Len, nil)
					if err != nil {
						t.Fatal(err)
					}
					st, err := a.GetStored(ctx, en.ID)
					if err != nil || b[0] != byte(st.Codec) || !bytes.Equal(b[1:], st.Data) {
						t.Fatalf("chunk %s: pack bytes are not its stored form (%v)", en.ID.Short(), err)
					}
				}
			}
			for _, r := range rec.Refs {
				if where[r.ID] != 1 {
					t.Fatalf("chunk %s in %d packs", r.ID.Short(), where[r.ID])
				}
			}
			// A second node (its own Badger) learns the packs from their
			// indexes: reads with Range GETs, rewrites with no upload and
			// one HEAD per pack, not per chunk.
			cnt.reset()
			b, _ := e.open(t, t.TempDir(), prefix, cnt, 0)
			got, err := b.Recipe(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if data := readAll(t, b, got); !bytes.Equal(data, in) {
				t.Fatal("second node reads other bytes")
			}
			if g := cnt.get("GET chunks"); g != 0 {
				t.Errorf("second node: %d per-chunk GETs, want 0", g)
			}
			// Coalesced: back-to-back chunks of a pack in one Range GET.
			if g := cnt.get("GET packs"); g == 0 || g > 2*len(packs) {
				t.Errorf("second node read %d chunks with %d pack GETs; want 1..%d (two per pack at most)", len(rec.Refs), g, 2*len(packs))
			}
			cnt.reset()
			write(t, b, in)
			if p, h := cnt.get("PUT packs"), cnt.get("HEAD packs"); p != 0 || h > len(packs) || h == 0 {
				t.Errorf("same data on a second node: %d pack PUTs, %d pack HEADs; want 0, 1..%d", p, h, len(packs))
			}
			// A variant sharing most: only its new chunks are packed.
			cnt.reset()
			v2 := append(bytes.Clone(in[:1<<20]), data(22, 256<<10)...)
			v2 = append(v2, in[1<<20+256<<10:]...)
			write(t, b, v2)
			if p := cnt.get("PUT packs"); p != 1 {
				t.Errorf("variant: %d pack PUTs, want 1", p)
			}
		}},
		{"FailedPackFailsTheWrite", func(t *testing.T, prefix string) {
			f := &failPacks{}
			st, cl := e.open(t, t.TempDir(), prefix, f, 0)
			in := data(23, 2<<20)
			if _, _, err := st.Write(ctx, bytes.NewReader(in)); err == nil {
				t.Fatal("a write whose packs failed succeeded")
			}
			if n := len(listNames(t, cl, cl.Layout().Unsharded(swiftstore.KindPackIndex))); n != 0 {
				t.Errorf("%d pack indexes for failed packs", n)
			}
			if p := f.get("PUT recipes"); p != 0 {
				t.Errorf("a recipe was stored (%d PUTs) though its packs failed", p)
			}
			// Nothing was indexed: the same store, its cluster healthy
			// again, packs every chunk.
			st.Close()
			cnt := &counter{}
			st2, _ := e.open(t, t.TempDir(), prefix, cnt, 0)
			rec, _ := write(t, st2, in)
			checkRead(t, st2, rec, in, "read back differs")
		}},
		{"CorruptPackDetectedAndRepaired", func(t *testing.T, prefix string) {
			st, cl := e.open(t, t.TempDir(), prefix, nil, 0)
			in := data(24, 512<<10)
			rec, _ := write(t, st, in)
			ref := rec.Refs[0]
			good, err := st.GetStored(ctx, ref.ID)
			if err != nil {
				t.Fatal(err)
			}
			packs := listNames(t, cl, cl.Layout().Unsharded(swiftstore.KindPacks))
			if len(packs) != 1 {
				t.Fatalf("%d packs, want 1", len(packs))
			}
			r := objects.Download(ctx, cl.Client(), cl.Layout().Unsharded(swiftstore.KindPacks), packs[0], nil)
			body, err := r.ExtractContent()
			if err != nil {
				t.Fatal(err)
			}
			body[3] ^= 0xff // inside the first chunk
			rawPut(t, cl.Client(), cl.Layout().Unsharded(swiftstore.KindPacks), packs[0], body)
			var ce *chunkstore.CorruptChunkError
			if _, err := st.Get(ctx, ref.ID); !errors.As(err, &ce) {
				t.Fatalf("Get of a corrupt packed chunk: %v, want CorruptChunkError", err)
			}
			if err := st.Receive(ctx, ref.ID, good); err != nil {
				t.Fatal(err)
			}
			checkRead(t, st, rec, in, "read after repair differs")
		}},
		{"PackFossilFallback", func(t *testing.T, prefix string) {
			cnt := &counter{}
			st, cl := e.open(t, t.TempDir(), prefix, cnt, 0)
			in := data(25, 512<<10)
			rec, _ := write(t, st, in)
			sc, l := cl.Client(), cl.Layout()
			name := listNames(t, cl, l.Unsharded(swiftstore.KindPacks))[0]
			r := objects.Download(ctx, sc, l.Unsharded(swiftstore.KindPacks), name, nil)
			body, err := r.ExtractContent()
			if err != nil {
				t.Fatal(err)
			}
			// The region GC's first step on the pack.
			rawPut(t, sc, l.Unsharded(swiftstore.KindPackFossils), name, body)
			if err := objects.Delete(ctx, sc, l.Unsharded(swiftstore.KindPacks), name, nil).Err; err != nil {
				t.Fatal(err)
			}
			checkRead(t, st, rec, in, "read from a pack fossil differs")
			// Writes no longer rely on the fossil: its chunks are packed again.
			cnt.reset()
			write(t, st, in)
			if p := cnt.get("PUT packs"); p != 1 {
				t.Errorf("rewrite over a fossil pack: %d pack PUTs, want 1", p)
			}
		}},
		{"LegacyChunkObjectsStayReadable", func(t *testing.T, prefix string) {
			old := &env{srv: e.srv}
			a, _ := old.open(t, t.TempDir(), prefix, nil, 0)
			in := data(26, 1<<20)
			_, id := write(t, a, in)
			cnt := &counter{}
			b, _ := e.open(t, t.TempDir(), prefix, cnt, 0)
			rec, err := b.Recipe(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			checkRead(t, b, rec, in, "pack-mode node reads per-chunk objects wrong")
			if g := cnt.get("GET chunks"); g == 0 {
				t.Error("no per-chunk GETs: where did the bytes come from?")
			}
			// Written again in pack mode: no HEAD per chunk; the chunks the
			// reads indexed are relied on, the rest packed (duplicates).
			cnt.reset()
			rec2, _ := write(t, b, in)
			checkRead(t, b, rec2, in, "read back differs")
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, "p"+string(rune('a'+i)))
		})
	}
}
