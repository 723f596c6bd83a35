package e2e

// Differential tests: each case runs against Debian's real Swift 2.30
// (scripts/lib/swift.sh: proxy with Swift's recommended middleware
// pipeline, tempauth, account/container/object servers) and against
// Nitro (`nitro serve`), and every response of Nitro must match Swift's.
//
// # Writing cases
//
// Put a table of cases in a file per topic (e2e/swiftdiff_<topic>_test.go)
// and run it from one test function:
//
//	func TestSwiftDiffWidgets(t *testing.T) { runDiff(t, widgetCases) }
//
//	var widgetCases = []diffCase{{
//		Name: "object PUT then HEAD",
//		Steps: []diffStep{
//			{Method: "PUT", Path: "{c}", Setup: true},
//			{Method: "PUT", Path: "{c}/o", Body: "hello", Compare: []string{"Etag"}},
//			{Method: "HEAD", Path: "{c}/o", Compare: []string{"Etag", "X-Timestamp", "Last-Modified"}},
//		},
//	}}
//
// A case is a sequence of steps; each step is one request sent to Swift
// and then to Nitro, and the two responses are compared:
//
//   - the status, always;
//   - the headers named in Compare, plus Content-Type (and Content-Length
//     when the body is compared exactly), except on a 204 (Content-Length)
//     and a 304 (both), where Go's net/http drops them: presence and value
//     after normalisation;
//   - the body per BodyMode: exact (the default), JSON (parsed, compared
//     as values), XML (whitespace between tags ignored), or ignored; Check
//     adds a custom comparison.
//
// Normalisation (headers and bodies alike) replaces what legitimately
// differs between two servers: each server's base URL becomes "{base}",
// transaction ids "<txid>", tempauth tokens "<token>", X-Timestamp-style
// times ("1700000000.12345") "<timestamp>", ISO times of listings
// "<iso-time>", HTTP dates "<http-date>", and X-Auth-Token-Expires
// "<seconds>". A step's Norm maps a header to a further normaliser (e.g.
// normPresent for an ETag computed differently).
//
// Paths: "{c}", "{c1}" … "{c9}" are container names fresh for each case
// (the same on both systems), expanded in Path, header values and Body. A
// path without a leading "/" is relative to the storage URL of the step's
// user ("" is the account itself, "?format=json" its listing); a path with
// one is relative to the server's root ("/info", "/v1/AUTH_test2/{c}").
//
// Users (the same on both systems; Swift's sample tempauth users): As ""
// or "tester" is test:tester (admin of AUTH_test), "tester2" is
// test2:tester2 (admin of AUTH_test2), "tester3" is test:tester3 (no
// admin: reaches AUTH_test only through ACLs), "admin" is admin:admin
// (reseller admin), "anon" sends no token.
//
// A Setup step runs on both systems and only has to succeed (2xx) on
// both. A case with Differs documents a deliberate difference: its steps
// with a Nitro expectation are checked against it (not against Swift),
// the others are still compared. Such a case counts as "differ"; if Nitro
// answers as Swift does in every step, the case fails (drop Differs). A
// case with Pending is a known mismatch another change will fix: it runs
// and counts as a failure in the summary but does not fail the test; once
// it agrees, it fails the test (drop Pending).
//
// Both servers are started once per test binary, by the first runDiff,
// and stopped by TestMain, which prints the totals in one line:
//
//	SWIFTDIFF cases=N agree=A differ=D fail=F
//
// (go test shows it with -v, or when the package fails); with
// NITRO_E2E_ARTIFACTS set (scripts/test.sh sets it) the line and one line
// per case go to $NITRO_E2E_ARTIFACTS/swiftdiff.txt.
//
// Missing Debian packages skip the tests, or fail them under
// NITRO_REQUIRE_E2E=1 (internal/testenv).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// diffCase is one differential case: steps run in order on both systems.
type diffCase struct {
	Name  string
	Steps []diffStep
	// Differs, when set, says why Nitro deliberately answers differently;
	// the steps' Nitro expectations are checked instead of Swift's answer.
	Differs string
	// Pending, when set, names a known mismatch being fixed elsewhere: the
	// case runs and is counted as a failure, without failing the test.
	Pending string
}

