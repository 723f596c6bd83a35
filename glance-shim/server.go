package glanceshim

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// DefaultMaxFileSize is Swift's max_file_size: 5 GiB + 2 bytes.
const DefaultMaxFileSize = 5368709122

// Config configures a Server. The zero value is usable with an
// Authenticator; without one, Accounts must name at least one user.
type Config struct {
	// Accounts are the built-in tempauth's accounts and users, used when
	// New gets a nil Authenticator.
	Accounts []Account
	// ResellerPrefix prefixes tempauth account names ("" means "AUTH_").
	ResellerPrefix string
	// TokenTTL is the tempauth token lifetime (0 means 24h).
	TokenTTL time.Duration
	// MaxTokens bounds tempauth's in-memory tokens (0 means 100000).
	MaxTokens int
	// StorageURL, if set, is the base of the X-Storage-Url the login
	// returns ("https://swift.example.com:8080" gives
	// "https://swift.example.com:8080/v1/AUTH_test"); empty means the
	// request's scheme and Host header, as tempauth does.
	StorageURL string
	// DisableFile is Swift healthcheck's disable_path: while a file exists
	// there, GET /healthcheck answers 503 "DISABLED BY FILE". Empty: never.
	DisableFile string
	// MaxFileSize is the largest object body in bytes (0 means
	// DefaultMaxFileSize); larger declared lengths get 413 before the body
	// is read.
	MaxFileSize int64
	// StoragePolicy is the name of the single storage policy (empty means
	// "Policy-0"). X-Storage-Policy on container PUT must name it or
	// "Policy-0" (case-insensitive), else 400.
	StoragePolicy string
	// MaxDLOSegments bounds the segments of one DLO that a GET or HEAD
	// lists (0 means 100000; beyond it the manifest answers 409).
	MaxDLOSegments int
	// AccessLogLevel is the level of the access log line written for
	// every request (the zero value is Info).
	AccessLogLevel zapcore.Level
	// Keystone holds keystoneauth's options for identities from Keystone
	// tokens (nil: keystoneauth's defaults, with operator roles admin and
	// member). It also turns on 401's WWW-Authenticate: Keystone header.
	Keystone *KeystoneAuth
	// ClientTimeout is Swift's client_timeout: the longest one read of an
	// object PUT's body may wait for bytes (0 means DefaultClientTimeout).
	// A body that stalls longer gets 408 Request Timeout, the connection is
	// closed and nothing is committed. It is a read deadline on the
	// connection renewed as bytes arrive, not a bound on the whole body.
	ClientTimeout time.Duration
	// MaxUploads bounds the object PUTs reading their bodies at once (0
	// means DefaultMaxUploads). A PUT beyond it waits for a slot, before
	// reading any of its body, up to UploadWait, then gets 503 with
	// Retry-After. Swift has no such limit; it bounds the memory and
	// goroutines that uploads hold (stalled ones included).
	MaxUploads int
	// UploadWait bounds a PUT's wait for an upload slot (0 means
	// DefaultUploadWait).
	UploadWait time.Duration
	// TempURL holds the tempurl middleware's options (nil: Swift 2.30's
	// defaults); see tempurl.go.
	TempURL *TempURLConfig
}

// Defaults of Config's upload limits.
const (
	// DefaultClientTimeout is Swift's client_timeout default (60 s).
	DefaultClientTimeout = 60 * time.Second
	// DefaultMaxUploads is the default Config.MaxUploads.
	DefaultMaxUploads = 200
	// DefaultUploadWait is the default Config.UploadWait.
	DefaultUploadWait = 5 * time.Minute
)

// Server is the Swift v1 front end. It is safe for concurrent use.
type Server struct {
	cfg     Config
	backend Backend
	auth    Authenticator
	ks      *keystoneRules
	// tempauth is the built-in TempAuth when New made it (nil with an
	// Authenticator of the caller's), for SetAccounts.
	tempauth *TempAuth
	log      *zap.Logger
	e        *echo.Echo
	uploads  chan struct{} // upload slots (Config.MaxUploads)
	tu       *tempURLRules // tempurl's methods and digests
}

