package main

// End-to-end tests: they build the real riskd binary once, start it on a
// free loopback port and talk to it over HTTP.

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/riskforge/riskforge/api"
)

var riskdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "riskd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	riskdBin = filepath.Join(dir, "riskd")
	args := []string{"build", "-o", riskdBin}
	if os.Getenv("RISKD_E2E_RACE") != "" {
		args = append(args, "-race") // RISKD_E2E_RACE=1 go test ./cmd/riskd: the binary under the race detector
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building riskd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running riskd.
type proc struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	addr   string
	logs   *syncBuffer
	done   chan struct{}
	exit   error
	client *http.Client
}

// startRiskd runs "riskd serve ARGS --addr 127.0.0.1:0" and waits until
// it listens. It is stopped (SIGTERM) when the test ends.
func startRiskd(t *testing.T, args ...string) *proc {
	t.Helper()
	// No drain period unless a test asks for one: every test stops riskd.
	full := append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json", "--drain-period", "0s"}, args...)
	cmd := exec.Command(riskdBin, full...)
	pr, pw := io.Pipe()
	p := &proc{cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{}),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	cmd.Stderr = io.MultiWriter(p.logs, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exit = cmd.Wait(); pw.Close(); close(p.done) }()
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			var rec struct {
				Msg, Addr string
			}
			if !sent && json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				addrc <- rec.Addr
				sent = true
			}
		}
	}()
	select {
	case p.addr = <-addrc:
	case <-p.done:
		t.Fatalf("riskd exited before listening: %v\n%s", p.exit, p.logs)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("riskd did not listen within 30s\n%s", p.logs)
	}
	p.base = "http://" + p.addr
	t.Cleanup(func() { p.stop(t) })
	return p
}

// waitExit waits for riskd to exit by itself and fails with msg if it
// is still running after timeout.
func (p *proc) waitExit(t *testing.T, timeout time.Duration, msg string) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatal(msg)
	}
}

func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
			t.Errorf("riskd did not stop within 20s of SIGTERM")
		}
	}
	if strings.Contains(p.logs.String(), "WARNING: DATA RACE") {
		t.Errorf("the race detector found a data race in riskd")
	}
	if t.Failed() {
		t.Logf("riskd log:\n%s", p.logs)
	}
}

// do sends a request and returns status, headers and the decoded JSON body.
func (p *proc) do(t *testing.T, method, path string, body []byte, hdr map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	status, h, data := p.raw(t, method, path, body, hdr)
	var m map[string]any
	if len(data) > 0 && strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s %s: response is not JSON: %v\n%s", method, path, err, data)
		}
	}
	if m == nil {
		m = map[string]any{"_raw": string(data)}
	}
	return status, h, m
}

// raw sends a request and returns status, headers and the body as sent.
func (p *proc) raw(t *testing.T, method, path string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, p.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, data
}