// diffStep is one request of a case.
type diffStep struct {
	Name   string // optional label for failure messages
	As     string // user: "" or "tester", "tester2", "tester3", "admin", "anon"
	Method string
	Path   string            // see the package comment on paths
	Header map[string]string // request headers; {cN} expanded
	Body   string            // request body; {cN} expanded
	// Setup steps are not compared: they must succeed (2xx) on both.
	Setup bool
	// Compare lists further response headers to compare.
	Compare []string
	// Norm maps a header name to a normaliser applied (after the default
	// ones) to both values before comparing.
	Norm     map[string]func(string) string
	BodyMode bodyMode
	// Check, if set, is a further comparison of the two responses
	// (normalised); a non-nil error is a mismatch.
	Check func(swift, nitro *diffResp) error
	// Nitro is what Nitro answers instead of Swift's answer, in a case
	// with Differs; nil means the step must agree with Swift.
	Nitro *diffWant
}

// bodyMode selects how response bodies are compared.
type bodyMode int

const (
	bodyExact  bodyMode = iota // byte for byte, after normalisation
	bodyJSON                   // parsed, compared as values
	bodyXML                    // whitespace between tags ignored
	bodyIgnore                 // not compared
)

// diffWant is Nitro's documented answer for a step of a Differs case.
type diffWant struct {
	Status int
	// Header values Nitro must send (after normalisation); "" means the
	// header must be absent.
	Header map[string]string
	// Body, if non-nil, is Nitro's exact (normalised) body.
	Body *string
	// Check, if set, is a further check of Nitro's response.
	Check func(nitro *diffResp) error
}

// diffResp is one system's response to a step, normalised.
type diffResp struct {
	Status int
	Header http.Header // raw header values
	Body   []byte      // normalised body
	Raw    []byte      // body as received
}

// diffSystem is one of the two servers under comparison.
type diffSystem struct {
	Name   string // "swift" or "nitro"
	Base   string // http://127.0.0.1:PORT
	users  map[string]*swiftClient
	client *http.Client
}

// diffUsers are the tempauth users both systems have: step name → login,
// key.
var diffUsers = map[string][2]string{
	"tester":  {"test:tester", "testing"},
	"tester2": {"test2:tester2", "testing2"},
	"tester3": {"test:tester3", "testing3"},
	"admin":   {"admin:admin", "admin"},
}

// diffNitroConfig is the shared Nitro's config: singleNode with the
// tempauth users of diffUsers.
var diffNitroConfig = nodeConfig{
	Comment: "e2e differential tests against Swift",
	Swift: []string{
		"accounts:",
		"  - name: test",
		"    users:",
		"      - {name: tester, key: testing, roles: [admin]}",
		"      - {name: tester3, key: testing3}",
		"  - name: test2",
		"    users:",
		"      - {name: tester2, key: testing2, roles: [admin]}",
		"  - name: admin",
		"    users:",
		"      - {name: admin, key: admin, roles: [admin, reseller_admin]}",
	},
	LogLevel: "warn",
}.template()

// diffHarness holds both systems, shared by every differential test of
// the test binary.
type diffHarness struct {
	swift, nitro *diffSystem
	nitroNode    *nitroNode

	mu                          sync.Mutex
	cases, agree, differ, fails int
	pending                     []string
	seq                         int      // cases started, for fresh names
	report                      []string // one line per case: outcome, test/case, reason
}

var (
	diffOnce   sync.Once
	sharedDiff *diffHarness
	diffErr    error
)

