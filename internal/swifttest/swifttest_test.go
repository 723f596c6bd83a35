package swifttest

import (
	"net/http"
	"testing"
)

// TestStart starts Swift and authenticates as User with tempauth v1.
func TestStart(t *testing.T) {
	s := Start(t)
	req, _ := http.NewRequest(http.MethodGet, s.AuthURL(), nil)
	req.Header.Set("X-Auth-User", User)
	req.Header.Set("X-Auth-Key", Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 || resp.Header.Get("X-Storage-Url") == "" {
		t.Fatalf("auth: %s, storage URL %q", resp.Status, resp.Header.Get("X-Storage-Url"))
	}
}
