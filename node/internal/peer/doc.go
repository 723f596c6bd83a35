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
//	                      verification here), with len 0
//	GET  /status          the node's status for `nitro status` (JSON)
//	GET  /plan?object=a/c/o  the read plan for `nitro plan` (JSON)
//	POST /place?object=a/c/o copy the object here in the background (eager
//	                      placement); 202 at once
//
// Authentication: the client sends X-Nitro-Date (unix seconds),
// X-Nitro-Region, X-Nitro-Node and
// "Authorization: Nitro <hex HMAC-SHA256(secret, method \n path?query \n
// date \n region \n node)>". The server accepts a date within ±5 minutes
// (MaxSkew) and compares MACs with hmac.Equal; anything else is 401, logged,
// and nothing is served. The MAC covers the request line and identity, not
// the body: chunk bodies are verified against their IDs by the receiver,
// and an operator who needs confidentiality or body integrity on the WAN
// puts the listener behind TLS. Within the skew window a captured request
// can be replayed; all endpoints are idempotent.
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
// are the bytes "that crossed between regions" of the tests.
package peer