// diffHarnessFor returns the shared harness, starting Swift and Nitro on
// first use; missing Debian packages skip t (fail it under
// NITRO_REQUIRE_E2E=1).
func diffHarnessFor(t *testing.T) *diffHarness {
	t.Helper()
	testenv.Short(t)
	for _, tool := range []string{"swift-proxy-server", "swift-account-server", "swift-container-server", "swift-object-server", "memcached"} {
		testenv.Tool(t, tool)
	}
	diffOnce.Do(func() {
		start := time.Now()
		sharedDiff, diffErr = startDiffHarness(t)
		if diffErr == nil {
			t.Logf("swiftdiff: Swift at %s and Nitro at %s ready in %.1fs", sharedDiff.swift.Base, sharedDiff.nitro.Base, time.Since(start).Seconds())
		}
	})
	if diffErr != nil {
		t.Fatalf("swiftdiff harness: %v", diffErr)
	}
	select {
	case <-sharedDiff.nitroNode.exited:
		t.Fatalf("swiftdiff: nitro serve exited: %v; log:\n%s", sharedDiff.nitroNode.err, tail(sharedDiff.nitroNode.Log, 40))
	default:
	}
	return sharedDiff
}

func startDiffHarness(t *testing.T) (*diffHarness, error) {
	h := &diffHarness{}
	// Swift.
	sdir, err := os.MkdirTemp("", "nitro-swiftdiff-swift-")
	if err != nil {
		return nil, err
	}
	script := filepath.Join(moduleRoot, "scripts", "lib", "swift.sh")
	out, err := exec.Command(script, "start", sdir).Output()
	if err != nil {
		os.RemoveAll(sdir)
		return nil, fmt.Errorf("swift.sh start: %v\n%s", err, tail(filepath.Join(sdir, "log", "proxy.log"), 30))
	}
	registerAtExit(func() {
		if out, err := exec.Command(script, "stop", sdir).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "swiftdiff: swift.sh stop: %v\n%s", err, out)
		}
		os.RemoveAll(sdir)
	})
	h.swift = newDiffSystem("swift", strings.TrimSpace(string(out)))

	// Nitro.
	ndir, err := os.MkdirTemp("", "nitro-swiftdiff-nitro-")
	if err != nil {
		return nil, err
	}
	n := &nitroNode{Dir: ndir, Log: filepath.Join(ndir, "nitro.log"), Ports: map[string]int{}, exited: make(chan struct{})}
	data, _, cfgPath := writeNodeConfig(t, ndir, diffNitroConfig, n.Ports)
	n.cfgPath, n.URL, n.OpsURL = cfgPath, "http://"+data.Listen, "http://"+data.OpsListen
	n.launch(t)
	registerAtExit(func() {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(30 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
		os.RemoveAll(ndir)
	})
	if err := waitHTTP(n.URL+"/healthcheck", 60*time.Second, n.exited); err != nil {
		return nil, fmt.Errorf("nitro serve: %v\nlog:\n%s", err, tail(n.Log, 40))
	}
	h.nitroNode = n
	h.nitro = newDiffSystem("nitro", n.URL)

	for _, sys := range []*diffSystem{h.swift, h.nitro} {
		for name, cred := range diffUsers {
			c, err := swiftLogin(sys.Base, cred[0], cred[1], sys.client)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sys.Name, err)
			}
			sys.users[name] = c
		}
	}
	registerAtExit(h.printSummary)
	return h, nil
}

// registerAtExit adds f to what TestMain runs after the tests.
func registerAtExit(f func()) {
	atExitMu.Lock()
	atExit = append(atExit, f)
	atExitMu.Unlock()
}

