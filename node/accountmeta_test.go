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

// TestAccountMetaReplicates: account metadata posted in region a
// (including a temp URL key) reaches region b with the namespace, and a
// temp URL signed with it is honoured by b; its removal replicates too.
func TestAccountMetaReplicates(t *testing.T) {
	a := startNode(t, regionConfig(t, "a", nil))
	b := startNode(t, regionConfig(t, "b", []string{a.cluster.ml.Addr()}))
	waitFor(t, 10*time.Second, "membership", func() bool {
		return len(a.cluster.ml.Peers()) == 1 && len(b.cluster.ml.Peers()) == 1
	})
	ca := login(t, a.base(), "test:tester", "testing")
	cb := login(t, b.base(), "test:tester", "testing")
	ca.must(204, "POST", "", map[string]string{"X-Account-Meta-Owner": "glance", "X-Account-Meta-Temp-URL-Key": "k1"}, nil)
	ca.must(201, "PUT", "/images", nil, nil)
	ca.must(201, "PUT", "/images/img", nil, strings.NewReader("image bytes"))
	waitFor(t, 20*time.Second, "account metadata at b", func() bool {
		resp, _ := cb.do("HEAD", "", nil, nil)
		return resp.Header.Get("X-Account-Meta-Owner") == "glance"
	})
	exp := time.Now().Add(time.Hour).Unix()
	path := "/v1/AUTH_test/images/img"
	sig := glanceshim.TempURLSignature("sha256", "k1", "GET", exp, path, "")
	var body string
	waitFor(t, 20*time.Second, "temp URL GET at b", func() bool {
		resp, err := http.Get(b.base() + path + "?temp_url_sig=" + sig + "&temp_url_expires=" + strconv.FormatInt(exp, 10))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := new(strings.Builder)
		_, _ = io.Copy(buf, resp.Body)
		body = buf.String()
		return resp.StatusCode == 200
	})
	if body != "image bytes" {
		t.Fatalf("temp URL body %q", body)
	}
	ca.must(204, "POST", "", map[string]string{"X-Remove-Account-Meta-Owner": "x"}, nil)
	waitFor(t, 20*time.Second, "removal at b", func() bool {
		resp, _ := cb.do("HEAD", "", nil, nil)
		_, present := resp.Header["X-Account-Meta-Owner"]
		return !present && resp.Header.Get("X-Account-Meta-Temp-Url-Key") == "k1"
	})
}