func (p *proc) get(t *testing.T, path string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", p.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// loanRequest is a valid loan_apply request for user.
func loanRequest(user string, extra ...string) []byte {
	f := fmt.Sprintf(`"user_id":%q,"device_id":"d-%s","ip_country":"DE","residence_country":"DE","age":41,"amount":5000,"term_months":24,"income":2800,"existing_debt":150,"bureau_score":720,"account_opened":"2021-05-01T00:00:00Z","ts":"2026-03-01T10:00:00Z"`, user, user)
	for _, e := range extra {
		f += "," + e
	}
	return []byte(`{"event":"loan_apply","features":{` + f + `}}`)
}

// policyDir copies the loan example into a temporary directory, with
// edits applied to the policy source.
func policyDir(t *testing.T, name string, edits ...func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	writePolicy(t, dir, name, edits...)
	return dir
}

func writePolicy(t *testing.T, dir, name string, edits ...func(string) string) string {
	t.Helper()
	src, err := os.ReadFile("../../examples/loan/loan.risk")
	if err != nil {
		t.Fatal(err)
	}
	lists, err := os.ReadFile("../../examples/loan/lists/blocked_devices.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "lists"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lists", "blocked_devices.txt"), lists, 0o644); err != nil {
		t.Fatal(err)
	}
	s := string(src)
	for _, e := range edits {
		s = e(s)
	}
	path := filepath.Join(dir, name)
	// Write then rename, as editors and deploy tools do, so a watcher
	// never sees half a file.
	tmp := filepath.Join(dir, ".tmp-"+name)
	if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func version(v string) func(string) string {
	return func(s string) string {
		return strings.Replace(s, `version "2026.11.1"`, fmt.Sprintf("version %q", v), 1)
	}
}

// alwaysReject makes the score policy reject nearly everything.
func alwaysReject(s string) string { return strings.Replace(s, "bias -3.0", "bias 6.0", 1) }

func broken(s string) string {
	return s + "\nrule broken\n  when no_such_feature > 1\n  emit reject reason \"broken\"\n"
}

func TestDecide(t *testing.T) {
	p := startRiskd(t, "--policy", policyDir(t, "loan.risk"))
	code, hdr, m := p.do(t, "POST", "/v1/decide", loanRequest("u1"), map[string]string{"X-Request-ID": "req-abc-1", "Content-Type": "application/json"})
	if code != 200 {
		t.Fatalf("status %d: %v", code, m)
	}
	for _, k := range []string{"request_id", "policy", "version", "decision", "score", "rules", "models", "degraded", "latency_us"} {
		if _, ok := m[k]; !ok {
			t.Errorf("response lacks %q: %v", k, m)
		}
	}
	if m["request_id"] != "req-abc-1" || hdr.Get("X-Request-ID") != "req-abc-1" {
		t.Errorf("X-Request-ID not carried: body %v, header %q", m["request_id"], hdr.Get("X-Request-ID"))
	}
	if m["policy"] != "loan_apply" || m["version"] != "2026.11.1" || hdr.Get("X-Policy-Version") != "2026.11.1" {
		t.Errorf("policy/version wrong: %v", m)
	}
	// A decision with reasons: a blocklisted device is rejected.
	body := bytes.Replace(loanRequest("u2"), []byte(`"d-u2"`), []byte(`"dev-7f3a9c21e4b8"`), 1)
	_, _, m = p.do(t, "POST", "/v1/decide", body, nil)
	if m["decision"] != "reject" {
		t.Errorf("blocklisted device: decision %v", m["decision"])
	}
	rules, _ := m["rules"].([]any)
	found := false
	for _, r := range rules {
		r := r.(map[string]any)
		if r["name"] == "blocked_device" && r["reason"] == "device is on the fraud blocklist" && r["action"] == "reject" {
			found = true
		}
	}
	if !found {
		t.Errorf("rules lack blocked_device with its reason: %v", rules)
	}
	// Request id: from the body when no header, generated otherwise.
	_, hdr, m = p.do(t, "POST", "/v1/decide", []byte(strings.Replace(string(loanRequest("u3")), `{"event"`, `{"request_id":"body-id-7","event"`, 1)), nil)
	if m["request_id"] != "body-id-7" || hdr.Get("X-Request-ID") != "body-id-7" {
		t.Errorf("body request_id not used: %v / %q", m["request_id"], hdr.Get("X-Request-ID"))
	}
	_, hdr, m = p.do(t, "POST", "/v1/decide", loanRequest("u4"), nil)
	if id, _ := m["request_id"].(string); len(id) != 36 || hdr.Get("X-Request-ID") != id {
		t.Errorf("generated request id: body %v header %q", m["request_id"], hdr.Get("X-Request-ID"))
	}
	// The velocity window counts: a burst of applications by one user.
	var last map[string]any
	for i := 0; i < 5; i++ {
		_, _, last = p.do(t, "POST", "/v1/decide", loanRequest("burst"), nil)
	}
	if !strings.Contains(fmt.Sprint(last["rules"]), "application_burst") {
		t.Errorf("5 applications in an hour did not fire application_burst: %v", last["rules"])
	}
	// Choosing the policy by name works for the only policy too.
	code, _, _ = p.do(t, "POST", "/v1/decide?policy=loan_apply", loanRequest("u5"), nil)
	if code != 200 {
		t.Errorf("?policy=loan_apply: status %d", code)
	}
}

func TestBatch(t *testing.T) {
	p := startRiskd(t, "--policy", policyDir(t, "loan.risk"))
	arr := "[" + string(loanRequest("b1")) + "," + `{"event":"loan_apply","features":{"user_id":"b2"}}` + "," + string(loanRequest("b3")) + "]"
	code, _, m := p.do(t, "POST", "/v1/decide/batch", []byte(arr), map[string]string{"X-Request-ID": "batch-1"})
	if code != 200 {
		t.Fatalf("array batch: status %d %v", code, m)
	}
	if m["count"] != 3.0 || m["errors"] != 1.0 || m["request_id"] != "batch-1" {
		t.Errorf("array batch: %v", m)
	}
	res := m["results"].([]any)
	if r := res[0].(map[string]any); r["decision"] == nil || r["index"] != 0.0 || r["request_id"] != "batch-1-0" {
		t.Errorf("item 0: %v", r)
	}
	if r := res[1].(map[string]any); r["field"] == nil || !strings.Contains(r["error"].(string), "features.") {
		t.Errorf("item 1 should name the missing feature: %v", r)
	}
	jsonl := string(loanRequest("l1")) + "\n\n" + string(loanRequest("l2")) + "\n"
	code, _, m = p.do(t, "POST", "/v1/decide/batch", []byte(jsonl), map[string]string{"Content-Type": "application/x-ndjson"})
	if code != 200 || m["count"] != 2.0 || m["errors"] != 0.0 {
		t.Errorf("JSONL batch: %d %v", code, m)
	}
	// Bounded: more items than limits.max_batch_items.
	var big bytes.Buffer
	for i := 0; i < 1001; i++ {
		big.Write(loanRequest("x"))
		big.WriteByte('\n')
	}
	code, _, m = p.do(t, "POST", "/v1/decide/batch", big.Bytes(), nil)
	if code != 413 || !strings.Contains(fmt.Sprint(m["error"]), "1000") {
		t.Errorf("1001 items: %d %v", code, m)
	}
	// A broken JSON Lines line is that item's error; the others are served.
	code, _, m = p.do(t, "POST", "/v1/decide/batch", []byte(string(loanRequest("l3"))+"\n"+`{"a":`), nil)
	if code != 200 || m["errors"] != 1.0 || !strings.Contains(fmt.Sprint(m["results"]), "invalid JSON") {
		t.Errorf("JSONL with a broken line: %d %v", code, m)
	}
	for _, bad := range []string{`[`, `[{"a":1}`, `"x"`, `[]`, `[1] 2`} {
		code, _, m = p.do(t, "POST", "/v1/decide/batch", []byte(bad), nil)
		if code != 400 || m["field"] != "body" {
			t.Errorf("batch %q: %d %v", bad, code, m)
		}
	}
}

func TestBadInput(t *testing.T) {
	p := startRiskd(t, "--policy", policyDir(t, "loan.risk"))
	deep := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)
	huge := bytes.Repeat([]byte(" "), 2<<20)
	cases := []struct {
		name, method, path string
		body               string
		hdr                map[string]string
		status             int
		field, contains    string
	}{
		{"malformed JSON", "POST", "/v1/decide", `{"event": "loan_apply", "features": {`, nil, 400, "body", "invalid JSON"},
		{"not an object", "POST", "/v1/decide", `[1,2]`, nil, 400, "body", ""},
		{"empty body", "POST", "/v1/decide", ``, nil, 400, "body", "empty"},
		{"wrong type string", "POST", "/v1/decide", strings.Replace(string(loanRequest("u")), `"amount":5000`, `"amount":"5000"`, 1), nil, 400, "features.amount", "float"},
		{"wrong type number", "POST", "/v1/decide", strings.Replace(string(loanRequest("u")), `"user_id":"u"`, `"user_id":17`, 1), nil, 400, "features.user_id", "string"},
		{"wrong type object", "POST", "/v1/decide", strings.Replace(string(loanRequest("u")), `"age":41`, `"age":{"x":1}`, 1), nil, 400, "features.age", ""},
		{"out of bounds", "POST", "/v1/decide", strings.Replace(string(loanRequest("u")), `"age":41`, `"age":400`, 1), nil, 400, "features.age", "maximum"},
		{"not an integer", "POST", "/v1/decide", strings.Replace(string(loanRequest("u")), `"age":41`, `"age":41.5`, 1), nil, 400, "features.age", "integer"},
		{"bad time", "POST", "/v1/decide", strings.Replace(string(loanRequest("u")), `"ts":"2026-03-01T10:00:00Z"`, `"ts":"yesterday"`, 1), nil, 400, "features.ts", ""},
		{"missing feature", "POST", "/v1/decide", strings.Replace(string(loanRequest("u")), `"amount":5000,`, ``, 1), nil, 400, "features.amount", "missing"},
		{"missing event", "POST", "/v1/decide", strings.Replace(string(loanRequest("u")), `"event":"loan_apply",`, ``, 1), nil, 400, "event", "missing"},
		{"unknown event", "POST", "/v1/decide", strings.Replace(string(loanRequest("u")), `loan_apply`, `payment`, 1), nil, 400, "event", "payment"},
		{"deep JSON", "POST", "/v1/decide", deep, nil, 400, "body", "deeper"},
		{"huge body", "POST", "/v1/decide", string(huge), nil, 413, "body", "limit"},
		{"wrong method", "GET", "/v1/decide", ``, nil, 405, "", "POST"},
		{"unknown policy", "POST", "/v1/decide?policy=nope", string(loanRequest("u")), nil, 404, "policy", "nope"},
		{"unknown pinned version", "POST", "/v1/decide", string(loanRequest("u")), map[string]string{"X-Policy-Version": "0.0.0"}, 400, "X-Policy-Version", "0.0.0"},
		{"bad request id", "POST", "/v1/decide", string(loanRequest("u")), map[string]string{"X-Request-ID": strings.Repeat("x", 300)}, 400, "X-Request-ID", ""},
		{"unknown endpoint", "GET", "/v2/nothing", ``, nil, 404, "", "/v2/nothing"},
		{"batch huge", "POST", "/v1/decide/batch", string(bytes.Repeat([]byte(" "), 17<<20)), nil, 413, "body", "limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, m := p.do(t, c.method, c.path, []byte(c.body), c.hdr)
			if code != c.status {
				t.Fatalf("status %d, want %d: %v", code, c.status, m)
			}
			if code >= 500 {
				t.Fatalf("5xx for bad input: %v", m)
			}
			if c.field != "" && m["field"] != c.field {
				t.Errorf("field %v, want %s (%v)", m["field"], c.field, m)
			}
			if want := string(api.CodeForStatus(c.status)); m["code"] != want {
				t.Errorf("code %v, want %s (%v)", m["code"], want, m)
			}
			if msg := fmt.Sprint(m["error"]); !strings.Contains(msg, c.contains) {
				t.Errorf("error %q does not mention %q", msg, c.contains)
			}
			if m["request_id"] == nil && code != 405 {
				t.Errorf("error response without request_id: %v", m)
			}
		})
	}
	// The server is still fine.
	if code, _, _ := p.do(t, "POST", "/v1/decide", loanRequest("after"), nil); code != 200 {
		t.Fatalf("after bad input: status %d", code)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	p := startRiskd(t, "--policy", policyDir(t, "loan.risk"), "--admin-token", "tok")
	if code, body := p.get(t, "/healthz"); code != 200 || !strings.Contains(body, "alive") {
		t.Errorf("/healthz: %d %s", code, body)
	}
	code, body := p.get(t, "/readyz")
	if code != 200 || !strings.Contains(body, `"ready": true`) {
		t.Errorf("/readyz: %d %s", code, body)
	}
	for _, want := range []string{`"policies"`, `"models"`, `"store"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz lacks %s: %s", want, body)
		}
	}
	code, body = p.get(t, "/v1/policies", "Authorization", "Bearer tok")
	if code != 200 || !strings.Contains(body, `"digest": "sha256:`) || !strings.Contains(body, `"role": "champion"`) || !strings.Contains(body, `"percent": 100`) {
		t.Errorf("/v1/policies: %d %s", code, body)
	}
	out, err := exec.Command(riskdBin, "health", "--endpoint", p.base).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "healthy") {
		t.Errorf("riskd health: %v\n%s", err, out)
	}
	for _, want := range []string{"reachable", "alive", "policies", "models", "store", "ready"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("riskd health output lacks %q:\n%s", want, out)
		}
	}
	// A port nobody listens on: exit 1, says why.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(riskdBin, "health", "--endpoint", "http://"+dead, "--timeout", "2s")
	out, err = cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "FAIL") {
		t.Errorf("riskd health on a dead port: %v\n%s", err, out)
	}
}

