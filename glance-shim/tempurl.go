package glanceshim

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math/bits"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TempURLConfig holds the options of Swift's tempurl middleware
// (swift/common/middleware/tempurl.py filter_factory). The zero value is
// Swift 2.30's default configuration.
type TempURLConfig struct {
	// Methods are the request methods a temp URL may sign (nil means GET,
	// HEAD, PUT, POST, DELETE).
	Methods []string
	// AllowedDigests are the HMAC digests accepted, from "sha1", "sha256"
	// and "sha512" (nil means all three; sha1 is listed as deprecated in
	// /info, as Swift does).
	AllowedDigests []string
}

// Swift 2.30's tempurl defaults (tempurl.py and common/digest.py).
var (
	defaultTempURLMethods = []string{"GET", "HEAD", "PUT", "POST", "DELETE"}
	defaultTempURLDigests = []string{"sha1", "sha256", "sha512"}
)

// Header rules of Swift's tempurl defaults: incoming X-Timestamp is
// dropped; outgoing X-Object-Meta-* are dropped except
// X-Object-Meta-Public-*; requests other than GET/HEAD carrying one of
// tempURLDisallowed get 400.
var tempURLDisallowed = []string{"X-Object-Manifest", "X-Symlink-Target", "X-Copy-From"}

// tempURLBody is the body of tempurl's 401 (tempurl.py _invalid).
const tempURLBody = "401 Unauthorized: Temp URL invalid\n"

// tempURLRules is TempURLConfig with defaults applied.
type tempURLRules struct {
	methods []string
	digests []string
}

func newTempURLRules(c *TempURLConfig) (*tempURLRules, error) {
	r := &tempURLRules{methods: defaultTempURLMethods, digests: defaultTempURLDigests}
	if c == nil {
		return r, nil
	}
	if len(c.Methods) > 0 {
		r.methods = nil
		for _, m := range c.Methods {
			r.methods = append(r.methods, strings.ToUpper(strings.TrimSpace(m)))
		}
	}
	if len(c.AllowedDigests) > 0 {
		r.digests = nil
		for _, d := range c.AllowedDigests {
			d = strings.ToLower(strings.TrimSpace(d))
			if !slices.Contains(defaultTempURLDigests, d) {
				return nil, fmt.Errorf("glanceshim: tempurl: unsupported digest %q (sha1, sha256, sha512)", d)
			}
			r.digests = append(r.digests, d)
		}
		slices.Sort(r.digests)
	}
	return r, nil
}

// info is the "tempurl" section of /info, with Swift's keys.
func (r *tempURLRules) info() map[string]any {
	m := map[string]any{
		"methods":                 r.methods,
		"incoming_remove_headers": []string{"x-timestamp"},
		"incoming_allow_headers":  []string{},
		"outgoing_remove_headers": []string{"x-object-meta-*"},
		"outgoing_allow_headers":  []string{"x-object-meta-public-*"},
		"allowed_digests":         r.digests,
	}
	if slices.Contains(r.digests, "sha1") {
		m["deprecated_digests"] = []string{"sha1"}
	}
	return m
}

// tempURLParams are a request's temp URL query parameters
// (tempurl.py _get_temp_url_info).
type tempURLParams struct {
	sig                string
	hasSig, hasExpires bool
	expires            int64 // 0: unparsable or expired
	prefix             string
	hasPrefix          bool
	filename           string
	inline             bool
	ipRange            string
	hasIPRange         bool
}

// parseQueryAmp parses a query string as Python's parse_qs with
// keep_blank_values: pairs split on '&' only (a ';' stays in the value),
// '+' is a space, percent escapes decoded; the first value of a key is
// kept.
func parseQueryAmp(raw string) map[string]string {
	out := map[string]string{}
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			continue
		}
		if _, dup := out[k]; !dup {
			out[k] = v
		}
	}
	return out
}