func newDiffSystem(name, base string) *diffSystem {
	return &diffSystem{
		Name: name, Base: base, users: map[string]*swiftClient{},
		client: &http.Client{
			Timeout:   60 * time.Second,
			Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4},
			// Redirects (staticweb) are answers to compare, not to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// printSummary prints the SWIFTDIFF line (TestMain, after the tests; go
// test shows it with -v or when the package fails) and, when
// NITRO_E2E_ARTIFACTS is set, writes it with one line per case to
// $NITRO_E2E_ARTIFACTS/swiftdiff.txt.
func (h *diffHarness) printSummary() {
	h.mu.Lock()
	defer h.mu.Unlock()
	line := fmt.Sprintf("SWIFTDIFF cases=%d agree=%d differ=%d fail=%d", h.cases, h.agree, h.differ, h.fails)
	fmt.Println(line)
	if len(h.pending) > 0 {
		fmt.Printf("SWIFTDIFF pending (counted in fail, known, not failing the test): %s\n", strings.Join(h.pending, "; "))
	}
	if dir := os.Getenv("NITRO_E2E_ARTIFACTS"); dir != "" {
		body := line + "\n" + strings.Join(h.report, "\n") + "\n"
		if err := os.WriteFile(filepath.Join(dir, "swiftdiff.txt"), []byte(body), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "swiftdiff: %v\n", err)
		}
	}
}

// runDiff runs cases against Swift and Nitro, each as a subtest of t.
func runDiff(t *testing.T, cases []diffCase) {
	t.Helper()
	h := diffHarnessFor(t)
	var agree, differ, fail int
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			switch h.runCase(t, c) {
			case outcomeAgree:
				agree++
			case outcomeDiffer:
				differ++
			default:
				fail++
			}
		})
	}
	t.Logf("swiftdiff %s: cases=%d agree=%d differ=%d fail=%d", t.Name(), len(cases), agree, differ, fail)
}

type outcome int

const (
	outcomeAgree outcome = iota
	outcomeDiffer
	outcomeFail
)

var slugRE = regexp.MustCompile(`[^a-z0-9]+`)

