// Package fetch reads objects whose chunks are partly in other regions: it
// implements the object service's RemoteReader with a planned, parallel,
// multi-source fetch.
//
// Regions and nodes (issue 12). A region may run several nodes (distinct
// node names, one region). The plan knows regions, not nodes: a region is
// one planner source (its WAN link: one bandwidth estimate, one queue of
// bytes), served by any of its live nodes. Each node of a region is a
// stream source of the job: the chunks the plan gives a region go to one
// of its usable nodes, the one with the least bytes queued in this
// fetcher, so the streams of concurrent fetches spread over the region's
// nodes (a chunk that node does not hold, with per-node stores, goes to
// another node of the region that does). A node whose stream fails, or
// that stalls, is left out and its chunks are planned again: onto another
// live node of its region when one holds them, else onto other regions;
// failures, stalls and the holdings cache are per node, link estimates
// per region. This node's own region is a source too (its siblings, over
// the LAN, prior LANBandwidth): with per-node stores (Badger) a sibling
// may hold what this node lacks; with a store the region's nodes share
// (the region's Swift cluster) the siblings would answer what the local
// lookup said, so Config.SharedStore leaves them out of plans.
//
// Owners (owner.go): each missing chunk is owned by one live node of the
// reading region (rendezvous hashing of the chunk ID over the names of
// the region's live nodes). A read fetches the chunks it owns itself and
// asks each other owner for its own (POST /peer/v1/obtain, authenticated
// like all peer traffic); the owner makes them local through its per-chunk
// futures and streams them back. So concurrent reads of one object on
// several nodes of a region move each missing chunk over the WAN once. If
// the owner fails, dies or cannot obtain a chunk, the asker fetches it
// itself.
//
// For a read of refs [first, last) of a recipe, Source
//  1. asks the local store which chunks it lacks (one Has over the span);
//  2. joins fetches already under way for any of them (per-chunk futures:
//     concurrent reads of the same missing chunk on this node share one
//     transfer, the singleflight of the design);
//  3. asks the owners among this region's other nodes for the chunks they
//     own (above), and for the rest, its own:
//  4. asks every live node of every region (its own region's other nodes
//     included; one node of a region whose nodes share a store, the next
//     if it fails: haveregion.go), concurrently, which of them it holds and
//     at what stored size (the have answer), unless recent answers are
//     cached (holdings.go); when the namespace's holdings name live
//     regions that hold the whole object (Config.Holders), the read is
//     planned over them and each one's share streams meanwhile, before
//     the answers are in, which then only correct that plan (partial
//     holders they name take over the streams' tails when that is
//     faster: speculate.go);
//  5. plans the transfer with the planner (Optimal unless configured) over
//     per-region link estimates, and starts one chunk stream per source
//     node with its ordered list;
//  6. returns a ChunkSource whose Chunk returns local chunks at once and
//     waits for missing ones; every arriving chunk is verified and stored
//     (Receive: committed, synced in the background) before it is
//     announced, and readers read it back from the store, so memory
//     stays bounded by one frame per stream plus the reader's own
//     decode-ahead.
//
// Sizes: the planner gets each chunk's wire (stored) size as its holders
// reported it in the have answer (chunkstore.StoredSizes, read without the
// value log), the largest if they differ; so plans, and `nitro plan`, use
// the bytes that will cross the links. Only a chunk no region holds is
// estimated (plain size times the EWMA of the stored/plain ratio).
//
// Link estimates (Links): per source region, the bandwidth is the EWMA
// (alpha 0.3) of the throughput of finished streams of at least 64 KiB,
// seeded from the configured prior (Config.Priors) or DefaultBandwidth;
// the RTT comes from membership (memberlist probes) and falls back to the
// prior.
//
// Failures: a source node whose stream fails is dropped for the rest of
// the fetch and its remaining chunks are planned again onto the others
// (its region stays a source while another of its nodes is usable); a
// source whose observed rate falls below 1/SlowFactor of its predicted rate
// after Grace has its stream cancelled, its estimate lowered to what it
// achieved, and its remaining chunks planned again (mostly onto the
// others) — the time its frames waited for the local store (a full
// arrival queue behind disk syncs) is not counted against it (the
// throughput samples keep it: see worker). "Below its predicted rate" is
// RTT- and size-aware, so that TCP slow start on a long-RTT link does not
// count (see checkSlow): the stream is judged only after
// max(Grace, 6 RTT + 4 chunks at the predicted rate), against the plan's
// progress curve (t - RTT)·bw - queued, and must stay below 1/SlowFactor
// of it, and receive at below 1/SlowFactor of the rate, for a further
// max(Grace/2, 2 RTT). A chunk
// that is in flight on a cancelled stream stays that stream's until the
// stream has unwound (arrivals meanwhile are stored), so a re-plan never
// asks for it twice; a frame for a chunk already received is counted
// (Stats.DuplicateChunks) and dropped. A chunk a source does not hold after all, or sends corrupt, is
// asked of its other holders. A local chunk that fails verification when
// a read reads it is dropped and fetched again like a missing one
// (self-heal; see heal), never returned. A chunk fails, with a *NoHolderError naming
// it, only when no live region holds it.
//
// Stalls: every stream has a deadline for its next chunk from the plan
// (its stored size at the link's estimated rate, twice over, after the
// stream's last progress, plus max(Config.HedgeAfter, 2 RTT + 200 ms, the
// least TCP retransmission timeout)); a stream
// that misses it is stalled: its next unarrived chunks, those due in the
// next few RTTs (a window), are asked of their other holders at once,
// first arrival wins and is stored once, and the stalled node is left out
// of plans until it delivers again (see hedge.go; its region's other
// nodes, holders of the same chunks, are not); while it stays stalled the
// next window follows, and after a few windows everything it owes.
//
// Holders that look dead: a chunk none of whose holders is live waits up
// to Config.HolderWait for one to come back (nodes that become live are
// asked for it, a failed only-holder that membership lists live is asked
// again), and a read's Source returns only once each of its chunks is
// placed on a live holder or has failed, so a read with no holder fails
// before its first byte (see holders.go).
//
// A fetch runs detached from the reader's context (bounded by FetchTimeout):
// chunks are kept, so finishing a transfer whose reader went away is work
// the next read does not repeat, and other readers may share it.
//
// Costs of several nodes per region: one have request per region whose
// nodes share a store (per live node for per-node stores) for reads that
// are not planned from cached answers; an
// obtain request per other owner, over the LAN; a chunk an owner obtains
// for an asker crosses the LAN once more (with a shared store the asker's
// write finds it there already).
package fetch