// parseTempURLParams reads the temp URL parameters of a query string.
// An expires that is neither an integer nor "%Y-%m-%dT%H:%M:%SZ", or that
// is before now, reads as 0.
func parseTempURLParams(rawQuery string, now time.Time) tempURLParams {
	var p tempURLParams
	if !strings.Contains(rawQuery, "temp_url_") {
		return p
	}
	qs := parseQueryAmp(rawQuery)
	p.ipRange, p.hasIPRange = qs["temp_url_ip_range"]
	p.sig, p.hasSig = qs["temp_url_sig"]
	var e string
	if e, p.hasExpires = qs["temp_url_expires"]; p.hasExpires {
		p.expires = parseExpires(e)
		if float64(p.expires) < float64(now.UnixNano())/1e9 {
			p.expires = 0
		}
	}
	p.prefix, p.hasPrefix = qs["temp_url_prefix"]
	p.filename = qs["filename"]
	_, p.inline = qs["inline"]
	return p
}

// parseExpires is tempurl's int(v), falling back to ISO 8601
// (calendar.timegm(time.strptime(v, "%Y-%m-%dT%H:%M:%SZ"))); 0 if
// neither parses.
func parseExpires(v string) int64 {
	if n, ok := pyInt(v); ok {
		return n
	}
	if n, ok := strptimeISO(v); ok {
		return n
	}
	return 0
}

// strptimeRE is Python's _strptime regular expression for
// "%Y-%m-%dT%H:%M:%SZ": case-insensitive, month, day, hour, minute and
// second of one digit or two (a day also " 9"), seconds up to 61.
var strptimeRE = regexp.MustCompile(`(?i)^(\d\d\d\d)-(1[0-2]|0[1-9]|[1-9])-(3[01]|[12]\d|0[1-9]|[1-9]| [1-9])T(2[0-3]|[0-1]\d|\d):([0-5]\d|\d):(6[0-1]|[0-5]\d|\d)Z$`)

// strptimeISO is calendar.timegm(time.strptime(v, "%Y-%m-%dT%H:%M:%SZ"))
// as Swift's tempurl computes it: Unix seconds, false where strptime
// raises ValueError (no match, year 0, or a day past the month's end).
func strptimeISO(v string) (int64, bool) {
	m := strptimeRE.FindStringSubmatch(v)
	if m == nil {
		return 0, false
	}
	n := make([]int, 6)
	for i := range n {
		n[i], _ = strconv.Atoi(strings.TrimSpace(m[i+1]))
	}
	t := time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], 0, time.UTC)
	if end := time.Date(n[0], time.Month(n[1])+1, 0, 0, 0, 0, 0, time.UTC).Day(); n[2] > end || n[0] < 1 {
		return 0, false // "day is out of range for month"
	}
	return t.Unix(), true
}

// splitDigest is Swift's extract_digest_and_algorithm: "<hex>" (sha1,
// sha256 or sha512 by length) or "<algo>:<base64>" (standard or URL-safe,
// padding optional), returned as (algo, lowercase hex).
func splitDigest(v string) (algo, hexSig string, err error) {
	if a, b64, ok := strings.Cut(v, ":"); ok {
		if strings.ContainsAny(b64, "-_") && !strings.ContainsAny(b64, "+/") {
			b64 = strings.NewReplacer("-", "+", "_", "/").Replace(b64)
		}
		b64 = strings.TrimRight(strings.TrimLeft(b64, "="), "=")
		raw, err := base64.RawStdEncoding.DecodeString(b64)
		if err != nil {
			return "", "", fmt.Errorf("bad base64 signature: %w", err)
		}
		return a, hex.EncodeToString(raw), nil
	}
	if _, err := hex.DecodeString(v); err != nil {
		return "", "", fmt.Errorf("bad hex signature: %w", err)
	}
	switch len(v) {
	case 40:
		return "sha1", v, nil
	case 64:
		return "sha256", v, nil
	case 128:
		return "sha512", v, nil
	}
	return "", "", errors.New("bad digest length")
}