// load hammers /v1/decide from several goroutines until stop is closed
// and reports every failure.
func load(t *testing.T, p *proc, workers int, stop chan struct{}, hdr map[string]string) (func() (ok, failed int, firstErr string), *sync.WaitGroup) {
	var mu sync.Mutex
	ok, failed, first := 0, 0, ""
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", p.base+"/v1/decide", bytes.NewReader(loanRequest(fmt.Sprintf("w%d-%d", w, i%500))))
				for k, v := range hdr {
					req.Header.Set(k, v)
				}
				resp, err := p.client.Do(req)
				mu.Lock()
				if err != nil {
					failed++
					if first == "" {
						first = err.Error()
					}
				} else {
					data, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failed++
						if first == "" {
							first = fmt.Sprintf("%d %s", resp.StatusCode, data)
						}
					} else {
						ok++
					}
				}
				mu.Unlock()
			}
		}(w)
	}
	return func() (int, int, string) {
		mu.Lock()
		defer mu.Unlock()
		return ok, failed, first
	}, &wg
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func metric(t *testing.T, p *proc, name string) float64 {
	t.Helper()
	_, body := p.get(t, "/metrics")
	total := 0.0
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += v
		}
	}
	return total
}

func TestReloadUnderLoad(t *testing.T) {
	dir := policyDir(t, "loan.risk")
	cfg := writeConfig(t, t.TempDir(), fmt.Sprintf("server:\n  admin_token: s3cret\npolicies:\n  - path: %s\nreload:\n  debounce: 50ms\n", dir))
	p := startRiskd(t, "--config", cfg)
	stop := make(chan struct{})
	counts, wg := load(t, p, 8, stop, nil)
	time.Sleep(200 * time.Millisecond)
	versionNow := func() string {
		_, _, m := p.do(t, "POST", "/v1/decide", loanRequest("probe"), nil)
		return fmt.Sprint(m["version"])
	}

	// 1. A good new version, picked up by the file watcher.
	writePolicy(t, dir, "loan.risk", version("2026.12.0"))
	waitFor(t, "the watcher to load 2026.12.0", 10*time.Second, func() bool { return versionNow() == "2026.12.0" })

	// 2. A broken version on disk: the watcher rejects it, 2026.12.0 keeps serving.
	before := metric(t, p, `riskforge_reloads_total{result="failure"}`)
	writePolicy(t, dir, "loan.risk", version("2026.12.1"), broken)
	waitFor(t, "the broken version to be rejected", 10*time.Second, func() bool {
		return metric(t, p, `riskforge_reloads_total{result="failure"}`) > before
	})
	if v := versionNow(); v != "2026.12.0" {
		t.Errorf("after a broken reload version %s serves, want 2026.12.0", v)
	}

	// 3. The admin endpoint: broken -> 422 naming the problem; fixed -> 200.
	code, _, m := p.do(t, "POST", "/v1/admin/reload", nil, map[string]string{"Authorization": "Bearer s3cret"})
	if code != 422 || !strings.Contains(fmt.Sprint(m["error"]), "no_such_feature") {
		t.Errorf("admin reload of a broken policy: %d %v", code, m)
	}
	if code, _, _ := p.do(t, "POST", "/v1/admin/reload", nil, map[string]string{"Authorization": "Bearer wrong"}); code != 401 {
		t.Errorf("admin reload with a wrong token: %d", code)
	}
	// Write the good version with the watcher racing the admin reload.
	writePolicy(t, dir, "loan.risk", version("2026.12.2"))
	code, _, m = p.do(t, "POST", "/v1/admin/reload", nil, map[string]string{"Authorization": "Bearer s3cret"})
	if code != 200 || (m["result"] != "success" && m["result"] != "unchanged") {
		t.Errorf("admin reload of a good policy: %d %v", code, m)
	}
	waitFor(t, "2026.12.2 to serve", 10*time.Second, func() bool { return versionNow() == "2026.12.2" })
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	ok, failed, first := counts()
	if failed > 0 || ok < 100 {
		t.Errorf("under reloads: %d ok, %d failed (first: %s)", ok, failed, first)
	}
	t.Logf("%d requests during reloads, %d failed", ok, failed)
	if n := metric(t, p, `riskforge_reloads_total{result="success"}`); n < 2 {
		t.Errorf("reloads_total{success} = %v", n)
	}
	// Unloaded versions' series are dropped once no request uses them.
	waitFor(t, "the 2026.11.1 series to go", 5*time.Second, func() bool {
		_, body := p.get(t, "/metrics")
		return !strings.Contains(body, `version="2026.11.1"`)
	})
}

