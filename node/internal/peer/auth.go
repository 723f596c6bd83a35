package peer

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxSkew is how far X-Nitro-Date may be from the server's clock; a nonce
// is remembered for as long as its date is inside this window.
const MaxSkew = 5 * time.Minute

// ReplayCacheSize bounds the nonces a server remembers. When it is full of
// unexpired nonces, new requests are refused with 503 until some expire.
const ReplayCacheSize = 1 << 19

// Headers of the peer protocol (version 2 of its authentication).
const (
	hdrDate    = "X-Nitro-Date"
	hdrRegion  = "X-Nitro-Region"
	hdrNode    = "X-Nitro-Node"
	hdrNonce   = "X-Nitro-Nonce"
	hdrBodySum = "X-Nitro-Content-Sha256"
	// hdrBody marks a response body framed and MACed segment by segment.
	hdrBody   = "X-Nitro-Body"
	bodyV2    = "v2-framed"
	authV2    = "Nitro-v2 "
	labelReq  = "nitro-peer-v2 request"
	labelResp = "nitro-peer-v2 response"
)

// emptySum is the hex SHA-256 of an empty body.
var emptySum = func() string { s := sha256.Sum256(nil); return hex.EncodeToString(s[:]) }()

// authError is a refusal of a request's authentication (401), with the
// reason for the log. It never carries the secret or a MAC.
type authError struct{ reason string }

func (e authError) Error() string { return "peer: unauthenticated: " + e.reason }

// errReplayFull is returned when the replay cache is full (503).
var errReplayFull = errors.New("peer: replay cache full, retry later")

// signed is what a request's MAC covers.
type signed struct {
	method, pathQuery, date, region, node, nonce, bodySum string
}

func (s signed) mac(secret []byte) string {
	m := hmac.New(sha256.New, secret)
	for _, f := range []string{labelReq, s.method, s.pathQuery, s.date, s.region, s.node, s.nonce, s.bodySum} {
		m.Write([]byte(f))
		m.Write([]byte{'\n'})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// newNonce returns 128 random bits in hex.
func newNonce() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go >= 1.24)
	return hex.EncodeToString(b[:])
}

// sign adds the authentication headers to req, whose body is body, and
// returns the nonce (which keys the response's MAC).
func sign(req *http.Request, secret []byte, region, node string, body []byte, now time.Time) string {
	sum := sha256.Sum256(body)
	s := signed{method: req.Method, pathQuery: req.URL.RequestURI(), date: strconv.FormatInt(now.Unix(), 10),
		region: region, node: node, nonce: newNonce(), bodySum: hex.EncodeToString(sum[:])}
	req.Header.Set(hdrDate, s.date)
	req.Header.Set(hdrRegion, region)
	req.Header.Set(hdrNode, node)
	req.Header.Set(hdrNonce, s.nonce)
	req.Header.Set(hdrBodySum, s.bodySum)
	req.Header.Set("Authorization", authV2+s.mac(secret))
	return s.nonce
}

// verifyHeaders checks req's authentication headers (not yet its body):
// scheme, date window, nonce shape and MAC. It returns what was signed and
// the date.
func verifyHeaders(req *http.Request, secret []byte, now time.Time) (signed, time.Time, error) {
	auth := req.Header.Get("Authorization")
	if !strings.HasPrefix(auth, authV2) {
		if strings.HasPrefix(auth, "Nitro ") {
			return signed{}, time.Time{}, authError{"old (v1) authorization scheme"}
		}
		return signed{}, time.Time{}, authError{"no Nitro-v2 authorization"}
	}
	s := signed{method: req.Method, pathQuery: req.URL.RequestURI(), date: req.Header.Get(hdrDate),
		region: req.Header.Get(hdrRegion), node: req.Header.Get(hdrNode), nonce: req.Header.Get(hdrNonce),
		bodySum: req.Header.Get(hdrBodySum)}
	sec, err := strconv.ParseInt(s.date, 10, 64)
	if err != nil {
		return s, time.Time{}, authError{"bad date"}
	}
	date := time.Unix(sec, 0)
	if d := now.Sub(date); d > MaxSkew || d < -MaxSkew {
		return s, date, authError{"date outside the skew window"}
	}
	if n, err := hex.DecodeString(s.nonce); err != nil || len(n) != 16 {
		return s, date, authError{"bad nonce"}
	}
	if b, err := hex.DecodeString(s.bodySum); err != nil || len(b) != sha256.Size {
		return s, date, authError{"bad body digest"}
	}
	if !hmac.Equal([]byte(s.mac(secret)), []byte(strings.TrimPrefix(auth, authV2))) {
		return s, date, authError{"bad MAC"}
	}
	if s.region == "" {
		return s, date, authError{"no region"}
	}
	return s, date, nil
}

// checkBody reports whether body's SHA-256 is the signed one.
func checkBody(s signed, body []byte) error {
	sum := sha256.Sum256(body)
	want, _ := hex.DecodeString(s.bodySum) // checked by verifyHeaders
	if !hmac.Equal(sum[:], want) {
		return authError{"body does not match its signed digest"}
	}
	return nil
}

// replayCache remembers the nonces of accepted requests until their dates
// leave the skew window. Safe for concurrent use.
type replayCache struct {
	mu        sync.Mutex
	seen      map[[16]byte]time.Time // nonce → when it may be forgotten
	max       int
	lastSweep time.Time
}