func digestFunc(algo string) func() hash.Hash {
	switch algo {
	case "sha1":
		return sha1.New
	case "sha256":
		return sha256.New
	case "sha512":
		return sha512.New
	}
	return nil
}

// TempURLSignature is Swift's get_hmac (swift/common/digest.py): the hex
// HMAC with key, using algo ("sha1", "sha256" or "sha512"), of
// "[ip=<ipRange>\n]<method>\n<expires>\n<path>", where path is
// "/v1/<account>/<container>/<object>" unescaped, or
// "prefix:/v1/<account>/<container>/<prefix>" for a prefix-based temp
// URL. It returns "" for an unknown algo.
func TempURLSignature(algo, key, method string, expires int64, path, ipRange string) string {
	f := digestFunc(algo)
	if f == nil {
		return ""
	}
	m := hmac.New(f, []byte(key))
	if ipRange != "" {
		m.Write([]byte("ip=" + ipRange + "\n"))
	}
	m.Write([]byte(method + "\n" + strconv.FormatInt(expires, 10) + "\n" + path))
	return hex.EncodeToString(m.Sum(nil))
}

// tempURLGrant is what a valid temp URL allows: requests to the account,
// or (container scope) only to the container, as tempurl.py's
// authorize_same_account / authorize_same_container.
type tempURLGrant struct {
	account, container string // container "" for account scope
	expires            int64
	filename           string
	inline             bool
}

// authorize is the grant's swift.authorize: nil inside its scope, else
// 401.
func (g *tempURLGrant) authorize(account, container string) error {
	if account == g.account && (g.container == "" || container == g.container) {
		return nil
	}
	return fmt.Errorf("temp URL for %s does not reach %s/%s: %w", g.account, account, container, ErrUnauthorized)
}

// tempURLKeys are the account's then the container's temp URL keys; each
// marks whether it is container-scoped.
type tempURLKey struct {
	key       string
	container bool
}

// tempURLKeys is tempurl.py _get_keys: X-Account-Meta-Temp-URL-Key(-2)
// then X-Container-Meta-Temp-URL-Key(-2); a missing container has none.
func (q *request) tempURLKeys(ctx context.Context) ([]tempURLKey, error) {
	var keys []tempURLKey
	am, err := q.s.accountMeta(ctx, q.p.Account)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"temp-url-key", "temp-url-key-2"} {
		if v := am[k]; v != "" {
			keys = append(keys, tempURLKey{key: v})
		}
	}
	cm, err := q.s.containerMeta(ctx, q.p.Account, q.p.Container)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	for _, k := range []string{"temp-url-key", "temp-url-key-2"} {
		if v := cm[k]; v != "" {
			keys = append(keys, tempURLKey{key: v, container: true})
		}
	}
	return keys, nil
}

