package node

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
)

// BenchmarkHeadTempURL is a HEAD of an object over loopback HTTP on a
// real node (Badger on disk), with a token ("token") and through a
// temp URL signed with the account key ("tempurl-sha256"): the
// difference is the temp URL validation (account and container metadata
// reads, up to two HMACs for a GET-signed URL) minus the token lookup.
func BenchmarkHeadTempURL(b *testing.B) {
	_, c := benchNode(b)
	c.must(204, "POST", "", map[string]string{"X-Account-Meta-Temp-URL-Key": "bench-key"}, nil)
	c.must(201, "PUT", "/bench/o", nil, strings.NewReader("x"))
	exp := time.Now().Add(time.Hour).Unix()
	path := "/v1/AUTH_test/bench/o"
	base := strings.TrimSuffix(c.storageURL, "/v1/AUTH_test")
	tu := base + path + "?temp_url_sig=" + glanceshim.TempURLSignature("sha256", "bench-key", "GET", exp, path, "") +
		"&temp_url_expires=" + strconv.FormatInt(exp, 10)
	client := &http.Client{}
	for _, bc := range []struct {
		name, url, token string
	}{
		{"token", c.storageURL + "/bench/o", c.token},
		{"tempurl-sha256", tu, ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest("HEAD", bc.url, nil)
				if bc.token != "" {
					req.Header.Set("X-Auth-Token", bc.token)
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("HEAD: %d", resp.StatusCode)
				}
			}
		})
	}
}
