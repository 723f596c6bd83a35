package glanceshim

import (
	"errors"
	"net/http"
	"slices"
	"strings"
)

// CORS, as Swift 2.30's proxy does it (proxy/controllers/base.py
// Controller.OPTIONS and cors_validation), from the container's
// X-Container-Meta-Access-Control-Allow-Origin (space-separated origins
// or "*"), -Max-Age and -Expose-Headers, in strict_cors_mode (Swift's
// default): a response carries CORS headers only for an allowed Origin.
// Nitro has no cors_allow_origin / cors_expose_headers proxy options.

// Methods the proxy's controllers answer (Swift's allowed_methods, in the
// order a Swift 2.30 proxy printed them; Swift's order is a Python set's
// and may differ between processes). Objects also get COPY in Allow (the
// copy middleware appends it to a successful OPTIONS).
const corsMethods = "POST, GET, DELETE, HEAD, PUT, OPTIONS"

// accountMethods are the account controller's methods with
// allow_account_management = false (no PUT, DELETE).
const accountMethods = "POST, GET, HEAD, OPTIONS"

// corsSimpleExpose are the headers cors_validation always exposes.
var corsSimpleExpose = []string{"cache-control", "content-language", "content-type",
	"expires", "last-modified", "pragma", "etag", "x-timestamp", "x-trans-id",
	"x-openstack-request-id"}

// corsInfo is a container's CORS metadata.
type corsInfo struct {
	allowOrigin, exposeHeaders, maxAge string
	maxAgeSet                          bool
}

func corsFromMeta(meta map[string]string) corsInfo {
	ma, ok := meta["access-control-max-age"]
	return corsInfo{allowOrigin: meta["access-control-allow-origin"],
		exposeHeaders: meta["access-control-expose-headers"], maxAge: ma, maxAgeSet: ok}
}

// originAllowed is Swift's is_origin_allowed.
func (c corsInfo) originAllowed(origin string) bool {
	for _, a := range strings.Split(c.allowOrigin, " ") {
		if a = strings.TrimSpace(a); a != "" && (a == origin || a == "*") {
			return true
		}
	}
	return false
}

func (c corsInfo) star() bool { return strings.TrimSpace(c.allowOrigin) == "*" }

// handleOptions serves OPTIONS on an account, container or object
// without authentication (tempauth and keystoneauth let OPTIONS through):
// 200 with Allow; with an Origin (a CORS preflight on a container or
// object), 401 unless the origin is allowed by the container's metadata
// and Access-Control-Request-Method is one of the methods, else the
// preflight headers. An account has no CORS: 200 with Allow.
func (q *request) handleOptions() error {
	h := q.w.Header()
	allow := corsMethods
	switch q.p.Kind {
	case kindObject:
		allow += ", COPY"
	case kindAccount:
		allow = accountMethods
	}
	origin := q.r.Header.Get("Origin")
	if origin == "" || q.p.Kind == kindAccount {
		h.Set("Allow", allow)
		q.writeEmpty(http.StatusOK)
		return nil
	}
	cm, err := q.s.containerMeta(q.r.Context(), q.p.Account, q.p.Container)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	cors := corsFromMeta(cm)
	if !cors.originAllowed(origin) || !slices.Contains(strings.Split(corsMethods, ", "), q.r.Header.Get("Access-Control-Request-Method")) {
		// Swift's 401 here carries Allow without COPY and no
		// WWW-Authenticate.
		h.Set("Allow", corsMethods)
		body := "<html><h1>Unauthorized</h1><p>This server could not verify that you are authorized to access the document you requested.</p></html>"
		h.Set("Content-Type", "text/html; charset=UTF-8")
		h.Set("Content-Length", itoa(int64(len(body))))
		q.w.WriteHeader(http.StatusUnauthorized)
		_, _ = q.w.Write([]byte(body))
		return nil
	}
	h.Set("Allow", allow)
	var vary []string
	if cors.star() {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		vary = append(vary, "Origin")
	}
	if cors.maxAgeSet {
		h.Set("Access-Control-Max-Age", cors.maxAge)
	}
	h.Set("Access-Control-Allow-Methods", allow)
	var reqHeaders []string
	for _, v := range strings.Split(q.r.Header.Get("Access-Control-Request-Headers"), ",") {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(reqHeaders, v) {
			reqHeaders = append(reqHeaders, v)
		}
	}
	if len(reqHeaders) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(reqHeaders, ", "))
		vary = append(vary, "Access-Control-Request-Headers")
	}
	if len(vary) > 0 {
		h.Set("Vary", strings.Join(vary, ", "))
	}
	h.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK) // Swift's preflight answer has no Content-Type
	return nil
}

// setupCORS wraps q.w for a CORS request (an Origin header) to a
// container or object whose container allows the origin: the response
// gets Access-Control-Allow-Origin (the origin, or "*"), Vary: Origin and
// Access-Control-Expose-Headers (Swift's simple headers, the response's
// X-Container-Meta-* and X-Object-Meta-* and the container's
// Access-Control-Expose-Headers), whatever its status, as
// cors_validation does.
func (q *request) setupCORS() error {
	origin := q.r.Header.Get("Origin")
	if origin == "" || (q.p.Kind != kindContainer && q.p.Kind != kindObject) {
		return nil
	}
	cm, err := q.s.containerMeta(q.r.Context(), q.p.Account, q.p.Container)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	cors := corsFromMeta(cm)
	if !cors.originAllowed(origin) {
		return nil
	}
	q.w = &corsWriter{ResponseWriter: q.w, origin: origin, cors: cors}
	return nil
}

// corsWriter adds the CORS response headers when the header is written.
type corsWriter struct {
	http.ResponseWriter
	origin string
	cors   corsInfo
	wrote  bool
}

// Unwrap lets http.ResponseController reach the connection.
func (w *corsWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher when the underlying writer does.
func (w *corsWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *corsWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// WriteHeader implements http.ResponseWriter.
func (w *corsWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		w.addHeaders(w.Header())
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *corsWriter) addHeaders(h http.Header) {
	if h.Get("Access-Control-Expose-Headers") == "" {
		expose := slices.Clone(corsSimpleExpose)
		add := func(v string) {
			if !slices.Contains(expose, v) {
				expose = append(expose, v)
			}
		}
		for k := range h {
			if strings.HasPrefix(k, "X-Container-Meta") || strings.HasPrefix(k, "X-Object-Meta") {
				add(strings.ToLower(k))
			}
		}
		for _, v := range strings.Split(w.cors.exposeHeaders, " ") {
			if v = strings.ToLower(strings.TrimSpace(v)); v != "" {
				add(v)
			}
		}
		slices.Sort(expose)
		h.Set("Access-Control-Expose-Headers", strings.Join(expose, ", "))
	}
	if h.Get("Access-Control-Allow-Origin") == "" {
		if w.cors.star() {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", w.origin)
			switch v := h.Get("Vary"); v {
			case "":
				h.Set("Vary", "Origin")
			case "Accept":
				// Swift's listing_formats adds Accept after the proxy's
				// CORS code added Origin.
				h.Set("Vary", "Origin, Accept")
			default:
				h.Set("Vary", v+", Origin")
			}
		}
	}
}
