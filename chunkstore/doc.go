// Package chunkstore is Nitro's content layer: a deduplicated, compressed,
// verified chunk and recipe store on Badger, plus an ordered record space
// for the namespace layer in the same database.
//
// Nouns (see also package recipe):
//   - chunk: a piece of an object cut by content-defined chunking
//     (restic/chunker, Rabin fingerprints over a 64-byte window, one
//     cluster-wide polynomial and min/avg/max sizes so that every region
//     cuts identically). Its ID is the SHA-256 of its plain bytes.
//   - stored form: a codec byte plus the encoded bytes (zstd frame, or the
//     plain bytes when compression does not pay). It crosses the network
//     between regions as-is and is verified on arrival (PutStored, or
//     Receive, which syncs in the background).
//   - stamp: the wall-clock time, in unix seconds, a chunk was last written
//     or re-referenced by a write. GC never sweeps a chunk whose stamp is
//     younger than the grace period.
//   - recipe: the ordered refs that rebuild an object (recipe.Recipe).
//   - record: a key/value pair of the namespace layer (Records).
//
// Badger key space (one-byte prefixes, then the 32-byte ID or the record
// key):
//
//	'c' + chunkID  → codec(1) | stored bytes          (value log)
//	               | 0xC1 | uint32 stored length      (index entry, backend swift)
//	               | 0xC2 | uint32 length | uint64 offset | pack name
//	                                                  (packed chunk, packs.go)
//	't' + chunkID  → stamp: uint64 big-endian unix s  (LSM tree)
//	'r' + recipeID → stamp: uint64 big-endian unix s | recipe encoding
//	'n' + key      → record value
//	'p' + "view"   → the pack view's marker (packs.go)
//
// Backends: with Config.Cluster nil (backend "badger") chunk values live
// in Badger. With a Cluster (backend "swift", package
// chunkstore/swiftstore) the chunk objects and recipes live on the
// region's object cluster and 'c' holds index entries (the chunk is in the
// cluster; 't' is when this node last wrote or touched it), while Badger
// caches recipes: see cluster.go for the rules (touch, fossils, suspects).
//
// Durability: Badger runs with SyncWrites off; every method that
// acknowledges data (Write, Put, PutStored, PutRecipe, Records.Update)
// calls DB.Sync before it returns, unless Config.NoSync. Badger applies
// commits in order, so a synced recipe implies its chunks, written
// earlier, are durable too.
//
// Concurrency with GC: pins (Pin) are what make GC safe. A write pins
// every chunk and recipe ID before it looks it up, and its caller releases
// the pin only after the record naming the recipe is committed; GC never
// deletes an ID that was pinned at any moment while it ran, and it takes
// its live set only after it started protecting pins. Store.GC gives the
// argument in full; it does not depend on clocks, grace periods or how
// long a write or a commit takes.
//
// Stamps are the second line of defence, for writes without a pin (Write,
// Put, PutStored, PutRecipe outside a caller's Pin) and for abandoned
// uploads: a write that finds a chunk already present and stamped more
// than Config.TouchAfter ago re-stamps it in a transaction that reads the
// chunk key, and GC deletes in transactions that read the stamp, so
// Badger's conflict detection lets only one of them win (the loser
// retries: the writer then stores the chunk again). GC never deletes what
// is younger than its grace period and refuses a grace period under
// 2×TouchAfter.
package chunkstore
