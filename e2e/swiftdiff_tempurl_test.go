package e2e

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
)

// TestSwiftDiffTempURL: the tempurl middleware against Swift 2.30's.
// Temp URL signatures cover the expanded object path, so these cases use
// literal container names ("tudiff-…", one case each) instead of {c};
// the account key is set on AUTH_test2, which no other case reads.
func TestSwiftDiffTempURL(t *testing.T) { runDiff(t, tempURLCases()) }

// tuExp is the expiry of the temp URLs of a run (an hour ahead).
var tuExp = time.Now().Add(time.Hour).Unix()

// tuQuery is the query of a temp URL for method on path
// ("/v1/AUTH_test/c/o") with key and algo, expiring at exp; extra is
// appended.
func tuQuery(algo, key, method, path string, exp int64, extra string) string {
	return "?temp_url_sig=" + glanceshim.TempURLSignature(algo, key, method, exp, path, "") +
		"&temp_url_expires=" + strconv.FormatInt(exp, 10) + extra
}

func tempURLCases() []diffCase {
	const c, o = "tudiff-c", "/v1/AUTH_test/tudiff-c/o"
	get := func(algo, key string) string { return "tudiff-c/o" + tuQuery(algo, key, "GET", o, tuExp, "") }
	mac := hmac.New(sha512.New, []byte("ckey"))
	mac.Write([]byte(fmt.Sprintf("GET\n%d\n%s", tuExp, o)))
	b64 := "tudiff-c/o?temp_url_sig=sha512:" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) + "&temp_url_expires=" + strconv.FormatInt(tuExp, 10)
	iso := time.Unix(tuExp, 0).UTC().Format("2006-01-02T15:04:05Z")
	isoUnpadded := time.Unix(tuExp, 0).UTC().Format("2006-1-2T15:4:5Z")
	outHeaders := []string{"Content-Disposition", "Expires", "Etag", "X-Object-Meta-Public-A", "X-Object-Meta-B", "Www-Authenticate"}
	anon := func(method, path string, extra ...string) diffStep {
		return diffStep{As: "anon", Method: method, Path: path, Compare: append(extra, outHeaders...)}
	}
	setup := []diffStep{
		{Method: "PUT", Path: c, Header: map[string]string{"X-Container-Meta-Temp-URL-Key": "ckey"}, Setup: true},
		{Method: "PUT", Path: c + "/o", Body: "hello", Header: map[string]string{"X-Object-Meta-Public-A": "1", "X-Object-Meta-B": "2"}, Setup: true},
		{Method: "PUT", Path: c + "/pre/x", Body: "x", Setup: true},
		{Method: "PUT", Path: "tudiff-d", Setup: true},
		{Method: "PUT", Path: "tudiff-d/o", Body: "d", Setup: true},
	}
	put := "tudiff-c/new" + tuQuery("sha256", "ckey", "PUT", "/v1/AUTH_test/tudiff-c/new", tuExp, "")
	return []diffCase{{
		Name: "tempurl container key",
		Steps: append(setup,
			anon("GET", get("sha1", "ckey")),
			anon("GET", get("sha256", "ckey")),
			anon("GET", b64),
			anon("HEAD", get("sha1", "ckey")),
			anon("HEAD", "tudiff-c/o"+tuQuery("sha1", "ckey", "PUT", o, tuExp, "")),
			anon("GET", "tudiff-c/o"+tuQuery("sha256", "ckey", "GET", o, tuExp, "&inline")),
			anon("GET", "tudiff-c/o"+tuQuery("sha256", "ckey", "GET", o, tuExp, "&filename=a%20b%C3%A9;x.txt")),
			anon("GET", "tudiff-c/o"+tuQuery("sha256", "ckey", "GET", o, tuExp, "&inline&filename=r%C3%A9sum%C3%A9.pdf")),
			anon("GET", "tudiff-c/o?temp_url_sig="+glanceshim.TempURLSignature("sha256", "ckey", "GET", tuExp, o, "")+"&temp_url_expires="+iso),
			anon("GET", "tudiff-c/o"+tuQuery("sha256", "ckey", "GET", o, tuExp, "&multipart-manifest=get")),
			// temp_url_expires as Python's int() and time.strptime read it.
			anon("GET", tuExpires("ckey", o, "%2B"+strconv.FormatInt(tuExp, 10))),
			anon("GET", tuExpires("ckey", o, strconv.FormatInt(tuExp/1000, 10)+"_"+fmt.Sprintf("%03d", tuExp%1000))),
			anon("GET", tuExpires("ckey", o, "%20"+strconv.FormatInt(tuExp, 10)+"%20")),
			anon("GET", tuExpires("ckey", o, strings.ToLower(iso))),
			anon("GET", tuExpires("ckey", o, isoUnpadded)),
			anon("GET", tuExpires("ckey", o, strings.TrimSuffix(iso, "Z"))),
			anon("GET", tuExpires("ckey", o, strings.Replace(iso, "T", "%20", 1))),
			anon("GET", "tudiff-c/pre/x?temp_url_sig="+glanceshim.TempURLSignature("sha256", "ckey", "GET", tuExp, "prefix:/v1/AUTH_test/tudiff-c/pre/", "")+
				"&temp_url_expires="+strconv.FormatInt(tuExp, 10)+"&temp_url_prefix=pre/"),
			anon("GET", "tudiff-c/o?temp_url_sig="+glanceshim.TempURLSignature("sha256", "ckey", "GET", tuExp, "prefix:/v1/AUTH_test/tudiff-c/pre/", "")+
				"&temp_url_expires="+strconv.FormatInt(tuExp, 10)+"&temp_url_prefix=pre/"),
			anon("GET", "tudiff-c/o?temp_url_sig="+glanceshim.TempURLSignature("sha256", "ckey", "GET", tuExp, o, "127.0.0.1")+
				"&temp_url_expires="+strconv.FormatInt(tuExp, 10)+"&temp_url_ip_range=127.0.0.1"),
			anon("GET", "tudiff-c/o?temp_url_sig="+glanceshim.TempURLSignature("sha256", "ckey", "GET", tuExp, o, "10.0.0.0/8")+
				"&temp_url_expires="+strconv.FormatInt(tuExp, 10)+"&temp_url_ip_range=10.0.0.0/8"),
			anon("GET", "tudiff-d/o"+tuQuery("sha256", "ckey", "GET", "/v1/AUTH_test/tudiff-d/o", tuExp, "")),
			// temp_url_ip_range as Python's ip_network reads it (strict:
			// host bits set is invalid; netmask and hostmask forms).
			anon("GET", tuIPRange("ckey", o, "127.0.0.0/8")),
			anon("GET", tuIPRange("ckey", o, "127.0.0.1/8")),
			anon("GET", tuIPRange("ckey", o, "127.0.0.0/255.0.0.0")),
			anon("GET", tuIPRange("ckey", o, "127.0.0.0/0.255.255.255")),
			anon("GET", tuIPRange("ckey", o, "::1")),
			anon("GET", tuIPRange("ckey", o, "garbage")),
			anon("GET", tuIPRange("ckey", o, "")),
			anon("PUT", put),
			anon("GET", put),
			diffStep{As: "anon", Method: "PUT", Path: put, Header: map[string]string{"X-Object-Manifest": "tudiff-c/pre"}},
			diffStep{As: "anon", Method: "PUT", Path: put, Header: map[string]string{"X-Copy-From": "tudiff-c/o"}},
			anon("GET", "tudiff-c/new"),
			anon("DELETE", "tudiff-c/new"+tuQuery("sha512", "ckey", "DELETE", "/v1/AUTH_test/tudiff-c/new", tuExp, "")),
			anon("GET", "tudiff-c"+tuQuery("sha1", "ckey", "GET", "/v1/AUTH_test/tudiff-c", tuExp, "")),
			// Container keys are for owners only.
			diffStep{Method: "HEAD", Path: c, Compare: []string{"X-Container-Meta-Temp-Url-Key"}},
			diffStep{As: "tester3", Method: "HEAD", Path: c, Compare: []string{"X-Container-Meta-Temp-Url-Key"}},
		),
	}, {
		Name: "tempurl invalid",
		Steps: []diffStep{
			{Method: "PUT", Path: "tudiff-e", Header: map[string]string{"X-Container-Meta-Temp-URL-Key-2": "k2"}, Setup: true},
			{Method: "PUT", Path: "tudiff-e/o", Body: "e", Setup: true},
			anon("GET", "tudiff-e/o"+tuQuery("sha256", "k2", "GET", "/v1/AUTH_test/tudiff-e/o", tuExp, "")),
			anon("GET", "tudiff-e/o"+tuQuery("sha256", "wrong", "GET", "/v1/AUTH_test/tudiff-e/o", tuExp, "")),
			anon("HEAD", "tudiff-e/o"+tuQuery("sha256", "wrong", "GET", "/v1/AUTH_test/tudiff-e/o", tuExp, "")),
			anon("GET", "tudiff-e/o"+tuQuery("sha256", "k2", "GET", "/v1/AUTH_test/tudiff-e/o", 1700000000, "")),
			anon("GET", "tudiff-e/o?temp_url_sig=abcd&temp_url_expires="+strconv.FormatInt(tuExp, 10)),
			anon("GET", "tudiff-e/o?temp_url_sig=sha1:%21%21&temp_url_expires="+strconv.FormatInt(tuExp, 10)),
			anon("GET", "tudiff-e/o?temp_url_sig=md5:AAAA&temp_url_expires="+strconv.FormatInt(tuExp, 10)),
			anon("GET", "tudiff-e/o?temp_url_sig=abc"),
			anon("GET", "tudiff-e/o?temp_url_expires="+strconv.FormatInt(tuExp, 10)),
			anon("GET", "tudiff-e/o?temp_url_sig=abc&temp_url_expires=soon"),
			anon("POST", "tudiff-e/o"+tuQuery("sha256", "k2", "GET", "/v1/AUTH_test/tudiff-e/o", tuExp, "")),
		},
	}, {
		Name: "tempurl dlo scope and tokens",
		Steps: []diffStep{
			{Method: "PUT", Path: "tudiff-g", Header: map[string]string{"X-Container-Meta-Temp-URL-Key": "gkey"}, Setup: true},
			{Method: "PUT", Path: "tudiff-h", Setup: true},
			{Method: "PUT", Path: "tudiff-g/seg/1", Body: "g1", Setup: true},
			{Method: "PUT", Path: "tudiff-g/seg/2", Body: "g2", Setup: true},
			{Method: "PUT", Path: "tudiff-h/seg/1", Body: "h1", Setup: true},
			{Method: "PUT", Path: "tudiff-g/same", Header: map[string]string{"X-Object-Manifest": "tudiff-g/seg/"}, Setup: true},
			{Method: "PUT", Path: "tudiff-g/other", Header: map[string]string{"X-Object-Manifest": "tudiff-h/seg/"}, Setup: true},
			anon("GET", "tudiff-g/same"+tuQuery("sha256", "gkey", "GET", "/v1/AUTH_test/tudiff-g/same", tuExp, "")),
			anon("GET", "tudiff-g/other"+tuQuery("sha256", "gkey", "GET", "/v1/AUTH_test/tudiff-g/other", tuExp, "")),
			{As: "tester3", Method: "GET", Path: "tudiff-g/same" + tuQuery("sha256", "gkey", "GET", "/v1/AUTH_test/tudiff-g/same", tuExp, ""),
				Compare: outHeaders},
			{As: "anon", Method: "GET", Path: "tudiff-g/same" + tuQuery("sha256", "gkey", "GET", "/v1/AUTH_test/tudiff-g/same", tuExp, ""),
				Header: map[string]string{"X-Auth-Token": "AUTH_tk00000000000000000000000000000000"}, Compare: outHeaders},
			{As: "anon", Method: "OPTIONS", Path: "tudiff-g/same" + tuQuery("sha256", "gkey", "GET", "/v1/AUTH_test/tudiff-g/same", tuExp, "")},
		},
	}, {
		Name: "tempurl account key",
		Steps: []diffStep{
			{As: "tester2", Method: "POST", Path: "", Header: map[string]string{"X-Account-Meta-Temp-URL-Key": "akey"}, Setup: true},
			{As: "tester2", Method: "PUT", Path: "/v1/AUTH_test2/tudiff-f", Setup: true},
			{As: "tester2", Method: "PUT", Path: "/v1/AUTH_test2/tudiff-f/o", Body: "f", Setup: true},
			anon("GET", "/v1/AUTH_test2/tudiff-f/o"+tuQuery("sha1", "akey", "GET", "/v1/AUTH_test2/tudiff-f/o", tuExp, "")),
			anon("GET", "/v1/AUTH_test2/tudiff-f/missing"+tuQuery("sha1", "akey", "GET", "/v1/AUTH_test2/tudiff-f/missing", tuExp, "")),
			anon("GET", "/v1/AUTH_test2/tudiff-nope/o"+tuQuery("sha1", "akey", "GET", "/v1/AUTH_test2/tudiff-nope/o", tuExp, "")),
			{As: "tester2", Method: "HEAD", Path: "", Compare: []string{"X-Account-Meta-Temp-Url-Key"}},
			// The second account key: both keys sign.
			{As: "tester2", Method: "POST", Path: "", Header: map[string]string{"X-Account-Meta-Temp-URL-Key-2": "akey2"}, Setup: true},
			anon("GET", "/v1/AUTH_test2/tudiff-f/o"+tuQuery("sha256", "akey2", "GET", "/v1/AUTH_test2/tudiff-f/o", tuExp, "")),
			anon("GET", "/v1/AUTH_test2/tudiff-f/o"+tuQuery("sha512", "akey", "GET", "/v1/AUTH_test2/tudiff-f/o", tuExp, "")),
			{As: "tester2", Method: "HEAD", Path: "", Compare: []string{"X-Account-Meta-Temp-Url-Key", "X-Account-Meta-Temp-Url-Key-2"}},
			{As: "tester2", Method: "POST", Path: "", Header: map[string]string{"X-Remove-Account-Meta-Temp-URL-Key-2": "x"}, Setup: true},
			anon("GET", "/v1/AUTH_test2/tudiff-f/o"+tuQuery("sha256", "akey2", "GET", "/v1/AUTH_test2/tudiff-f/o", tuExp, "")),
		},
	}}
}

// tuIPRange is "tudiff-c/o" with a GET temp URL for path signed with key
// and restricted to ipRange.
func tuIPRange(key, path, ipRange string) string {
	return "tudiff-c/o?temp_url_sig=" + glanceshim.TempURLSignature("sha256", key, "GET", tuExp, path, ipRange) +
		"&temp_url_expires=" + strconv.FormatInt(tuExp, 10) + "&temp_url_ip_range=" + url.QueryEscape(ipRange)
}

// tuExpires is "tudiff-c/o" with a GET temp URL for path signed with key
// for tuExp, its temp_url_expires written as expires (query-escaped).
func tuExpires(key, path, expires string) string {
	return "tudiff-c/o?temp_url_sig=" + glanceshim.TempURLSignature("sha256", key, "GET", tuExp, path, "") +
		"&temp_url_expires=" + expires
}
