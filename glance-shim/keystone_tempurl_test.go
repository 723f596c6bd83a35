package glanceshim_test

import (
	"strconv"
	"testing"
	"time"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
)

// TestKeystoneTempURLAndQuota: with keystoneauth (Keystone tokens from
// the tokenTable double), a project member sets the account's temp URL
// key, the temp URL works without a token and its 401 is tempurl's (realm
// "unknown", not keystonemiddleware's WWW-Authenticate); the account
// quota is only settable with the reseller admin role.
func TestKeystoneTempURLAndQuota(t *testing.T) {
	ts := keystoneServer(t, nil)
	acct := ts.URL + "/v1/AUTH_p-demo"
	do := func(tok, method, url string, hdr map[string]string, body string, want int) {
		t.Helper()
		h := map[string]string{}
		for k, v := range hdr {
			h[k] = v
		}
		if tok != "" {
			h["X-Auth-Token"] = tok
		}
		var b []byte
		if method == "PUT" {
			b = []byte(body)
		}
		if st, _, rb := hc(t, method, url, h, b); st != want {
			t.Fatalf("%s %s as %q: %d %s, want %d", method, url, tok, st, rb, want)
		}
	}
	do("tok-demo", "POST", acct, map[string]string{"X-Account-Meta-Temp-URL-Key": "ks-key"}, "", 204)
	do("tok-demo", "PUT", acct+"/img", nil, "", 201)
	do("tok-demo", "PUT", acct+"/img/disk", nil, "qcow2", 201)
	exp := time.Now().Add(time.Hour).Unix()
	sig := glanceshim.TempURLSignature("sha256", "ks-key", "GET", exp, "/v1/AUTH_p-demo/img/disk", "")
	u := acct + "/img/disk?temp_url_sig=" + sig + "&temp_url_expires=" + strconv.FormatInt(exp, 10)
	st, _, b := hc(t, "GET", u, nil, nil)
	if st != 200 || string(b) != "qcow2" {
		t.Fatalf("temp URL GET: %d %q", st, b)
	}
	st, h, _ := hc(t, "GET", acct+"/img/disk?temp_url_sig=00&temp_url_expires="+strconv.FormatInt(exp, 10), nil, nil)
	if st != 401 || h.Get("Www-Authenticate") != `Swift realm="unknown"` {
		t.Errorf("invalid temp URL: %d %q", st, h.Get("Www-Authenticate"))
	}
	// The reader role is not an operator: no account POST at all.
	do("tok-demo-ro", "POST", acct, map[string]string{"X-Account-Meta-Quota-Bytes": "3"}, "", 403)
	do("tok-demo", "POST", acct, map[string]string{"X-Account-Meta-Quota-Bytes": "3"}, "", 403)
	do("tok-reseller", "POST", acct, map[string]string{"X-Account-Meta-Quota-Bytes": "3"}, "", 204)
	do("tok-demo", "PUT", acct+"/img/big", nil, "four", 413)
	do("tok-reseller", "PUT", acct+"/img/big", nil, "four", 201)
}