func TestRollout(t *testing.T) {
	dir := t.TempDir()
	writePolicy(t, dir, "v1.risk", version("1"))
	writePolicy(t, dir, "v2.risk", version("2"))
	writePolicy(t, dir, "v3.risk", version("3"), alwaysReject)
	cfg := filepath.Join(t.TempDir(), "riskd.yaml")
	mustWrite(t, cfg, fmt.Sprintf(`policies:
  - path: %s
rollout:
  loan_apply:
    champion: "1"
    challengers:
      - version: "2"
        percent: 20
    shadows:
      - version: "3"
`, dir))
	p := startRiskd(t, "--config", cfg, "--watch", "false", "--admin-token", "tok")
	_, body := p.get(t, "/v1/policies", "Authorization", "Bearer tok")
	for _, want := range []string{`"role": "champion"`, `"role": "challenger"`, `"role": "shadow"`, `"percent": 80`, `"percent": 20`} {
		if !strings.Contains(body, want) {
			t.Errorf("/v1/policies lacks %s", want)
		}
	}
	const n = 2000
	first := map[string]string{}
	v2 := 0
	for i := 0; i < n; i++ {
		user := fmt.Sprintf("user-%d", i)
		_, _, m := p.do(t, "POST", "/v1/decide", loanRequest(user), nil)
		v := fmt.Sprint(m["version"])
		if v == "3" {
			t.Fatalf("the shadow version answered a request: %v", m)
		}
		if v == "2" {
			v2++
		}
		first[user] = v
	}
	if share := 100 * float64(v2) / n; share < 16 || share > 24 {
		t.Errorf("challenger share %.1f%%, want about 20%%", share)
	}
	// Stable per key.
	for i := 0; i < 200; i++ {
		user := fmt.Sprintf("user-%d", i)
		_, _, m := p.do(t, "POST", "/v1/decide", loanRequest(user), nil)
		if v := fmt.Sprint(m["version"]); v != first[user] {
			t.Fatalf("%s got version %s, earlier %s", user, v, first[user])
		}
	}
	// Pinning, including the shadow version.
	for _, v := range []string{"1", "2", "3"} {
		_, hdr, m := p.do(t, "POST", "/v1/decide", loanRequest("user-1"), map[string]string{"X-Policy-Version": v, "Authorization": "Bearer tok"})
		if m["version"] != v || hdr.Get("X-Policy-Version") != v {
			t.Errorf("pinned %s, got %v", v, m["version"])
		}
	}
	// Shadow: evaluated on every request, counted, disagreeing often.
	waitFor(t, "shadow counters", 5*time.Second, func() bool {
		return metric(t, p, `riskforge_shadow_decisions_total`) >= n
	})
	if d := metric(t, p, `riskforge_shadow_disagreements_total`); d < n/2 {
		t.Errorf("shadow disagreements %v, want most of %d (the shadow rejects nearly everything)", d, n)
	}
	if c := metric(t, p, `riskforge_decisions_total{action="approve",policy="loan_apply",version="1"}`); c == 0 {
		t.Errorf("no champion decisions counted")
	}
}

