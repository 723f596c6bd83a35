package peer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Secret is the cluster secret. Required (>= 16 bytes).
	Secret []byte
	// Region and Node identify this node to its peers. Region is required.
	Region, Node string
	// HTTP is the HTTP client; nil means one with no overall timeout
	// (streams are bounded by their contexts), Go's default dial timeout
	// and TLS as below.
	HTTP *http.Client
	// TLS configures the connections to https:// peers when HTTP is nil
	// (the CA that signs the peers' certificates, and this node's client
	// certificate for mutual TLS); nil means Go's defaults (system roots).
	TLS *tls.Config
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Client speaks the peer protocol to other nodes. Safe for concurrent use.
type Client struct {
	cfg      ClientConfig
	received counters
}

// StatusError is a peer's non-2xx answer.
type StatusError struct {
	URL    string
	Code   int
	Detail string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("peer: %s: %d %s: %s", e.URL, e.Code, http.StatusText(e.Code), e.Detail)
}

// ErrUnauthorized is wrapped by a 401 StatusError.
var ErrUnauthorized = errors.New("peer: unauthorized")

// Unwrap returns ErrUnauthorized for a 401.
func (e *StatusError) Unwrap() error {
	if e.Code == http.StatusUnauthorized {
		return ErrUnauthorized
	}
	return nil
}

// NewClient returns a Client.
func NewClient(cfg ClientConfig) (*Client, error) {
	if len(cfg.Secret) < 16 {
		return nil, errors.New("peer: cluster secret must have at least 16 bytes")
	}
	if cfg.Region == "" {
		return nil, errors.New("peer: client region is required")
	}
	if cfg.HTTP == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32
		tr.IdleConnTimeout = IdleConnTimeout
		tr.DisableCompression = true // chunks are compressed already
		if cfg.TLS != nil {
			tr.TLSClientConfig = cfg.TLS.Clone()
		}
		cfg.HTTP = &http.Client{Transport: tr}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{cfg: cfg}, nil
}

// ReceivedStats returns the stored chunk bytes received, per serving region.
func (c *Client) ReceivedStats() map[string]LinkCounters { return c.received.snapshot() }

// do sends a signed request and returns the answer of a 2xx status, whose
// Body yields only data that passed the response MAC; the caller must end
// it with finish to learn whether the whole body was authentic. Other
// statuses are returned as a *StatusError.
func (c *Client) do(ctx context.Context, method, base, path string, body []byte, ctype string) (*http.Response, error) {
	u := strings.TrimSuffix(base, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	nonce := sign(req, c.cfg.Secret, c.cfg.Region, c.cfg.Node, body, c.cfg.Now())
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("peer: %s %s: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, &StatusError{URL: u, Code: resp.StatusCode, Detail: strings.TrimSpace(string(b))}
	}
	if resp.Header.Get(hdrBody) != bodyV2 {
		resp.Body.Close()
		return nil, fmt.Errorf("peer: %s %s: %w: body not framed", method, u, ErrResponseAuth)
	}
	resp.Body = verifiedBody{newSegReader(resp.Body, respKey(c.cfg.Secret, nonce, resp.StatusCode)), resp.Body}
	return resp, nil
}

// verifiedBody is a response body read through its segReader.
type verifiedBody struct {
	io.Reader
	io.Closer
}

// finish reads the rest of an answer's body, which must be nothing but its
// final segment, and closes it; it returns ErrResponseAuth (wrapped) for a
// body that was tampered with or truncated.
func finish(resp *http.Response) error {
	defer resp.Body.Close()
	var b [1]byte
	n, err := io.ReadFull(resp.Body, b[:])
	switch {
	case n > 0:
		return fmt.Errorf("peer: %s: unexpected data after the answer", resp.Request.URL)
	case errors.Is(err, io.EOF):
		return nil
	default:
		return fmt.Errorf("peer: %s: %w", resp.Request.URL, err)
	}
}

// Have asks the peer at base which of ids it holds and their stored sizes
// (the bytes FetchChunks would receive for each); -1 for a chunk it does
// not hold; len(result) == len(ids). Batches of more than MaxIDs go in
// several requests.
func (c *Client) Have(ctx context.Context, base string, ids []recipe.ChunkID) ([]int64, error) {
	out := make([]int64, 0, len(ids))
	for len(ids) > 0 {
		batch := ids[:min(len(ids), MaxIDs)]
		ids = ids[len(batch):]
		resp, err := c.do(ctx, http.MethodPost, base, "/peer/v1/have", encodeIDs(batch), "application/octet-stream")
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 4*int64(len(batch))+1))
		if err == nil {
			err = finish(resp)
		} else {
			resp.Body.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("peer: have: %w", err)
		}
		sizes, err := decodeSizes(b, len(batch))
		if err != nil {
			return nil, fmt.Errorf("peer: have: %w", err)
		}
		out = append(out, sizes...)
	}
	return out, nil
}

