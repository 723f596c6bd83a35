// Package membership tells a Nitro node which other nodes are alive, of
// which region, how to reach their peer listeners, and how far away they
// are. A region may have several nodes (distinct node names, the same
// region): members are nodes, and callers group them by Member.Region.
// It is the only package that imports hashicorp/memberlist.
//
// Nouns:
//   - member: one Nitro node in the cluster, named by its node name, with
//     its region and the URL of its peer listener (its metadata, gossiped as
//     JSON of at most 512 bytes);
//   - event: a member joined, left (or failed), or changed its metadata.
//     Events are hints: memberlist hands them to us on its own goroutines,
//     we queue them without blocking (a bounded queue that drops the
//     oldest event when full, counted in Stats) and deliver them on one
//     goroutine to the handlers. A handler that needs the truth reads
//     Members, which is always current;
//   - RTT: the round-trip time to a member, an EWMA (alpha 1/4) of the
//     durations of memberlist's direct probes (PingDelegate).
//
// Gossip uses memberlist's WAN preset (DefaultWANConfig) and is encrypted
// with AES-256-GCM under a key derived from the cluster secret (see
// GossipKey); a node configured with another secret cannot join.
package membership