func TestMetrics(t *testing.T) {
	p := startRiskd(t, "--policy", policyDir(t, "loan.risk"))
	for i := 0; i < 20; i++ {
		p.do(t, "POST", "/v1/decide", loanRequest(fmt.Sprintf("m%d", i)), map[string]string{"X-Request-ID": fmt.Sprintf("metrics-%d", i)})
	}
	p.do(t, "POST", "/v1/decide", []byte(`{`), nil)
	_, body := p.get(t, "/metrics")
	for _, want := range []string{
		`riskforge_decisions_total{action="approve",policy="loan_apply",version="2026.11.1"}`,
		`riskforge_rule_hits_total{policy="loan_apply",rule="loyal_customer",version="2026.11.1"}`,
		`riskforge_decision_latency_seconds_bucket{policy="loan_apply",le="0.001"}`,
		`riskforge_decision_latency_seconds_count{policy="loan_apply"} 20`,
		`riskforge_inflight_requests`,
		`riskforge_rejected_requests_total 0`,
		`riskforge_http_requests_total{code="400",endpoint="decide"} 1`,
		`riskforge_policy_info{digest="sha256:`,
		`riskforge_window_keys`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// OpenMetrics carries exemplars with the request id.
	_, omHdr, om := p.raw(t, "GET", "/metrics", nil, map[string]string{"Accept": "application/openmetrics-text; version=1.0.0"})
	// riskd negotiated OpenMetrics: its content type, its terminator, the
	// same series. Exemplars are sampled (slow decisions and one in 128),
	// so there may be none; each one there carries a request id.
	if ct := omHdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("Accept: application/openmetrics-text answered %q", ct)
	}
	if !bytes.HasSuffix(om, []byte("# EOF\n")) {
		t.Errorf("OpenMetrics body does not end with # EOF")
	}
	for _, want := range []string{`riskforge_decisions_total{action="approve",policy="loan_apply",version="2026.11.1"}`, `riskforge_decision_latency_seconds_bucket{policy="loan_apply",le="0.001"}`} {
		if !bytes.Contains(om, []byte(want)) {
			t.Errorf("OpenMetrics lacks %s", want)
		}
	}
	for _, line := range strings.Split(string(om), "\n") {
		if _, ex, ok := strings.Cut(line, " # {"); ok && !strings.HasPrefix(ex, `request_id="metrics-`) {
			t.Errorf("exemplar without the request id: %s", line)
		}
	}
}

