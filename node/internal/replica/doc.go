// Package replica keeps the namespace (accounts, containers, objects) the
// same in every region. It implements the object service's Replicator and
// the peer server's RecordStore.
//
// Push: Replicate sends a record committed locally to every live peer in
// parallel and waits for all of them, at most Config.Timeout (default 5 s),
// before the client gets its answer. A peer that fails or times out is
// logged and counted; it catches up by anti-entropy. An object record
// travels with its recipe, which the receiver stores before it applies the
// record, so every region can read the object at once.
//
// Anti-entropy (pull, by digests): every node, on a member's join and every
// Config.Interval, asks each live peer for its digest (256 buckets, each the
// XOR of SHA-256(key, timestamp, region, deleted) over the records whose
// key hashes to the bucket), compares it with its own, and fetches the
// peer's records in the buckets that differ, applying them by last writer
// wins. Since every node pulls from every other, both directions converge:
// after a partition heals, the first round on each side brings all regions
// to the same records. Cost per round and peer: two full scans of the local
// records (digest; fetch of differing buckets on the serving side) and
// 8 KiB plus the records of the differing buckets on the wire; fine for the
// millions of records of an image service, and the interval bounds it.
//
// Tombstones and the reclaim age (the rule that keeps anti-entropy from
// resurrecting purged tombstones): a tombstone older than ReclaimAge is
// left out of digests and record streams, because the namespace purges it
// (PurgeTombstones) and regions purge at different moments; on receipt, such
// a tombstone is applied only where the receiver holds a record at its key
// (so it still deletes an older live copy) and ignored otherwise, so a
// purged tombstone is never stored again. As in Swift, a region cut off for
// longer than ReclaimAge can bring back a record deleted meanwhile.
package replica