// FetchChunks streams ids from the peer at base, a node of region, calling
// fn for each chunk in request order as it arrives, with its stored form
// (fn owns st.Data; it should verify and store it). A chunk the peer does
// not hold is passed to fn as a *NotHeldError err, one it left out because
// this node asked it to (Skip) as a *SkippedError, and the stream goes on.
// FetchChunks returns the first error of fn, of the transport, or of the
// stream ending early. At most one chunk is held in memory.
func (c *Client) FetchChunks(ctx context.Context, base, region string, ids []recipe.ChunkID,
	fn func(id recipe.ChunkID, st chunkstore.Stored, err error) error) error {
	if len(ids) > MaxIDs {
		return fmt.Errorf("peer: %d chunk IDs in one stream, at most %d", len(ids), MaxIDs)
	}
	resp, err := c.do(ctx, http.MethodPost, base, "/peer/v1/chunks", encodeIDs(ids), "application/octet-stream")
	if err != nil {
		return err
	}
	return c.readChunks(resp, region, ids, fn)
}

// Skip asks the peer at base to leave ids out of the chunk streams it is
// sending this node (this client's region and node) right now, where it
// has not started on them yet: it sends a skipped frame instead (see
// FetchChunks). It returns how many chunks it will leave out (a chunk in
// two of the streams counts twice); streams that start later are not
// affected. For the losing copy of a hedged chunk (package fetch): the
// request is signed and answered as every peer request (doc.go), so only
// a holder of the cluster secret can trim a stream, and only its own.
func (c *Client) Skip(ctx context.Context, base string, ids []recipe.ChunkID) (int, error) {
	if len(ids) > MaxIDs {
		return 0, fmt.Errorf("peer: skip %d chunk IDs, at most %d", len(ids), MaxIDs)
	}
	var ans struct{ Skipped int }
	if err := c.doJSON(ctx, http.MethodPost, base, "/peer/v1/skip", encodeIDs(ids), "application/octet-stream", &ans); err != nil {
		return 0, err
	}
	return ans.Skipped, nil
}

// Obtain asks the node at base, a node of this client's region that owns
// ids among the region's nodes, to make them local (fetching the missing
// ones from other regions once, however many nodes ask) and to stream them
// back as FetchChunks does; plain are their plain sizes (1 to
// recipe.MaxChunkSize). A chunk the owner could not obtain is passed to fn
// as a *NotHeldError. The stream may pause while the owner fetches.
func (c *Client) Obtain(ctx context.Context, base string, ids []recipe.ChunkID, plain []uint32,
	fn func(id recipe.ChunkID, st chunkstore.Stored, err error) error) error {
	if len(ids) > MaxIDs || len(ids) != len(plain) {
		return fmt.Errorf("peer: obtain %d chunk IDs with %d sizes (at most %d)", len(ids), len(plain), MaxIDs)
	}
	resp, err := c.do(ctx, http.MethodPost, base, "/peer/v1/obtain", encodeWants(ids, plain), "application/octet-stream")
	if err != nil {
		return err
	}
	return c.readChunks(resp, c.cfg.Region, ids, fn)
}

