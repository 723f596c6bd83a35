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
//     between regions as-is and is verified on arrival (PutStored).
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
//	't' + chunkID  → stamp: uint64 big-endian unix s  (LSM tree)
//	'r' + recipeID → stamp: uint64 big-endian unix s | recipe encoding
//	'n' + key      → record value
//
// Durability: Badger runs with SyncWrites off; every method that
// acknowledges data (Write, Put, PutStored, PutRecipe, Records.Update)
// calls DB.Sync before it returns, unless Config.NoSync. Badger applies
// commits in order, so a synced recipe implies its chunks, written
// earlier, are durable too.
//
// Concurrency with GC: a write that finds a chunk already present relies
// on it. If the chunk's stamp is older than Config.TouchAfter the write
// re-stamps it in a transaction that reads the chunk key, and GC deletes
// in transactions that read the stamp, so Badger's conflict detection
// lets only one of them win (the loser retries: the writer then stores
// the chunk again). A chunk whose stamp is younger than TouchAfter is
// relied on without a write, which is safe as long as GC's grace period
// exceeds TouchAfter plus the duration of the longest write; GC refuses a
// grace period under 2×TouchAfter.
package chunkstore
