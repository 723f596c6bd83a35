// Package namespace is Nitro's mutable layer: the account, container and
// object records that name content stored in chunkstore, kept in the
// store's ordered record space (chunkstore.Records) and designed to be
// replicated to every region.
//
// Nouns:
//   - Key: the kind of a record plus its names. Keys encode so that byte
//     order is Swift's listing order and a listing is a prefix scan:
//     account "a"+account, container "c"+account+NUL+container, object
//     "o"+account+NUL+container+NUL+object. Names must not contain NUL
//     (Swift forbids it; ValidateName checks).
//   - Record: one account, container or object with its Swift
//     X-Timestamp-style Timestamp (unix nanoseconds) and the Region that
//     wrote it. Records merge by last writer wins on (Timestamp, Region).
//     A delete is a tombstone (Deleted set) with its own timestamp, purged
//     after the reclaim age (see PurgeTombstones).
//   - Holding: a record that a region held every chunk of a recipe, keyed
//     "h"+recipe ID+region, replicated like the others; the regions of an
//     object (X-Nitro-Regions) are the live holdings of its recipe.
//     Advisory; see holding.go.
//   - Stats: per-container object count and bytes, a local index that
//     Apply maintains in the same transaction as the object records, so it
//     is exact on every node whatever order replicated records arrive in.
//     Stats are derived, never replicated. Each write adds a delta key of
//     its own rather than rewriting one shared key, so concurrent writers
//     to one container do not conflict; see stats.go.
//   - Cache: Get, GetLive, Holds and Holders read through a bounded cache
//     of decoded records and recipe holders (cache.go); every write to the
//     record space drops the keys it wrote before it returns
//     (chunkstore.Records.OnWrite), so a read never sees a record a
//     finished write replaced.
//
// Values are JSON (see record.go) with a version field "v"; JSON was chosen
// for debuggability and because records are small next to the chunks they
// name.
package namespace