// New validates cfg and returns a Server over backend. auth validates
// tokens; nil means the built-in TempAuth over cfg.Accounts. log nil
// means no logging.
func New(cfg Config, backend Backend, auth Authenticator, log *zap.Logger) (*Server, error) {
	if backend == nil {
		return nil, errors.New("glanceshim: nil Backend")
	}
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = DefaultMaxFileSize
	}
	if cfg.StoragePolicy == "" {
		cfg.StoragePolicy = "Policy-0"
	}
	if cfg.MaxDLOSegments <= 0 {
		cfg.MaxDLOSegments = 100000
	}
	if cfg.ClientTimeout <= 0 {
		cfg.ClientTimeout = DefaultClientTimeout
	}
	if cfg.MaxUploads <= 0 {
		cfg.MaxUploads = DefaultMaxUploads
	}
	if cfg.UploadWait <= 0 {
		cfg.UploadWait = DefaultUploadWait
	}
	if auth == nil {
		if len(cfg.Accounts) == 0 {
			return nil, errNoAuthenticator
		}
		ta, err := NewTempAuth(TempAuthConfig{
			Accounts: cfg.Accounts, ResellerPrefix: cfg.ResellerPrefix,
			TokenTTL: cfg.TokenTTL, MaxTokens: cfg.MaxTokens,
		})
		if err != nil {
			return nil, err
		}
		auth = ta
	}
	s := &Server{cfg: cfg, backend: backend, auth: auth, ks: newKeystoneRules(cfg.Keystone), log: log.Named("glanceshim"),
		uploads: make(chan struct{}, cfg.MaxUploads)}
	s.tempauth, _ = auth.(*TempAuth)
	tu, err := newTempURLRules(cfg.TempURL)
	if err != nil {
		return nil, err
	}
	s.tu = tu
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.echoError
	// One catch-all route: the path is parsed by parsePath from the
	// escaped URL, never cleaned or redirected by a router.
	e.Any("/*", s.serve)
	e.Add("COPY", "/*", s.serve)
	e.RouteNotFound("/*", s.serve)
	s.e = e
	return s, nil
}

// ErrNoTempAuth is returned by SetAccounts when the server authenticates
// with an Authenticator other than the built-in TempAuth.
var ErrNoTempAuth = errors.New("glanceshim: the server does not use tempauth accounts")

// SetAccounts replaces the built-in TempAuth's accounts and users while
// serving (TempAuth.SetAccounts: unchanged users keep their tokens, the
// tokens of removed or changed users are revoked). It returns the number
// of tokens revoked; ErrNoTempAuth when New got an Authenticator of its
// caller's that is not a *TempAuth.
func (s *Server) SetAccounts(accounts []Account) (revoked int, err error) {
	if s.tempauth == nil {
		return 0, ErrNoTempAuth
	}
	return s.tempauth.SetAccounts(accounts)
}

// Handler returns the HTTP handler serving the Swift API (an echo
// instance); the caller owns the listener and the http.Server. Set the
// http.Server's ReadHeaderTimeout and IdleTimeout; ReadTimeout must allow
// for 5 GiB bodies.
func (s *Server) Handler() http.Handler { return s.e }

// echoError answers the errors echo produces itself (an unsupported
// method: 405) in Swift's style.
func (s *Server) echoError(err error, c echo.Context) {
	q := s.newRequest(c)
	var he *echo.HTTPError
	if errors.As(err, &he) {
		err = httpErr(he.Code, "")
	}
	q.fail(err)
	q.accessLog()
}

// request is the state of one request through the pipeline.
type request struct {
	s     *Server
	r     *http.Request
	w     http.ResponseWriter
	resp  *echo.Response
	txid  string
	start time.Time
	p     swiftPath
	id    *Identity // nil: anonymous
	// body wraps r.Body for object PUTs; nil when nothing reads it.
	body      *bodyReader
	logStatus int // status for the access log when it differs (499)
	// multiRanges are the satisfiable ranges of a multi-range GET
	// (multirange.go), set by pickRange.
	multiRanges []byteRange
	// tu is the grant of a valid temp URL (tempurl.go); nil otherwise.
	tu *tempURLGrant
}

func (s *Server) newRequest(c echo.Context) *request {
	q := &request{s: s, r: c.Request(), resp: c.Response(), start: time.Now(), txid: newTransID()}
	q.w = q.resp
	h := q.w.Header()
	h.Set("X-Trans-Id", q.txid)
	h.Set("X-Openstack-Request-Id", q.txid)
	return q
}

// newTransID returns a Swift transaction id: "tx" + 21 random hex digits
// + "-" + the Unix time in 10 hex digits (swift/common/utils.py
// generate_trans_id).
func newTransID() string {
	var b [11]byte
	_, _ = rand.Read(b[:])
	// Built in one buffer: this runs on every request (fmt.Sprintf and
	// hex.EncodeToString cost more than the rest of a cached Range GET's
	// bookkeeping).
	var out [2 + 21 + 1 + 10]byte
	copy(out[:], "tx")
	hex.Encode(out[2:], b[:]) // 22 digits: the last is overwritten by the dash
	out[23] = '-'
	ts := uint64(time.Now().Unix())
	for i := len(out) - 1; i >= 24; i-- {
		out[i] = "0123456789abcdef"[ts&15]
		ts >>= 4
	}
	return string(out[:])
}

// serve is the request pipeline, in Swift's proxy order: trans-id →
// healthcheck / info → auth (tempauth) → constraints → account, container
// or object handler → DLO.
func (s *Server) serve(c echo.Context) error {
	q := s.newRequest(c)
	defer func() {
		if p := recover(); p != nil {
			// A failed read midway through a body: the connection is
			// aborted so the client sees a truncated response.
			q.logStatus = 499
			if p != http.ErrAbortHandler {
				s.log.Error("panic", zap.String("trans_id", q.txid), zap.Any("panic", p))
				q.logStatus = 500
			}
			q.accessLog()
			panic(p)
		}
		q.accessLog()
	}()
	if err := q.route(); err != nil {
		q.fail(err)
	}
	return nil
}