// TestSaturationAndShutdown: with one evaluation slot and many
// concurrent clients some requests get 429 with Retry-After; a request
// whose body is still arriving holds no slot, and SIGTERM lets it finish
// before riskd exits.
func TestSaturationAndShutdown(t *testing.T) {
	dir := policyDir(t, "loan.risk")
	cfg := writeConfig(t, t.TempDir(), fmt.Sprintf("policies:\n  - path: %s\nlimits:\n  max_inflight: 1\n  request_timeout: 10s\n", dir))
	p := startRiskd(t, "--config", cfg)
	body := loanRequest("slow")
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	conn.Write(body[:10])
	time.Sleep(200 * time.Millisecond)
	if code, _, m := p.do(t, "POST", "/v1/decide", loanRequest("fast"), nil); code != 200 {
		t.Fatalf("a slow body must not hold the only slot: %d %v", code, m)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	saturated := 0
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 150; i++ {
				resp, err := p.client.Post(p.base+"/v1/decide", "application/json", bytes.NewReader(loanRequest("busy")))
				if err != nil {
					continue
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 429 && resp.Header.Get("Retry-After") != "" && strings.Contains(string(data), "limit") {
					mu.Lock()
					saturated++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if saturated == 0 {
		t.Fatal("16 concurrent clients on one slot: no 429 with Retry-After")
	}
	if n := metric(t, p, "riskforge_rejected_requests_total"); n != float64(saturated) {
		t.Errorf("rejected_requests_total = %v, clients saw %d", n, saturated)
	}
	// Graceful shutdown: SIGTERM while the request is in flight.
	p.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	select {
	case <-p.done:
		t.Fatalf("riskd exited with a request in flight")
	default:
	}
	conn.Write(body[10:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request lost on shutdown: %v", err)
	}
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(data), `"decision"`) {
		t.Fatalf("in-flight request: %d %s", resp.StatusCode, data)
	}
	p.waitExit(t, 10*time.Second, "riskd did not exit after the last request")
	if p.exit != nil {
		t.Errorf("exit after SIGTERM: %v", p.exit)
	}
	if !strings.Contains(p.logs.String(), "shutting down") {
		t.Errorf("no shutdown log")
	}
}

// TestHardeningShutdownDrains: on SIGTERM riskd first reports not ready,
// keeps serving for the drain period, then stops. Clients behind a
// "load balancer" that stops sending when /readyz turns 503 see no
// failed request across the shutdown.
func TestHardeningShutdownDrains(t *testing.T) {
	p := startRiskd(t, "--policy", policyDir(t, "loan.risk"), "--drain-period", "1500ms", "--watch", "false")
	// The balancer: polls /readyz and closes stop when it is 503.
	stop := make(chan struct{})
	sawNotReady := make(chan time.Time, 1)
	go func() {
		for {
			resp, err := http.Get(p.base + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 503 {
					sawNotReady <- time.Now()
					close(stop)
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	stats, wg := load(t, p, 8, stop, nil)
	time.Sleep(300 * time.Millisecond)
	sigterm := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	var notReady time.Time
	select {
	case notReady = <-sawNotReady:
	case <-time.After(5 * time.Second):
		t.Fatal("/readyz did not turn 503 after SIGTERM")
	}
	wg.Wait()
	// Still serving during the drain, though not ready.
	if code, _, m := p.do(t, "POST", "/v1/decide", loanRequest("late"), nil); code != 200 {
		t.Errorf("a request during the drain period: %d %v", code, m)
	}
	<-p.done
	exited := time.Now()
	ok, failed, first := stats()
	if failed > 0 || ok == 0 {
		t.Fatalf("across the shutdown: %d ok, %d failed (first: %s)", ok, failed, first)
	}
	if notReady.Sub(sigterm) > time.Second {
		t.Errorf("/readyz turned 503 %v after SIGTERM", notReady.Sub(sigterm))
	}
	if d := exited.Sub(sigterm); d < 1500*time.Millisecond {
		t.Errorf("riskd exited %v after SIGTERM, before the drain period of 1.5s", d)
	}
	if p.exit != nil {
		t.Errorf("exit after SIGTERM: %v", p.exit)
	}
	t.Logf("%d requests, 0 failed, across the shutdown", ok)
}

// TestMakeRunCurl checks that the curl command `make run` prints works.
func TestMakeRunCurl(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)\nrun:.*?'(\{"event".*?\})'`).FindSubmatch(mk)
	if m == nil || !strings.Contains(string(mk), "curl -s -X POST") {
		t.Fatal("the Makefile's run target prints no curl -d '{...}' command")
	}
	body := bytes.ReplaceAll(m[1], []byte("$$"), []byte("$"))
	p := startRiskd(t, "--policy", "../../examples/loan", "--watch", "false")
	code, _, resp := p.do(t, "POST", "/v1/decide", body, map[string]string{"Content-Type": "application/json"})
	if code != 200 {
		t.Fatalf("the make run curl body gets %d: %v\n%s", code, resp, body)
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "riskd-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(90 * 24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLS(t *testing.T) {
	certFile, keyFile := writeCert(t, t.TempDir())
	p := startRiskd(t, "--policy", policyDir(t, "loan.risk"), "--tls-cert", certFile, "--tls-key", keyFile)
	pemData, _ := os.ReadFile(certFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	p.base = "https://" + p.addr
	p.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	code, _, m := p.do(t, "POST", "/v1/decide", loanRequest("tls"), nil)
	if code != 200 || m["decision"] == nil {
		t.Fatalf("decide over https: %d %v", code, m)
	}
	out, err := exec.Command(riskdBin, "health", "--endpoint", p.base, "--ca-cert", certFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "TLS 1.3") || !strings.Contains(string(out), "riskd-test") {
		t.Errorf("riskd health over https: %v\n%s", err, out)
	}
	// Without the CA the handshake fails, and health says so.
	out, err = exec.Command(riskdBin, "health", "--endpoint", p.base, "--timeout", "3s").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "handshake failed") {
		t.Errorf("riskd health without the CA: %v\n%s", err, out)
	}
	// http:// against the TLS port: health says to use https://.
	out, err = exec.Command(riskdBin, "health", "--endpoint", "http://"+p.addr, "--timeout", "3s").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "alive      FAIL  the server speaks TLS: use https://"+p.addr) {
		t.Errorf("riskd health with http:// on TLS: %v\n%s", err, out)
	}
}

// TestPortInUse: a taken address is one plain line on stderr, exit 1.
func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out, err := exec.Command(riskdBin, "serve", "--policy", policyDir(t, "loan.risk"), "--addr", ln.Addr().String(), "--log-format", "text").CombinedOutput()
	want := "riskd: cannot listen on " + ln.Addr().String() + ": the address is in use (another riskd or program holds the port); stop it or choose another with --addr or server.addr\n"
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.HasSuffix(string(out), want) {
		t.Errorf("riskd serve on a taken port: %v\n%s\nwant the last line %q", err, out, want)
	}
}

// TestModels serves the loan_ml example with its ONNX models. It needs
// the onnxruntime library that `make deps` installs (make test runs it).
func TestModels(t *testing.T) {
	lib := os.Getenv("RISKFORGE_ORT_LIB")
	if lib == "" {
		lib = "../../third_party/onnxruntime/lib/libonnxruntime.so"
	}
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("onnxruntime is not installed at %s: run make deps", lib)
	}
	p := startRiskd(t, "--policy", "../../examples/loan_ml", "--watch", "false", "--admin-token", "tok")
	code, _, m := p.do(t, "POST", "/v1/decide", loanRequest("ml"), nil)
	if code != 200 {
		t.Fatalf("status %d: %v", code, m)
	}
	models, _ := m["models"].([]any)
	if len(models) == 0 || m["degraded"] != false {
		t.Fatalf("no model output, or degraded: %v", m)
	}
	if mo := models[0].(map[string]any); mo["degraded"] != false || mo["value"] == nil {
		t.Errorf("model output: %v", mo)
	}
	code, body := p.get(t, "/readyz")
	if code != 200 || !strings.Contains(body, "2 of 2 loaded") {
		t.Errorf("/readyz with models: %d %s", code, body)
	}
	if _, body := p.get(t, "/v1/policies", "Authorization", "Bearer tok"); !strings.Contains(body, `"model_runtime"`) || !strings.Contains(body, `"loaded": true`) {
		t.Errorf("/v1/policies lacks the model runtime info:\n%s", body)
	}
	if n := metric(t, p, `riskforge_model_calls_total`); n < 1 {
		t.Errorf("riskforge_model_calls_total = %v", n)
	}
}

// TestModelsWithoutRuntime: with the onnxruntime library missing, the
// policy serves on its on_error values, degraded, and is not ready.
func TestModelsWithoutRuntime(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "riskd.yaml")
	abs, _ := filepath.Abs("../../examples/loan_ml")
	if err := os.WriteFile(cfg, []byte("policies:\n  - path: "+abs+"\nmodels:\n  library: /nonexistent/libonnxruntime.so\nreload:\n  watch: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startRiskd(t, "--config", cfg)
	code, _, m := p.do(t, "POST", "/v1/decide", loanRequest("nolib"), nil)
	if code != 200 || m["degraded"] != true {
		t.Fatalf("without the runtime: %d %v", code, m)
	}
	code, body := p.get(t, "/readyz")
	if code != 503 || !strings.Contains(body, "onnxruntime library not found") {
		t.Errorf("/readyz without the runtime: %d %s", code, body)
	}
	out, err := exec.Command(riskdBin, "health", "--endpoint", p.base).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "models     FAIL") {
		t.Errorf("riskd health without the runtime: %v\n%s", err, out)
	}
	if n := metric(t, p, `riskforge_degraded_decisions_total`); n != 1 {
		t.Errorf("degraded_decisions_total = %v", n)
	}
}

// TestHardeningHalfWrittenPolicy is the reproduction from the issue:
// serve examples/loan from a copy, then `head -c 2500 loan.risk >
// served/loan.risk` and `head -c 20` of the list file. The watcher must
// refuse both (reload failure in /v1/policies), and a request the full
// policy rejects must stay rejected.
func TestHardeningHalfWrittenPolicy(t *testing.T) {
	dir := policyDir(t, "loan.risk")
	cfg := writeConfig(t, t.TempDir(), fmt.Sprintf("server:\n  admin_token: tok\npolicies:\n  - path: %s\nreload:\n  debounce: 50ms\n", dir))
	p := startRiskd(t, "--config", cfg)
	// The last entry of the list, and a request that only rules late in
	// the file reject.
	blocked := bytes.Replace(loanRequest("u-trunc"), []byte(`"d-u-trunc"`), []byte(`"dev-9c04b6e8d317"`), 1)
	heavy := bytes.Replace(loanRequest("u-heavy", `"overdue_30d":9`), []byte(`"bureau_score":720`), []byte(`"bureau_score":300`), 1)
	heavy = bytes.Replace(heavy, []byte(`"existing_debt":150`), []byte(`"existing_debt":2000`), 1)
	decisions := func() string {
		var out []string
		for _, body := range [][]byte{blocked, heavy, loanRequest("u-plain")} {
			code, _, m := p.do(t, "POST", "/v1/decide", body, nil)
			out = append(out, fmt.Sprintf("%d:%v", code, m["decision"]))
		}
		return strings.Join(out, " ")
	}
	want := decisions()
	if want != "200:reject 200:review 200:approve" {
		t.Fatalf("baseline decisions %s, want reject (blocked device), review (scores), approve", want)
	}
	lastReload := func() string {
		_, body := p.get(t, "/v1/policies", "Authorization", "Bearer tok")
		var v struct {
			LastReload struct{ At, Result, Error string } `json:"last_reload"`
		}
		json.Unmarshal([]byte(body), &v)
		return v.LastReload.At + " " + v.LastReload.Result + " " + v.LastReload.Error
	}
	for _, c := range []struct {
		file string
		n    int
	}{{"loan.risk", 2500}, {filepath.Join("lists", "blocked_devices.txt"), 20}} {
		path := filepath.Join(dir, c.file)
		full, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		before := lastReload()
		if err := os.WriteFile(path, full[:c.n], 0o644); err != nil { // head -c N > file
			t.Fatal(err)
		}
		waitFor(t, "a reload of "+c.file, 10*time.Second, func() bool { return lastReload() != before })
		if lr := lastReload(); !strings.Contains(lr, " failure ") {
			t.Errorf("%s cut to %d bytes: last reload %s, want failure", c.file, c.n, lr)
		}
		if got := decisions(); got != want {
			t.Errorf("%s cut to %d bytes: decisions %s, want %s", c.file, c.n, got, want)
		}
		if err := os.WriteFile(path, full, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestShutdownSecondSignalEndsDrain: a second SIGTERM during a long drain
// period stops riskd at once (an operator at a terminal pressing Ctrl-C
// twice).
func TestShutdownSecondSignalEndsDrain(t *testing.T) {
	p := startRiskd(t, "--policy", policyDir(t, "loan.risk"), "--drain-period", "60s", "--watch", "false")
	p.cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, "/readyz 503", 5*time.Second, func() bool { code, _ := p.get(t, "/readyz"); return code == 503 })
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitExit(t, 10*time.Second, "riskd still draining 10s after a second SIGTERM")
	if p.exit != nil {
		t.Errorf("exit: %v", p.exit)
	}
	t.Logf("stopped %v after the second signal", time.Since(start).Round(time.Millisecond))
}