// readChunks reads a chunk stream answer to ids from region (see
// FetchChunks) and closes it.
func (c *Client) readChunks(resp *http.Response, region string, ids []recipe.ChunkID,
	fn func(id recipe.ChunkID, st chunkstore.Stored, err error) error) error {
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	for i, want := range ids {
		id, st, status, err := readFrame(br)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("peer: stream from %s ended after %d of %d chunks: %w", region, i, len(ids), err)
			}
			return err
		}
		if id != want {
			return fmt.Errorf("peer: stream from %s: chunk %s out of order (want %s)", region, id.Short(), want.Short())
		}
		var ferr error
		switch status {
		case frameOK:
			c.received.add(region, 1, int64(len(st.Data)))
		case frameSkipped:
			ferr = &SkippedError{ID: id}
		default:
			ferr = &NotHeldError{ID: id}
		}
		if err := fn(id, st, ferr); err != nil {
			return err
		}
	}
	return finish(resp)
}

// PushRecords sends recs to the peer at base; it returns how many the peer
// applied.
func (c *Client) PushRecords(ctx context.Context, base string, recs []WireRecord) (int, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return 0, err
		}
	}
	var ans struct{ Applied int }
	if err := c.doJSON(ctx, http.MethodPost, base, "/peer/v1/records", buf.Bytes(), "application/x-ndjson", &ans); err != nil {
		return 0, err
	}
	return ans.Applied, nil
}

// Digest returns the peer's anti-entropy digest.
func (c *Client) Digest(ctx context.Context, base string) (*Digest, error) {
	resp, err := c.do(ctx, http.MethodGet, base, "/peer/v1/records/digest", nil, "")
	if err != nil {
		return nil, err
	}
	var d Digest
	for i := range d {
		if _, err := io.ReadFull(resp.Body, d[i][:]); err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("peer: digest: %w", err)
		}
	}
	if err := finish(resp); err != nil {
		return nil, err
	}
	return &d, nil
}

// Records streams the peer's records in the given digest buckets to fn.
func (c *Client) Records(ctx context.Context, base string, buckets []int, fn func(WireRecord) error) error {
	body, _ := json.Marshal(map[string][]int{"buckets": buckets})
	resp, err := c.do(ctx, http.MethodPost, base, "/peer/v1/records/fetch", body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var wr WireRecord
		if err := dec.Decode(&wr); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("peer: records: %w", err)
		}
		if err := fn(wr); err != nil {
			return err
		}
	}
}

// Status fetches the node's status (GET /peer/v1/status) into v.
func (c *Client) Status(ctx context.Context, base string, v any) error {
	return c.getJSON(ctx, base, "/peer/v1/status", v)
}

// Plan fetches the read plan of object "account/container/object" into v.
func (c *Client) Plan(ctx context.Context, base, object string, v any) error {
	return c.getJSON(ctx, base, "/peer/v1/plan?object="+url.QueryEscape(object), v)
}

// Place asks the node at base to copy object "account/container/object"
// to its region in the background.
func (c *Client) Place(ctx context.Context, base, object string) error {
	resp, err := c.do(ctx, http.MethodPost, base, "/peer/v1/place?object="+url.QueryEscape(object), nil, "")
	if err != nil {
		return err
	}
	return finish(resp)
}

func (c *Client) getJSON(ctx context.Context, base, path string, v any) error {
	return c.doJSON(ctx, http.MethodGet, base, path, nil, "", v)
}

// doJSON sends a signed request and decodes its answer, which must be
// one JSON value (authenticated: see do), into v.
func (c *Client) doJSON(ctx context.Context, method, base, path string, body []byte, ctype string, v any) error {
	resp, err := c.do(ctx, method, base, path, body, ctype)
	if err != nil {
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		resp.Body.Close()
		return fmt.Errorf("peer: %s: %w", path, err)
	}
	return finish(resp)
}