// tempURL is Swift's tempurl middleware, run before token auth. It
// reports handled when it answered the request itself (401 "Temp URL
// invalid", or 400 for a disallowed header); with a valid temp URL it
// sets q.tu (the grant), removes the incoming headers Swift removes,
// keeps only the temp URL parameters in the query and wraps q.w to apply
// the outgoing header rules. Requests without temp_url_sig and
// temp_url_expires, and OPTIONS, pass through untouched.
func (q *request) tempURL() (handled bool, err error) {
	if q.r.Method == http.MethodOptions {
		return false, nil
	}
	p := parseTempURLParams(q.r.URL.RawQuery, time.Now())
	if !p.hasSig && !p.hasExpires {
		return false, nil
	}
	rules := q.s.tu
	invalid := func() (bool, error) {
		q.tempURLInvalid()
		return true, nil
	}
	if p.sig == "" || p.expires == 0 {
		return invalid()
	}
	algo, sig, err := splitDigest(p.sig)
	if err != nil || !slices.Contains(rules.digests, algo) {
		return invalid()
	}
	if !slices.Contains(rules.methods, q.r.Method) || q.p.Kind != kindObject || q.p.Version != "v1" ||
		strings.Trim(q.p.Object, "/") == "" {
		return invalid()
	}
	if p.ipRange != "" && !ipInRange(q.r.RemoteAddr, p.ipRange) {
		return invalid()
	}
	keys, err := q.tempURLKeys(q.r.Context())
	if err != nil {
		return false, err
	}
	if len(keys) == 0 {
		return invalid()
	}
	path := "/v1/" + q.p.Account + "/" + q.p.Container + "/" + q.p.Object
	if p.hasPrefix {
		if !strings.HasPrefix(q.p.Object, p.prefix) {
			return invalid()
		}
		path = "prefix:/v1/" + q.p.Account + "/" + q.p.Container + "/" + p.prefix
	}
	methods := []string{q.r.Method}
	if q.r.Method == http.MethodHead {
		methods = []string{"HEAD", "GET", "POST", "PUT"}
	}
	var match *tempURLKey
	for _, m := range methods {
		for i := range keys {
			want := TempURLSignature(algo, keys[i].key, m, p.expires, path, p.ipRange)
			if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) == 1 {
				match = &keys[i]
				break
			}
		}
		if match != nil {
			break
		}
	}
	if match == nil {
		return invalid()
	}
	if q.r.Method != http.MethodGet && q.r.Method != http.MethodHead {
		for _, h := range tempURLDisallowed {
			if _, ok := q.r.Header[h]; ok {
				return false, badRequestHTML("The header '%s' is not allowed in this tempurl", h)
			}
		}
	}
	q.r.Header.Del("X-Timestamp")
	g := &tempURLGrant{account: q.p.Account, expires: p.expires, filename: p.filename, inline: p.inline}
	if match.container {
		g.container = q.p.Container
	}
	v := url.Values{"temp_url_sig": {p.sig}, "temp_url_expires": {strconv.FormatInt(p.expires, 10)}}
	if p.hasPrefix {
		v.Set("temp_url_prefix", p.prefix)
	}
	if p.filename != "" {
		v.Set("filename", p.filename)
	}
	q.r.URL.RawQuery = v.Encode()
	q.tu = g
	q.id = nil // tempurl overrides the token's authorization
	q.w = &tempURLWriter{ResponseWriter: q.w, q: q, g: g}
	return false, nil
}

// tempURLInvalid answers tempurl's 401: "401 Unauthorized: Temp URL
// invalid\n" (no body for HEAD), realm "unknown" as Swift's swob sets it.
func (q *request) tempURLInvalid() {
	h := q.w.Header()
	h.Set("Content-Type", "text/html; charset=UTF-8")
	h.Set("Www-Authenticate", `Swift realm="unknown"`)
	if q.r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		q.w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(tempURLBody)))
	if q.unreadBody() {
		h.Set("Connection", "close")
	}
	q.w.WriteHeader(http.StatusUnauthorized)
	_, _ = q.w.Write([]byte(tempURLBody))
}

// ipInRange is tempurl's temp_url_ip_range check: remote's IP inside the
// network ipRange as Python's ipaddress.ip_network (strict) reads it,
// which Swift's tempurl.py calls: an address alone is a /32 or /128; after
// "/" an IPv4 network takes a prefix length (ASCII digits, leading zeros
// allowed), a netmask ("255.0.0.0") or a hostmask ("0.255.255.255"), an
// IPv6 one a prefix length only; host bits set, or anything else, makes
// the range invalid (false). An IPv4 client is never inside an IPv6
// network, nor the reverse.
func ipInRange(remote, ipRange string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	pfx, ok := pyIPNetwork(ipRange)
	if !ok || pfx.Addr().Is4() != ip.Is4() {
		return false
	}
	return pfx.Contains(ip)
}