func (q *request) route() error {
	p, err := parsePath(q.r.URL.EscapedPath())
	if err != nil {
		return pathError(err, q.r.Method) // path.go
	}
	q.p = p
	switch p.Kind {
	case kindHealth:
		return q.handleHealth()
	case kindInfo:
		if q.r.Method == http.MethodOptions { // Swift's info controller
			q.w.Header().Set("Allow", "HEAD, GET, OPTIONS")
			q.writeEmpty(http.StatusOK)
			return nil
		}
		return q.handleInfo()
	case kindAuth:
		return q.handleAuth()
	}
	if q.r.Method == http.MethodOptions {
		return q.handleOptions()
	}
	if handled, err := q.bulk(); handled { // bulk.go: before tempurl and auth, as in Swift
		return err
	}
	if handled, err := q.tempURL(); handled || err != nil {
		return err
	}
	if q.tu == nil {
		if err := q.authenticate(); err != nil {
			return err
		}
	}
	if err := q.checkHeaders(); err != nil {
		return err
	}
	if err := q.setupCORS(); err != nil {
		return err
	}
	switch p.Kind {
	case kindAccount:
		return q.handleAccount()
	case kindContainer:
		return q.handleContainer()
	default:
		return q.handleObject()
	}
}

// accessLog writes the access log line: method, path (escaped, without
// the query), status, response bytes, duration and trans id.
func (q *request) accessLog() {
	ce := q.s.log.Check(q.s.cfg.AccessLogLevel, "access")
	if ce == nil {
		return
	}
	status := q.resp.Status
	if q.logStatus != 0 {
		status = q.logStatus
	}
	var in int64
	if q.body != nil {
		in = q.body.n
	}
	ce.Write(zap.String("method", q.r.Method), zap.String("path", q.r.URL.EscapedPath()),
		zap.Int("status", status), zap.Int64("bytes_out", q.resp.Size), zap.Int64("bytes_in", in),
		zap.Duration("duration", time.Since(q.start)), zap.String("trans_id", q.txid),
		zap.String("remote", q.r.RemoteAddr))
}

// unreadBody reports whether the request may still have body bytes on
// the connection.
func (q *request) unreadBody() bool {
	if q.body != nil {
		return !q.body.eof
	}
	return q.r.ContentLength != 0
}

// checkHeaders applies Swift's header constraints: no header value longer
// than max_header_size (8192 bytes).
func (q *request) checkHeaders() error {
	for k, vs := range q.r.Header {
		for _, v := range vs {
			if len(k)+len(v) > maxHeaderSize {
				return badRequest("Header value too long: %s", truncate(k, 64))
			}
		}
	}
	return nil
}

const maxHeaderSize = 8192

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// writeEmpty answers status with an empty body and the headers set so
// far; except 202, which gets swob's default body for it, as Swift's
// object POST and container PUT answer.
func (q *request) writeEmpty(status int) {
	h := q.w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "text/html; charset=UTF-8")
	}
	if status == http.StatusAccepted {
		h.Set("Content-Length", strconv.Itoa(len(acceptedBody)))
		q.w.WriteHeader(status)
		if q.r.Method != http.MethodHead {
			_, _ = q.w.Write([]byte(acceptedBody))
		}
		return
	}
	if status != http.StatusNoContent && status != http.StatusNotModified {
		h.Set("Content-Length", "0")
	}
	q.w.WriteHeader(status)
}

// acceptedBody is swob's default body of a 202 (swift/common/swob.py).
const acceptedBody = "<html><h1>Accepted</h1><p>The request is accepted for processing.</p></html>"

// Swift time formats.

// xTimestamp formats t like Swift's X-Timestamp, "1700000000.12345"
// (Timestamp.normal: 10-microsecond resolution, rounded).
func xTimestamp(t time.Time) string {
	u := (t.UnixNano() + 5000) / 10000
	if u < 0 {
		return fmt.Sprintf("%010d.%05d", u/100000, u%100000)
	}
	// Built in one buffer: every object GET and HEAD sends it (fmt's
	// parsing and boxing cost more than the digits).
	var buf [32]byte
	b := appendPadded(buf[:0], u/100000, 10)
	b = append(b, '.')
	b = appendPadded(b, u%100000, 5)
	return string(b)
}

// appendPadded appends n (>= 0) in decimal, zero-padded to width digits.
func appendPadded(b []byte, n int64, width int) []byte {
	var d [20]byte
	digits := strconv.AppendInt(d[:0], n, 10)
	for i := len(digits); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, digits...)
}

// lastModified is t as an HTTP date, rounded up to the next second as
// Swift does (math.ceil of the timestamp).
func lastModified(t time.Time) time.Time {
	r := t.Truncate(time.Second)
	if r.Before(t) {
		r = r.Add(time.Second)
	}
	return r.UTC()
}

func httpDate(t time.Time) string { return lastModified(t).Format(http.TimeFormat) }

// isoTime formats t like a listing's last_modified: ISO 8601, UTC,
// microseconds, no zone ("2026-01-02T03:04:05.123456").
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000") }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
