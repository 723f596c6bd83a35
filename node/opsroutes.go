package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/nitro-cloud/nitro/chunkstore"
)

// addOpsRoutes adds the operator commands' endpoints to the ops listener
// (unauthenticated, host-local like the rest of it):
//
//	GET /         the status page (statuspage.go): HTML, reloads itself
//	GET /status   JSON Status (`nitro status`); ?images=N adds where the
//	              first N objects live (at most 200), 400 if N is bad
//	GET /fsck     read-only fsck of the live store, JSON
//	              chunkstore.FsckReport, 200 whatever it finds
//	              (`nitro fsck --live`); --repair stays offline
func (n *Node) addOpsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", n.servePage)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		images, err := imagesParam(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		st, err := n.statusWithImages(r.Context(), images)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET /fsck", func(w http.ResponseWriter, r *http.Request) {
		rep, err := n.Fsck(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, rep)
	})
}

// Fsck verifies the live store read-only (chunkstore.Store.Fsck without
// repair) against the recipes of the live objects, while the node serves.
// It holds the GC lock, so no collection removes a recipe between the
// snapshot of live recipes and their check; objects written meanwhile are
// checked if their recipe is stored by then, else left for the next run.
// Repairs need the node stopped (`nitro fsck --repair`), because a repair
// racing a PUT could drop a chunk the PUT just deduplicated against.
//
// Why not a second process opening the data dir read-only: Badger v4's
// ReadOnly takes a shared flock on the directory (dir_unix.go), which
// fails while the node holds its exclusive one.
func (n *Node) Fsck(ctx context.Context) (chunkstore.FsckReport, error) {
	n.gcMu.Lock()
	defer n.gcMu.Unlock()
	live, err := n.ns.LiveRecipes(ctx)
	if err != nil {
		return chunkstore.FsckReport{}, fmt.Errorf("fsck: live recipes: %w", err)
	}
	return n.store.Fsck(ctx, live, false)
}

// QueryFsck asks the node whose ops listener is at base (OpsURL) for a
// read-only fsck of its live store (GET /fsck): `nitro fsck --live`.
func QueryFsck(ctx context.Context, base string) (chunkstore.FsckReport, error) {
	var rep chunkstore.FsckReport
	err := opsGet(ctx, base+"/fsck", &rep)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		return rep, fmt.Errorf("fsck: %w (a large store takes long: raise --timeout)", err)
	}
	return rep, err
}
