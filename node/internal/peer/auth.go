package peer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxSkew is how far X-Nitro-Date may be from the server's clock.
const MaxSkew = 5 * time.Minute

// Headers of the peer protocol.
const (
	hdrDate    = "X-Nitro-Date"
	hdrRegion  = "X-Nitro-Region"
	hdrNode    = "X-Nitro-Node"
	authScheme = "Nitro "
)

var errAuth = errors.New("peer: unauthenticated")

func mac(secret []byte, method, pathQuery, date, region, node string) string {
	m := hmac.New(sha256.New, secret)
	for _, s := range []string{method, pathQuery, date, region, node} {
		m.Write([]byte(s))
		m.Write([]byte{'\n'})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// sign adds the authentication headers to req.
func sign(req *http.Request, secret []byte, region, node string, now time.Time) {
	date := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set(hdrDate, date)
	req.Header.Set(hdrRegion, region)
	req.Header.Set(hdrNode, node)
	req.Header.Set("Authorization", authScheme+mac(secret, req.Method, req.URL.RequestURI(), date, region, node))
}

// verify checks req's authentication headers; it returns the caller's
// region on success and an error saying why not otherwise.
func verify(req *http.Request, secret []byte, now time.Time) (string, error) {
	auth := req.Header.Get("Authorization")
	if !strings.HasPrefix(auth, authScheme) {
		return "", errors.New("no Nitro authorization")
	}
	date := req.Header.Get(hdrDate)
	sec, err := strconv.ParseInt(date, 10, 64)
	if err != nil {
		return "", errors.New("bad date")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return "", errors.New("date outside the skew window")
	}
	region, node := req.Header.Get(hdrRegion), req.Header.Get(hdrNode)
	want := mac(secret, req.Method, req.URL.RequestURI(), date, region, node)
	if !hmac.Equal([]byte(want), []byte(strings.TrimPrefix(auth, authScheme))) {
		return "", errors.New("bad MAC")
	}
	if region == "" {
		return "", errors.New("no region")
	}
	return region, nil
}