func newReplayCache(max int) *replayCache {
	return &replayCache{seen: make(map[[16]byte]time.Time), max: max}
}

func nonceKey(nonce string) (k [16]byte) {
	hex.Decode(k[:], []byte(nonce)) // shape checked by verifyHeaders
	return k
}

// seenBefore reports whether nonce was accepted already (a replay).
func (c *replayCache) seenBefore(nonce string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.seen[nonceKey(nonce)]
	return ok
}

// add records nonce, signed at date, as used; it fails with an authError
// when the nonce was used already and with errReplayFull when the cache
// is full of unexpired nonces.
func (c *replayCache) add(nonce string, date, now time.Time) error {
	k := nonceKey(nonce)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[k]; ok {
		return authError{"replayed nonce"}
	}
	if len(c.seen) >= c.max || now.Sub(c.lastSweep) > time.Minute {
		for n, exp := range c.seen {
			if now.After(exp) {
				delete(c.seen, n)
			}
		}
		c.lastSweep = now
		if len(c.seen) >= c.max {
			return errReplayFull
		}
	}
	c.seen[k] = date.Add(MaxSkew + time.Second)
	return nil
}

// respKey derives the key of a response's MAC: bound to the request's
// nonce and the response status, so a response cannot be moved to another
// request or given another status.
func respKey(secret []byte, nonce string, status int) []byte {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%s\n%s\n%d\n", labelResp, nonce, status)
	return m.Sum(nil)
}

// Framed response bodies: a sequence of segments, each
//
//	flags(1) | len(4, big endian) | data[len] | HMAC-SHA256(k, seq(8) | flags | len | data)[32]
//
// where k is respKey and seq counts segments from 0. Flag 1 marks the last
// segment; a body that ends without one is truncated. The reader hands out
// a segment's data only after its MAC checks, so a stream is authenticated
// as it is read.
const (
	segFinal   = 1
	segHeader  = 1 + 4
	segMAC     = sha256.Size
	segMaxData = 1 << 20 // the most a reader accepts in one segment
	segFlushAt = 16 << 10
)

// ErrResponseAuth is wrapped by the client's errors when a response body
// fails its MAC, is not framed, or is truncated: a tampered response.
var ErrResponseAuth = errors.New("peer: response failed authentication")

func segMACOf(m hash.Hash, seq uint64, hdr, data []byte) []byte {
	m.Reset()
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	m.Write(s[:])
	m.Write(hdr)
	m.Write(data)
	return m.Sum(nil)
}

// segWriter frames and MACs what is written to it, in segments of about
// segFlushAt bytes (or smaller on Flush).
type segWriter struct {
	w   io.Writer
	m   hash.Hash
	seq uint64
	buf []byte
}

func newSegWriter(w io.Writer, key []byte) *segWriter {
	return &segWriter{w: w, m: hmac.New(sha256.New, key), buf: make([]byte, segHeader, segHeader+segFlushAt+segMAC)}
}

func (s *segWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), segFlushAt-(len(s.buf)-segHeader))
		s.buf = append(s.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(s.buf)-segHeader >= segFlushAt {
			if err := s.emit(0); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// emit writes the buffered data as one segment with flags (an empty
// non-final segment is not written).
func (s *segWriter) emit(flags byte) error {
	data := s.buf[segHeader:]
	if len(data) == 0 && flags&segFinal == 0 {
		return nil
	}
	s.buf[0] = flags
	binary.BigEndian.PutUint32(s.buf[1:segHeader], uint32(len(data)))
	s.buf = append(s.buf, segMACOf(s.m, s.seq, s.buf[:segHeader], data)...)
	s.seq++
	_, err := s.w.Write(s.buf)
	s.buf = s.buf[:segHeader]
	return err
}

// segReader verifies and unframes a segWriter's output.
type segReader struct {
	r    io.Reader
	m    hash.Hash
	seq  uint64
	data []byte // verified data not yet read
	done bool
	err  error
}

func newSegReader(r io.Reader, key []byte) *segReader {
	return &segReader{r: r, m: hmac.New(sha256.New, key)}
}

func (s *segReader) Read(p []byte) (int, error) {
	for len(s.data) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.done {
			return 0, io.EOF
		}
		s.err = s.next()
	}
	n := copy(p, s.data)
	s.data = s.data[n:]
	return n, nil
}

func (s *segReader) next() error {
	var hdr [segHeader]byte
	if _, err := io.ReadFull(s.r, hdr[:]); err != nil {
		return fmt.Errorf("%w: body ends without its final segment (%v)", ErrResponseAuth, err)
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > segMaxData || hdr[0]&^segFinal != 0 {
		return fmt.Errorf("%w: bad segment header", ErrResponseAuth)
	}
	buf := make([]byte, int(n)+segMAC)
	if _, err := io.ReadFull(s.r, buf); err != nil {
		return fmt.Errorf("%w: truncated segment (%v)", ErrResponseAuth, err)
	}
	data, got := buf[:n], buf[n:]
	if !hmac.Equal(got, segMACOf(s.m, s.seq, hdr[:], data)) {
		return fmt.Errorf("%w: bad segment MAC", ErrResponseAuth)
	}
	s.seq++
	if hdr[0]&segFinal != 0 {
		// Nothing may follow the final segment.
		var one [1]byte
		if k, _ := io.ReadFull(s.r, one[:]); k != 0 {
			return fmt.Errorf("%w: data after the final segment", ErrResponseAuth)
		}
		s.done = true
	}
	s.data = data
	return nil
}
