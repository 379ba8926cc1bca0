package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskforge/riskforge/server/config"
)

// truncPolicy decides differently on each probe below when any rule or
// list entry is missing: the blocked user is the last entry of its list.
const truncPolicy = `policy trunc version "1"
events pay
input {
  user_id string
  amount  float >= 0
}
list blocked = file "blocked.txt"
rule blocked_user
  when user_id in blocked
  emit reject reason "blocked user"
rule big
  when amount > 100
  emit score 1 reason "big amount"
rule huge
  when amount > 5000
  emit reject reason "huge amount"
decide {
  bias -0.5
  review when score >= 0.5
  otherwise approve
}
`

const truncList = "# blocked users\nu-0001\nu-0002\nu-0003\nu-0004\nu-9999\n"

// startWatching serves s on a loopback listener (the watcher runs) until
// the test ends.
func startWatching(t *testing.T, s *Server) {
	t.Helper()
	serveLoopback(t, s)
	waitUntil(t, "serving", func() bool { return s.serving.Load() })
}

// serveLoopback runs s.Serve on a loopback listener; the returned function
// stops it and waits for Serve to return, as the test's end does if the
// test did not.
func serveLoopback(t *testing.T, s *Server) (stop func()) {
	_, stop = serveLoopbackAddr(t, s)
	return stop
}

// serveLoopbackAddr is serveLoopback that also returns the address served.
func serveLoopbackAddr(t *testing.T, s *Server) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, ln); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// writeAndWaitReload writes data to path as a careless deploy tool does
// (truncate, then write in place) and waits for the reload it triggers.
func writeAndWaitReload(t *testing.T, s *Server, path string, data []byte) *ReloadStatus {
	t.Helper()
	t0 := time.Now()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a reload after writing "+filepath.Base(path), func() bool { return s.lastReload.Load().At.After(t0) })
	return s.lastReload.Load()
}

// cuts are every 10% of data, and for each the line boundary just
// before it (a cut there leaves a file that parses).
func cuts(data []byte) []int {
	var out []int
	for p := 0; p < 100; p += 10 {
		n := len(data) * p / 100
		out = append(out, n)
		if i := strings.LastIndexByte(string(data[:n]), '\n'); i >= 0 {
			out = append(out, i+1)
		}
	}
	return out
}

// TestHardeningTruncatedPolicyAndList: a policy or list file cut at any
// 10% (and at the line boundary before it) never changes a served
// decision, through the real watch-and-reload path; a complete new
// version written with temp file + rename is still picked up.
func TestHardeningTruncatedPolicyAndList(t *testing.T) {
	pdir := t.TempDir()
	policyPath, listPath := filepath.Join(pdir, "trunc.risk"), filepath.Join(pdir, "blocked.txt")
	if err := os.WriteFile(policyPath, []byte(truncPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(listPath, []byte(truncList), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := newTestServer(t, "policies:\n  - path: "+pdir+"\nreload:\n  debounce: 20ms\n")
	startWatching(t, s)
	probes := []string{pay("u-9999", 1), pay("u-0001", 1), pay("u-5555", 150), pay("u-5555", 6000), pay("u-5555", 1)}
	decisions := func() string {
		var out []string
		for _, p := range probes {
			code, m := decide(t, s, p)
			out = append(out, fmt.Sprintf("%d:%v", code, m["decision"]))
		}
		return strings.Join(out, " ")
	}
	want := decisions()
	if want != "200:reject 200:reject 200:review 200:reject 200:approve" {
		t.Fatalf("baseline decisions: %s", want)
	}
	for _, f := range []struct {
		path string
		full []byte
	}{{policyPath, []byte(truncPolicy)}, {listPath, []byte(truncList)}} {
		for _, n := range cuts(f.full) {
			st := writeAndWaitReload(t, s, f.path, f.full[:n])
			if st.Result != "failure" {
				t.Errorf("%s cut to %d of %d bytes: reload %s, want failure", filepath.Base(f.path), n, len(f.full), st.Result)
			}
			if got := decisions(); got != want {
				t.Fatalf("%s cut to %d of %d bytes (reload %s %s): decisions %s, want %s", filepath.Base(f.path), n, len(f.full), st.Result, st.Error, got, want)
			}
		}
		if st := writeAndWaitReload(t, s, f.path, f.full); st.Result == "failure" {
			t.Fatalf("restoring %s: %s", f.path, st.Error)
		}
	}
	// The safe way, write a temporary file and rename it, still works.
	tmp := filepath.Join(pdir, ".trunc.risk.tmp")
	v2 := strings.Replace(strings.Replace(truncPolicy, `version "1"`, `version "2"`, 1), "amount > 5000", "amount > 50000", 1)
	if err := os.WriteFile(tmp, []byte(v2), 0o644); err != nil {
		t.Fatal(err)
	}
	before := s.lastReload.Load()
	if err := os.Rename(tmp, policyPath); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the reload of version 2", func() bool { return s.lastReload.Load() != before })
	if st := s.lastReload.Load(); st.Result != "success" {
		t.Fatalf("version 2: %+v", st)
	}
	if _, m := decide(t, s, pay("u-5555", 6000)); m["version"] != "2" || m["decision"] != "review" {
		t.Fatalf("after version 2: %v", m)
	}
}

// TestHardeningPolicyLimits: a policy over max_policy_bytes or max_rules,
// or a list over max_list_entries or max_list_bytes, does not load, and
// the error names the file and the limit.
func TestHardeningPolicyLimits(t *testing.T) {
	pdir := t.TempDir()
	if err := os.WriteFile(filepath.Join(pdir, "trunc.risk"), []byte(truncPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pdir, "blocked.txt"), []byte(truncList), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ limits, want string }{
		{"max_policy_bytes: 100", "trunc.risk: 398 bytes: over the limit of 100 (limits.max_policy_bytes)"},
		{"max_rules: 2", "trunc.risk:14:1: error: more than 2 rules: over the limit (max_rules)"},
		{"max_list_entries: 4", "list blocked has 5 entries: over the limit of 4 (max_list_entries)"},
		{"max_list_bytes: 10", "blocked.txt: 51 bytes: over the limit of 10 (max_list_bytes)"},
	} {
		cfg, err := config.Parse(filepath.Join(pdir, "riskd.yaml"), []byte("policies:\n  - path: "+pdir+"\nlimits:\n  "+c.limits+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(Options{Config: cfg})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.limits, err, c.want)
		}
	}
}