// pyIPNetwork parses s as Python's ipaddress.ip_network(s) (strict=True);
// false where Python raises ValueError.
func pyIPNetwork(s string) (netip.Prefix, bool) {
	addrPart, maskPart, hasMask := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addrPart)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	plen := a.BitLen()
	if hasMask {
		if n, ok := pyPrefixLen(maskPart, plen); ok {
			plen = n
		} else if n, ok := ipv4MaskLen(maskPart); ok && a.Is4() {
			plen = n
		} else {
			return netip.Prefix{}, false
		}
	}
	pfx := netip.PrefixFrom(a, plen)
	if pfx.Masked().Addr() != a { // host bits set
		return netip.Prefix{}, false
	}
	return pfx, true
}

// pyPrefixLen is a prefix length as ipaddress reads it: ASCII digits
// only, 0 to max.
func pyPrefixLen(s string, max int) (int, bool) {
	if s == "" || len(s) > 8 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= max
}

// ipv4MaskLen is the prefix length of a dotted-quad netmask
// ("255.255.0.0") or, failing that, hostmask ("0.0.255.255"), as
// ipaddress's _prefix_from_ip_string.
func ipv4MaskLen(s string) (int, bool) {
	m, err := netip.ParseAddr(s)
	if err != nil || !m.Is4() {
		return 0, false
	}
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	for _, x := range []uint32{v, ^v} {
		ones := bits.LeadingZeros32(^x)
		if x<<ones == 0 { // ones then zeros only
			return ones, true
		}
	}
	return 0, false
}

// tempURLWriter applies tempurl's outgoing rules when the response
// header is written: X-Object-Meta-* removed except
// X-Object-Meta-Public-*; on a 2xx GET or HEAD, Content-Disposition
// (inline / attachment with the filename, else the stored one, else
// attachment with the object's name) and Expires (the temp URL's
// expiry).
type tempURLWriter struct {
	http.ResponseWriter
	q     *request
	g     *tempURLGrant
	wrote bool
}

// Unwrap lets http.ResponseController reach the connection.
func (w *tempURLWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher when the underlying writer does.
func (w *tempURLWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *tempURLWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// WriteHeader implements http.ResponseWriter.
func (w *tempURLWriter) WriteHeader(status int) {
	if w.wrote {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.wrote = true
	h := w.Header()
	for k := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-object-meta-") && !strings.HasPrefix(lk, "x-object-meta-public-") {
			delete(h, k)
		}
	}
	m := w.q.r.Method
	if (m == http.MethodGet || m == http.MethodHead) && status/100 == 2 {
		var disp string
		switch {
		case w.g.inline && w.g.filename != "":
			disp = dispositionFormat("inline", w.g.filename)
		case w.g.inline:
			disp = "inline"
		case w.g.filename != "":
			disp = dispositionFormat("attachment", w.g.filename)
		case h.Get("Content-Disposition") != "":
			disp = h.Get("Content-Disposition")
		default:
			full := strings.TrimRight("/v1/"+w.q.p.Account+"/"+w.q.p.Container+"/"+w.q.p.Object, "/")
			disp = dispositionFormat("attachment", full[strings.LastIndexByte(full, '/')+1:])
		}
		h.Set("Content-Disposition", strings.ReplaceAll(disp, "\n", "%0A"))
		h.Set("Expires", time.Unix(w.g.expires, 0).UTC().Format(http.TimeFormat))
	}
	w.ResponseWriter.WriteHeader(status)
}

// dispositionFormat is tempurl.py's disposition_format.
func dispositionFormat(typ, filename string) string {
	return typ + `; filename="` + pyQuote(filename, " /") + `"; filename*=UTF-8''` + pyQuote(filename, "/")
}

// pyQuote is Python's urllib.parse.quote: bytes other than letters,
// digits, "_.-~" and safe are %XX-escaped (upper-case hex).
func pyQuote(s, safe string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("_.-~", c) >= 0 || strings.IndexByte(safe, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