// caseNames returns the replacer of {c}, {c1} … {c9} for a new case:
// "<slug of the name>-<seq>-c", "-c1", …, the same on both systems.
func (h *diffHarness) caseNames(name string) *strings.Replacer {
	h.mu.Lock()
	h.seq++
	seq := h.seq
	h.mu.Unlock()
	slug := strings.Trim(slugRE.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(slug) > 24 {
		f := fnv.New32a()
		f.Write([]byte(slug))
		slug = fmt.Sprintf("%s%04x", slug[:20], f.Sum32()&0xffff)
	}
	base := fmt.Sprintf("sd%03d-%s", seq, slug)
	pairs := []string{"{c}", base + "-c"}
	for i := 1; i <= 9; i++ {
		pairs = append(pairs, fmt.Sprintf("{c%d}", i), fmt.Sprintf("%s-c%d", base, i))
	}
	return strings.NewReplacer(pairs...)
}

// runCase runs one case and records its outcome.
func (h *diffHarness) runCase(t *testing.T, c diffCase) outcome {
	t.Helper()
	names := h.caseNames(c.Name)
	var problems []string  // mismatches with Swift (steps without Nitro)
	var wantProbs []string // Nitro not answering as documented
	differsSeen := false   // a Nitro expectation step where Nitro ≠ Swift
	for i, st := range c.Steps {
		label := fmt.Sprintf("step %d %s %s", i+1, st.Method, names.Replace(st.Path))
		if st.Name != "" {
			label += " (" + st.Name + ")"
		}
		sr, serr := h.swift.do(st, names)
		nr, nerr := h.nitro.do(st, names)
		if serr != nil || nerr != nil {
			problems = append(problems, fmt.Sprintf("%s: transport: swift %v, nitro %v", label, serr, nerr))
			break
		}
		if st.Setup {
			if sr.Status/100 != 2 || nr.Status/100 != 2 {
				problems = append(problems, fmt.Sprintf("%s: setup failed: swift %d %.200s, nitro %d %.200s", label, sr.Status, sr.Raw, nr.Status, nr.Raw))
				break
			}
			continue
		}
		diffs := h.compareResp(st, sr, nr)
		if st.Nitro != nil && c.Differs != "" {
			if len(diffs) > 0 {
				differsSeen = true
			}
			for _, d := range h.checkWant(st, nr) {
				wantProbs = append(wantProbs, label+": "+d)
			}
			continue
		}
		for _, d := range diffs {
			problems = append(problems, label+": "+d)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cases++
	out := h.classify(t, c, problems, wantProbs, differsSeen)
	why := map[outcome]string{outcomeAgree: "agree", outcomeDiffer: "differ: " + c.Differs, outcomeFail: "FAIL"}[out]
	if c.Pending != "" && out == outcomeFail {
		why = "FAIL (pending: " + c.Pending + ")"
	}
	h.report = append(h.report, fmt.Sprintf("%s\t%s", t.Name(), why))
	return out
}

// classify counts a finished case (h.mu held) and reports it on t.
func (h *diffHarness) classify(t *testing.T, c diffCase, problems, wantProbs []string, differsSeen bool) outcome {
	switch {
	case c.Pending != "" && len(problems)+len(wantProbs) == 0:
		h.fails++
		t.Errorf("case agrees with Swift now: drop Pending (%s)", c.Pending)
		return outcomeFail
	case c.Pending != "":
		h.fails++
		h.pending = append(h.pending, c.Name)
		t.Logf("pending (%s), %d mismatches:\n%s", c.Pending, len(problems)+len(wantProbs), strings.Join(append(problems, wantProbs...), "\n"))
		return outcomeFail
	case len(problems) > 0 || len(wantProbs) > 0:
		h.fails++
		for _, p := range problems {
			t.Errorf("differs from Swift: %s", p)
		}
		for _, p := range wantProbs {
			t.Errorf("Nitro does not answer as documented (Differs: %s): %s", c.Differs, p)
		}
		return outcomeFail
	case c.Differs != "" && !differsSeen:
		h.fails++
		t.Errorf("case says Differs (%s) but Nitro answers as Swift does: drop Differs", c.Differs)
		return outcomeFail
	case c.Differs != "":
		h.differ++
		t.Logf("differs deliberately: %s", c.Differs)
		return outcomeDiffer
	}
	h.agree++
	return outcomeAgree
}

// do sends step st (names expanded) to the system.
func (s *diffSystem) do(st diffStep, names *strings.Replacer) (*diffResp, error) {
	user := st.As
	if user == "" {
		user = "tester"
	}
	var tok, storage string
	if user == "anon" {
		storage = s.users["tester"].storage
	} else {
		u, ok := s.users[user]
		if !ok {
			return nil, fmt.Errorf("unknown user %q", user)
		}
		tok, storage = u.token, u.storage
	}
	p := names.Replace(st.Path)
	var url string
	switch {
	case strings.HasPrefix(p, "/"):
		url = s.Base + p
	case p == "" || strings.HasPrefix(p, "?"):
		url = storage + p
	default:
		url = storage + "/" + p
	}
	var body io.Reader
	if st.Body != "" {
		body = strings.NewReader(names.Replace(st.Body))
	}
	req, err := http.NewRequest(st.Method, url, body)
	if err != nil {
		return nil, err
	}
	if tok != "" {
		req.Header.Set("X-Auth-Token", tok)
	}
	for k, v := range st.Header {
		req.Header.Set(k, names.Replace(v))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &diffResp{Status: resp.StatusCode, Header: resp.Header, Raw: raw, Body: []byte(s.normalize(string(raw)))}, nil
}

// Normalisers of values that legitimately differ between two servers.
var (
	txidRE      = regexp.MustCompile(`tx[0-9a-f]{21}-[0-9a-f]{10}`)
	tokenRE     = regexp.MustCompile(`AUTH_tk[0-9a-f]{32,64}`)
	xTimeRE     = regexp.MustCompile(`\b\d{10}\.\d{5}\b`)
	isoTimeRE   = regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?\b`)
	httpDateRE  = regexp.MustCompile(`(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT`)
	xmlSpaceRE  = regexp.MustCompile(`>\s+<`)
	intValueRE  = regexp.MustCompile(`^\d+$`)
	defaultNorm = map[string]func(string) string{
		"X-Auth-Token-Expires": func(v string) string {
			if intValueRE.MatchString(v) {
				return "<seconds>"
			}
			return v
		},
	}
)

// normalize replaces the system's base URL and the values of the
// package comment's list in s.
func (s *diffSystem) normalize(v string) string {
	v = strings.ReplaceAll(v, s.Base, "{base}")
	v = txidRE.ReplaceAllString(v, "<txid>")
	v = tokenRE.ReplaceAllString(v, "<token>")
	v = xTimeRE.ReplaceAllString(v, "<timestamp>")
	v = isoTimeRE.ReplaceAllString(v, "<iso-time>")
	v = httpDateRE.ReplaceAllString(v, "<http-date>")
	return v
}

// normPresent is a Norm that only keeps whether the header is there.
func normPresent(string) string { return "<present>" }

// headerValue is the normalised value of header k, and whether present.
func headerValue(sys *diffSystem, st diffStep, r *diffResp, k string) (string, bool) {
	vs := r.Header.Values(k)
	if len(vs) == 0 {
		return "", false
	}
	v := sys.normalize(strings.Join(vs, ", "))
	ck := http.CanonicalHeaderKey(k)
	if f := defaultNorm[ck]; f != nil {
		v = f(v)
	}
	for nk, f := range st.Norm {
		if http.CanonicalHeaderKey(nk) == ck {
			v = f(v)
		}
	}
	return v, true
}

// compareResp lists the differences between Swift's and Nitro's answers.
func (h *diffHarness) compareResp(st diffStep, sr, nr *diffResp) []string {
	var out []string
	if sr.Status != nr.Status {
		out = append(out, fmt.Sprintf("status: swift %d, nitro %d (swift body %.300q, nitro body %.300q)", sr.Status, nr.Status, sr.Raw, nr.Raw))
	}
	hdrs := append([]string{"Content-Type"}, st.Compare...)
	// Content-Length is compared with the body, but not on a 204: Swift
	// sends "Content-Length: 0" there, Go's net/http never sends it (RFC
	// 9110 §8.6: a server must not).
	if st.BodyMode == bodyExact && sr.Status != http.StatusNoContent {
		hdrs = append(hdrs, "Content-Length")
	}
	// Nor on a 304: Go's net/http drops Content-Type and Content-Length
	// there (Swift sends the object's type and "0").
	if sr.Status == http.StatusNotModified && nr.Status == http.StatusNotModified {
		hdrs = slices.DeleteFunc(hdrs, func(k string) bool { return k == "Content-Type" || k == "Content-Length" })
	}
	seen := map[string]bool{}
	for _, k := range hdrs {
		ck := http.CanonicalHeaderKey(k)
		if seen[ck] {
			continue
		}
		seen[ck] = true
		sv, sok := headerValue(h.swift, st, sr, ck)
		nv, nok := headerValue(h.nitro, st, nr, ck)
		switch {
		case sok != nok:
			out = append(out, fmt.Sprintf("header %s: swift %s, nitro %s", ck, presence(sv, sok), presence(nv, nok)))
		case sv != nv:
			out = append(out, fmt.Sprintf("header %s: swift %q, nitro %q", ck, sv, nv))
		}
	}
	if d := compareBody(st.BodyMode, sr.Body, nr.Body); d != "" {
		out = append(out, d)
	}
	if st.Check != nil {
		if err := st.Check(sr, nr); err != nil {
			out = append(out, "check: "+err.Error())
		}
	}
	return out
}

func presence(v string, ok bool) string {
	if !ok {
		return "absent"
	}
	return fmt.Sprintf("%q", v)
}

// compareBody compares two normalised bodies per mode; "" if alike.
func compareBody(mode bodyMode, s, n []byte) string {
	switch mode {
	case bodyIgnore:
		return ""
	case bodyJSON:
		var sv, nv any
		serr := json.Unmarshal(s, &sv)
		nerr := json.Unmarshal(n, &nv)
		if serr != nil || nerr != nil {
			if bytes.Equal(s, n) {
				return ""
			}
			return fmt.Sprintf("body (JSON: swift %v, nitro %v): swift %.600q, nitro %.600q", serr, nerr, s, n)
		}
		if !reflect.DeepEqual(sv, nv) {
			return fmt.Sprintf("JSON body: swift %s, nitro %s", canonJSON(sv), canonJSON(nv))
		}
	case bodyXML:
		sx := strings.TrimSpace(xmlSpaceRE.ReplaceAllString(string(s), "><"))
		nx := strings.TrimSpace(xmlSpaceRE.ReplaceAllString(string(n), "><"))
		if sx != nx {
			return fmt.Sprintf("XML body: swift %.800q, nitro %.800q", sx, nx)
		}
	default:
		if !bytes.Equal(s, n) {
			return fmt.Sprintf("body: swift %.600q, nitro %.600q", s, n)
		}
	}
	return ""
}

// canonJSON is v as compact JSON with sorted keys, at most 1000 bytes.
func canonJSON(v any) string {
	b, _ := json.Marshal(v) // maps are marshalled with sorted keys
	if len(b) > 1000 {
		return string(b[:1000]) + "…"
	}
	return string(b)
}

// checkWant lists how Nitro's answer departs from its documented one.
func (h *diffHarness) checkWant(st diffStep, nr *diffResp) []string {
	w := st.Nitro
	var out []string
	if w.Status != 0 && nr.Status != w.Status {
		out = append(out, fmt.Sprintf("status %d, documented %d (body %.300q)", nr.Status, w.Status, nr.Raw))
	}
	keys := make([]string, 0, len(w.Header))
	for k := range w.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		want := w.Header[k]
		v, ok := headerValue(h.nitro, st, nr, k)
		switch {
		case want == "" && ok:
			out = append(out, fmt.Sprintf("header %s: %q, documented absent", k, v))
		case want != "" && v != want:
			out = append(out, fmt.Sprintf("header %s: %s, documented %q", k, presence(v, ok), want))
		}
	}
	if w.Body != nil && string(nr.Body) != *w.Body {
		out = append(out, fmt.Sprintf("body %.600q, documented %.600q", nr.Body, *w.Body))
	}
	if w.Check != nil {
		if err := w.Check(nr); err != nil {
			out = append(out, "check: "+err.Error())
		}
	}
	return out
}

// strp returns a pointer to s (for diffWant.Body).
func strp(s string) *string { return &s }

// wireCase is a differential case below net/http's client: probe speaks
// raw HTTP on its own connection to one system and returns what it saw
// (already normalised: status codes, chosen header values, whether the
// connection stayed open); the two systems' observations must be equal.
type wireCase struct {
	Name string
	// Setup steps run first on both systems and must succeed.
	Setup []diffStep
	Probe func(sys *diffSystem, names *strings.Replacer) ([]string, error)
}

// runWire runs wire cases against Swift and Nitro, each as a subtest of
// t, counted in the SWIFTDIFF totals like step cases.
func runWire(t *testing.T, cases []wireCase) {
	t.Helper()
	h := diffHarnessFor(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			names := h.caseNames(c.Name)
			var problems []string
			for _, st := range c.Setup {
				sr, serr := h.swift.do(st, names)
				nr, nerr := h.nitro.do(st, names)
				if serr != nil || nerr != nil || sr.Status/100 != 2 || nr.Status/100 != 2 {
					problems = append(problems, fmt.Sprintf("setup %s %s failed: swift %v %v, nitro %v %v", st.Method, st.Path, statusOf(sr), serr, statusOf(nr), nerr))
					break
				}
			}
			if len(problems) == 0 {
				so, serr := c.Probe(h.swift, names)
				no, nerr := c.Probe(h.nitro, names)
				switch {
				case serr != nil || nerr != nil:
					problems = append(problems, fmt.Sprintf("probe: swift %v, nitro %v", serr, nerr))
				case !slices.Equal(so, no):
					problems = append(problems, fmt.Sprintf("swift saw %q, nitro saw %q", so, no))
				default:
					t.Logf("both saw %q", so)
				}
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			h.cases++
			out := h.classify(t, diffCase{Name: c.Name}, problems, nil, false)
			h.report = append(h.report, fmt.Sprintf("%s\t%s", t.Name(), map[outcome]string{outcomeAgree: "agree", outcomeFail: "FAIL"}[out]))
		})
	}
}

func statusOf(r *diffResp) int {
	if r == nil {
		return 0
	}
	return r.Status
}
