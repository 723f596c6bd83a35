package node

import (
	"context"

	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/lazy"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
)

// BootProfile is an object's boot profile as the ops listener shows it
// (GET /profile?object=ACCOUNT/CONTAINER/OBJECT, `nitro profile`): the
// chunks the first Range reads of its content touched, in first-touch
// order (see node/internal/lazy).
type BootProfile struct {
	Object string `json:"object"`
	Recipe string `json:"recipe"`
	// Region recorded the profile, at RecordedAt (RFC 3339).
	Region     string `json:"region"`
	RecordedAt string `json:"recorded_at"`
	// Chunks is the number of refs in the profile, PlainBytes their plain
	// size; ObjectChunks and ObjectBytes are the object's, for the
	// fraction.
	Chunks       int   `json:"chunks"`
	PlainBytes   int64 `json:"plain_bytes"`
	ObjectChunks int   `json:"object_chunks"`
	ObjectBytes  int64 `json:"object_bytes"`
	// StoredBytes is the stored (compressed, wire) size of the profile's
	// distinct chunks that this node holds, HeldChunks their number: at a
	// region that holds the object, what following the profile moves.
	StoredBytes int64 `json:"stored_bytes"`
	HeldChunks  int   `json:"held_chunks"`
	// Refs are the ref indices in first-touch order.
	Refs []int32 `json:"refs"`
}

// LazyStats are the readahead and boot profile counters of a
// multi-region node (lazy.Stats), in GET /profile/stats.
type LazyStats = lazy.Stats

// errNoProfile says an object has no boot profile (404).
var errNoProfile = errors.New("no boot profile")

// profileTarget resolves "account/container/object" to its record and
// recipe.
func (n *Node) profileTarget(ctx context.Context, object string) (*namespace.Record, *recipe.Recipe, error) {
	parts := strings.SplitN(object, "/", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return nil, nil, fmt.Errorf("%w: object %q: want ACCOUNT/CONTAINER/OBJECT", errBadProfileArg, object)
	}
	rec, err := n.ns.GetLive(ctx, namespace.ObjectKey(parts[0], parts[1], parts[2]))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: object %s: %w", errNoProfile, object, err)
	}
	if rec.Recipe.IsZero() {
		return nil, nil, fmt.Errorf("%w: object %s has no content of its own (a manifest?)", errNoProfile, object)
	}
	rc, err := n.store.Recipe(ctx, rec.Recipe)
	if err != nil {
		return nil, nil, err
	}
	return rec, rc, nil
}

var errBadProfileArg = errors.New("bad argument")

// Profile returns object's boot profile; an error wrapping errNoProfile
// if it has none.
func (n *Node) Profile(ctx context.Context, object string) (*BootProfile, error) {
	_, rc, err := n.profileTarget(ctx, object)
	if err != nil {
		return nil, err
	}
	p, err := n.ns.Profile(ctx, rc.ID())
	if errors.Is(err, namespace.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", errNoProfile, object)
	}
	if err != nil {
		return nil, err
	}
	out := &BootProfile{Object: object, Recipe: rc.ID().String(), Region: p.Region,
		RecordedAt: p.Time().UTC().Format(time.RFC3339Nano), Chunks: len(p.Profile),
		ObjectChunks: len(rc.Refs), ObjectBytes: rc.Size, Refs: p.Profile}
	seen := map[recipe.ChunkID]bool{}
	var ids []recipe.ChunkID
	for _, i := range p.Profile {
		if int(i) < len(rc.Refs) {
			out.PlainBytes += int64(rc.Refs[i].Size)
			if id := rc.Refs[i].ID; !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	sizes, err := n.store.StoredSizes(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, sz := range sizes {
		if sz >= 0 {
			out.StoredBytes += sz
			out.HeldChunks++
		}
	}
	return out, nil
}

// ClearProfile clears object's boot profile in every region (a replicated
// tombstone); the next Range reads of the object record a new one.
func (n *Node) ClearProfile(ctx context.Context, object string) error {
	_, rc, err := n.profileTarget(ctx, object)
	if err != nil {
		return err
	}
	tomb, err := n.ns.ClearProfile(ctx, rc.ID())
	if errors.Is(err, namespace.ErrNotFound) {
		return fmt.Errorf("%w: %s", errNoProfile, object)
	}
	if err != nil {
		return err
	}
	if n.cluster != nil {
		n.cluster.lazy.Forget(rc.ID())
		return n.cluster.rep.Replicate(ctx, *tomb)
	}
	return nil
}

// addProfileRoutes adds the boot profile endpoints to the ops listener:
//
//	GET    /profile?object=A/C/O  JSON BootProfile; 404 if none, 400 if
//	                              object is malformed
//	DELETE /profile?object=A/C/O  clear it everywhere; 204, 404 if none
//	GET    /profile/stats         JSON LazyStats ({} for a single region)
func (n *Node) addProfileRoutes(mux *http.ServeMux) {
	fail := func(w http.ResponseWriter, err error) {
		switch {
		case errors.Is(err, errBadProfileArg):
			http.Error(w, err.Error(), http.StatusBadRequest)
		case errors.Is(err, errNoProfile):
			http.Error(w, err.Error(), http.StatusNotFound)
		default:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}
	mux.HandleFunc("GET /profile", func(w http.ResponseWriter, r *http.Request) {
		p, err := n.Profile(r.Context(), r.URL.Query().Get("object"))
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, p)
	})
	mux.HandleFunc("DELETE /profile", func(w http.ResponseWriter, r *http.Request) {
		if err := n.ClearProfile(r.Context(), r.URL.Query().Get("object")); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /profile/stats", func(w http.ResponseWriter, r *http.Request) {
		var st LazyStats
		if n.cluster != nil {
			st = n.cluster.lazy.Stats()
		}
		writeJSON(w, http.StatusOK, st)
	})
}

// QueryProfile asks the node whose ops listener is at base (OpsURL) for
// object's boot profile (`nitro profile`).
func QueryProfile(ctx context.Context, base, object string) (*BootProfile, error) {
	var p BootProfile
	if err := opsGet(ctx, base+"/profile?object="+url.QueryEscape(object), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// QueryClearProfile asks the node at base to clear object's boot profile
// (`nitro profile --clear`).
func QueryClearProfile(ctx context.Context, base, object string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, base+"/profile?object="+url.QueryEscape(object), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("asking the node (is it running, with this ops_listen?): %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("DELETE profile: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}
