// Package peer is Nitro's region-to-region protocol: HTTP on its own
// listener, every request authenticated with the cluster secret.
//
// Endpoints (all under /peer/v1):
//
//	POST /records         push a batch of namespace records (NDJSON of
//	                      WireRecord); the receiver merges them by LWW
//	GET  /records/digest  the anti-entropy digest: DigestBuckets XOR-sums
//	                      of SHA-256(key, timestamp, region, deleted)
//	POST /records/fetch   the records in the given buckets (NDJSON)
//	POST /have            body: chunk IDs (32 bytes each); answer: one
//	                      uint32 (big endian) per ID, in request order: the
//	                      chunk's stored size (the bytes a /chunks frame
//	                      carries for it), 0 when it is not stored here
//	POST /chunks          body: chunk IDs; answer: a stream of frames in
//	                      request order, each id[32] | status(1) | codec(1) |
//	                      len(4, big endian) | stored bytes[len]; status 0 is
//	                      a chunk, 1 "not held" (absent or failed
//	                      verification here), 2 "skipped" (left out at the
//	                      receiver's request, see /skip), both with len 0
//	POST /skip            body: chunk IDs; the chunk streams this server is
//	                      sending the asking node (its signed region and
//	                      node) leave out those they have not started on,
//	                      each a skipped frame (skip.go: the losing copies
//	                      of hedged chunks); answer JSON {"skipped": n}
//	POST /obtain          body: per chunk its ID (32 bytes) and plain size
//	                      (uint32, big endian); only from a node of the
//	                      server's own region (403 otherwise): the server,
//	                      the chunks' owner among the region's nodes, makes
//	                      them local (fetching the missing ones once) and
//	                      answers frames as /chunks, each once it is
//	                      stored; not held: it could not obtain it
//	GET  /summary?have=GEN  this node's chunk summary (a Bloom filter of
//	                      the chunk IDs its store holds, summary.go): the
//	                      generation (8 bytes, big endian), then the encoded
//	                      summary unless GEN is that generation; 503 when
//	                      it has none
//	GET  /status          the node's status for `nitro status` (JSON)
//	GET  /plan?object=a/c/o  the read plan for `nitro plan` (JSON)
//	POST /place?object=a/c/o copy the object here in the background (eager
//	                      placement); 202 at once
//
// Authentication (scheme v2): the client sends X-Nitro-Date (unix
// seconds), X-Nitro-Region, X-Nitro-Node, X-Nitro-Nonce (128 random bits,
// hex), X-Nitro-Content-Sha256 (hex SHA-256 of the body) and
// "Authorization: Nitro-v2 <hex HMAC-SHA256(secret, "nitro-peer-v2
// request" \n method \n path?query \n date \n region \n node \n nonce \n
// body-sha256 \n)>". The server checks, in this order: the scheme (the v1
// "Nitro <mac>" scheme, which covered neither body nor nonce, is refused),
// the date within ±MaxSkew, the MAC (hmac.Equal), that the nonce is not in
// its replay cache, then reads the body (at most MaxRecordBytes) and
// compares its SHA-256 with the signed one; only then does it remember the
// nonce (until its date leaves the window; at most ReplayCacheSize nonces,
// 503 when full) and serve the request. Any failure is 401, logged with
// its reason (never the MAC), and nothing is served: a captured request
// cannot be replayed, and its body cannot be swapped.
//
// Answers: a 2xx answer's body is framed (X-Nitro-Body: v2-framed) as
// segments flags(1) | len(4) | data | HMAC-SHA256(k, seq(8) | flags | len |
// data), k = HMAC-SHA256(secret, "nitro-peer-v2 response" \n nonce \n
// status \n), the last segment flagged final. The client hands out a
// segment's data only after its MAC checks and requires the final segment,
// so a stream (chunks, records) is authenticated as it is read, and an
// answer cannot be altered, truncated, or moved to another request
// (ErrResponseAuth). Error answers (non-2xx) are plain text and not
// authenticated: an attacker on the path can fail a request, which it can
// anyway. TLS on the peer listener (node: cluster.tls_*) adds
// confidentiality; the MACs hold without it.
//
// Bounded resources: the server serves at most Config.MaxStreams chunk
// streams at once (others wait), reads one chunk at a time from the store
// and writes it before reading the next, so a stream holds one chunk in
// memory; request bodies are capped (MaxIDs IDs, MaxRecordBytes of
// records). The client holds one frame at a time per stream and refuses a
// frame longer than MaxFrame.
//
// Counters: the server counts stored chunk bytes sent per requesting region,
// the client stored chunk bytes received per serving region (Stats). These
// are the bytes "that crossed between regions" of the tests; what nodes of
// one region send each other (/chunks from a sibling, /obtain) counts
// under their own region.
package peer
