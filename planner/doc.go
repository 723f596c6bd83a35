// Package planner decides which peer region sends which chunk when a
// region must read chunks it lacks, so that everything arrives as soon as
// the links allow.
//
// It is pure computation: standard library only, no I/O, no clock, no
// logging, no package state; every function is deterministic and safe for
// concurrent use.
//
// # Nouns
//
//   - Destination: the region that reads the object and lacks chunks.
//   - Source: a peer region that can send chunks (Source), with its link
//     to the destination: Bandwidth in bytes/s, RTT, CostPerByte and
//     Queued bytes already on the link.
//   - Holder set: the sources holding a chunk (Chunk.Holders, a bitmask
//     over Input.Sources). Sources with Bandwidth 0 are unreachable and
//     dropped from every holder set.
//   - Group: the chunks sharing one holder set; there are at most
//     min(chunks, 2^sources − 1) groups.
//   - Available time a_r = RTT_r + Startup_r + Queued_r/Bandwidth_r, in
//     seconds: when source r's first new byte can arrive. One RTT of
//     start-up latency (request out, first byte back) is the model, plus
//     what the caller knows more: a connection to open, TCP slow start
//     (SlowStart), as Startup.
//   - Capacity cap_r(T) = max(0, Bandwidth_r·(T − a_r)), in bytes: what
//     source r can deliver by time T.
//   - Finish of a source: a_r + Bytes_r/Bandwidth_r for the bytes it is
//     given (0 if none). Makespan: the largest finish, and at least
//     TotalBytes/IngressCap.
//   - Flow network: sink ← region r (capacity cap_r(T)) ← group g
//     (unbounded, when r holds g) ← source (capacity bytes of g). Every
//     byte can be delivered by T, fractionally, iff its maximum flow
//     saturates the source arcs and TotalBytes <= IngressCap·T.
//   - Lower bound T*: the least such T (LowerBound); by max-flow min-cut
//     the maximum over region subsets U of the time U needs for the bytes
//     held only inside U.
//
// # Guarantee
//
// Solve with the Optimal strategy returns a plan with
//
//	T* <= Makespan <= T* + max_r (largest chunk held by r)/Bandwidth_r
//
// computed exactly: T* by Newton's method on minimum cuts of an integral
// (byte-granular) max-flow, Dinic's algorithm, and the rounding by cycle
// cancelling to a forest as in Lenstra, Shmoys and Tardos (1990). When all
// chunks have the same size the plan is an optimal integral plan. "Exactly"
// means up to float64 rounding of times (relative ~1e-12); byte counts are
// int64 and exact. The ingress cap is an aggregate budget: the bound is
// always valid, and the plan's Makespan is achievable by a fluid schedule
// when RTT and Queued are zero; otherwise it can be optimistic when the
// ingress cap binds.
//
// Nitro's original planner (Darrous et al., "Nitro: Network-Aware Virtual
// Machine Image Management in Geo-Distributed Clouds", CCGrid 2018; Darrous,
// PhD thesis 2019, ch. 6, Algorithm 1) binary-searches an integer capacity
// and is exact only for equal-size chunks at that granularity; it is kept
// as the NitroBinarySearch baseline, next to Random, HighestBandwidth,
// RoundRobin and OriginOnly.
package planner
