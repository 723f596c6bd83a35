// Package regiongc is the garbage collector of a region whose chunks and
// recipes live in the region's Swift cluster (store.backend: swift;
// layout in Layout): several Nitro nodes write to one cluster, and one of
// them at a time sweeps it.
//
// It is Duplicacy's two-step fossil collection (Gilbert Chen, "Lock-free
// deduplication", 2017, github.com/gilbertchen/duplicacy wiki, "Lock Free
// Deduplication") adapted to a namespace replicated to every node: no
// lock is held against writers, and a chunk is never deleted in the run
// that decides it is garbage, only moved aside to a fossil, to be deleted
// by a later run at least a grace period after, if still unreferenced.
//
// # One run (Collector.Run)
//
//  0. Take the lease (below); cutoff = now − grace.
//  1. Mark: the roots (every recipe a live object names, from the
//     replicated namespace) are loaded from the cluster, from their
//     container or else their fossil container, verified against their
//     IDs, and their chunks marked. A live recipe that cannot be read
//     stops the run (no sweep from an incomplete mark); one in neither
//     container is logged and counted (its object is unreadable anyway).
//  2. Recipes: a recipe that no live object names and whose touch time is
//     older than the cutoff is moved to its fossil container; a younger
//     one is kept and its chunks are marked too (it may be a write whose
//     record has not reached this node yet).
//  3. Recipe fossils, then chunk fossils: a marked one is moved back to
//     its container (touched now); an unmarked one older than the cutoff
//     (made at least a grace period ago) is deleted; the rest wait.
//  4. Chunks: an unmarked chunk whose touch time is older than the cutoff
//     is moved to its fossil container.
//
// A move is a server-side COPY (the fossil's Last-Modified and
// X-Object-Meta-Nitro-Fossilized are the move's time) then a DELETE of the
// source. A touch time is max(Last-Modified, X-Object-Meta-Nitro-Touched,
// X-Object-Meta-Nitro-Fossilized); a listing's last_modified is a lower
// bound of it, so only objects the listing shows old are HEADed.
//
// # Why no write loses a chunk (one runner)
//
// The writers' rules (chunkstore/swiftstore's package doc): a write that relies on a chunk
// (or recipe) already in the cluster does so only after seeing it in its
// own container (HEAD, or the node's index within store.touch_after of
// this node writing or touching it) with a touch time younger than
// touch_after, touching it (POST) otherwise; a write never relies on a
// fossil: a chunk absent from its container is uploaded again. Readers
// fall back to the fossil container. Let W bound a write from its last
// such check to its object record reaching the GC node (the longest write
// plus namespace replication), and take grace > touch_after + W.
//
//   - A chunk moved in step 4 of a run R was unmarked and older than R's
//     cutoff when R looked at it. A write that relied on it before the
//     move still finds it: reads fall back to the fossil. A write after
//     the move finds it absent and uploads it again.
//   - A fossil F is deleted only by a run R2 whose mark was taken after
//     F's time + grace, and in which F is unmarked. Every write that relied
//     on the chunk in its container did so before the move (F's time), or
//     within touch_after of a touch racing the move, so its record reached
//     the GC node by F's time + touch_after + W < F's time + grace, before
//     R2's mark, which then marks the chunk: F is moved back, not deleted.
//     Writes after the move never rely on F.
//   - A chunk is moved back by a run whose mark names it; a recipe likewise.
//
// So with one runner at a time, nothing an acknowledged object needs is
// ever in neither container, and after the runs that follow its write it
// is back in its own container. Deleted and overwritten objects' data is
// deleted by the first run at least a grace period after the run that
// moved it. The tests drive the touch racing a move step by step
// (testTouchDuringMove) and two writers during repeated runs
// (testWritersDuringGC); both lose chunks if the move is a plain DELETE.
//
// A COPY answered 404 (its source gone, or a proxy that still caches the
// fossil container's absence) is skipped without a DELETE: a failed step
// never deletes anything, and the next run does it again.
//
// # Packs
//
// With store.swift.pack_size > 0 chunks live in pack objects
// (<prefix>-packs, indexes in <prefix>-pack-index; chunkstore/swiftstore's
// packs.go). After the chunk steps, a run handles pack fossils, then
// packs, as above with "pack" for "chunk" (packs.go): a pack is marked
// when its index names any marked chunk; an unmarked pack older than the
// cutoff moves to <prefix>-pack-fossils with its index (to
// <prefix>-pack-index-fossils); a marked fossil pack moves back with its
// index; an unmarked one older than the cutoff is deleted with its index
// fossil. Writers touch the pack they rely on; readers fall back to the
// pack fossil (and learn fossil indexes as a last resort). Packs are
// never rewritten: a pack kept for one live chunk keeps its dead ones
// (Stats.PackBytesDead). testPackSteps and testWritersDuringGCPacks run
// the steps and two real nodes writing packs during repeated runs.
//
// # The lease, and why a duplicated one only wastes work
//
// The lease is the object <prefix>-gc/lease, JSON {owner, token, expires},
// with X-Delete-After = the TTL, so Swift itself answers 404 once a dead
// holder stopped renewing it. Swift has no compare-and-swap, so taking it
// is: GET; if another node's unexpired lease is there, stop
// (LeaseHeldError); else PUT our own (If-None-Match: * when there was
// none, which Swift checks on each object server), wait Settle, GET it
// back and run only if the token is ours. The holder renews it every
// TTL/3 (check, then PUT) and stops the run if it finds another's, or if
// renewals kept failing for half the TTL; it deletes it at the end,
// conditionally on its own version. A holder that
// dies is taken over after at most the TTL.
//
// Two runners can still overlap (a PUT racing the read-back on an
// eventually consistent cluster, a renewal racing a takeover, a paused
// process that wakes after its lease expired). That never endangers data,
// because every step is idempotent and safe in parallel:
//   - A COPY writes the same bytes under the same name: repeating it, or
//     two runners doing it, changes nothing but the object's time.
//   - Every DELETE is conditional on the version GC looked at: objects GC
//     writes (fossils, moved-back chunks) carry a random X-Delete-At far
//     in the future (year 2100+, a version tag, never reached), and GC
//     deletes with X-If-Delete-At = the tag it read (0 for writers'
//     objects, which carry none); Swift's object server then refuses
//     (412) to delete an object rewritten since by another runner's COPY.
//     So a runner never deletes a copy another runner just made: when a
//     stale runner moves a chunk to the fossils while a fresh one moves
//     the same chunk back, both DELETEs are refused and the chunk ends in
//     both places (testRunnersInterleaved), the extra copy being collected
//     later like any other.
//   - A runner with an older mark than another only differs in what it
//     considers unmarked; what it moves stays readable (fossil) and comes
//     back at the next run that marks it; what it deletes is a fossil
//     older than the grace, which the argument above covers for any run.
//
// What a duplicated lease costs: listings, HEADs and copies done twice.
//
// # Limits
//
// Clocks: nodes compare their clock with Swift's Last-Modified; they must
// agree within a small fraction of the grace (NTP). Swift is eventually
// consistent: a listing may miss a fresh object (harmless: it is young) and
// on a cluster with several replicas a HEAD or conditional DELETE may see
// a stale replica during a failure; the grace and the fossils absorb
// that. The conditional DELETE relies on X-If-Delete-At, which Swift's
// object server implements (swift/obj/server.py DELETE); Ceph RGW ignores
// it, so there the lease alone keeps runners apart.
//
// Cost per run: one listing of every chunk, recipe and fossil container
// (10 000 names per request), one GET per live recipe, one HEAD per
// object the listing shows older than the cutoff and unmarked, and a
// COPY and DELETE per object moved. Memory: the marked set, about 50
// bytes per distinct live chunk.
package regiongc
