package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/riskforge/riskforge/server/config"
)

func getPolicies(s *Server, hdr ...string) string {
	req := httptest.NewRequest("GET", "/v1/policies", nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	return w.Body.String()
}

// TestHardeningPoliciesRedacted: without the admin token /v1/policies
// shows names, versions and digests only — no rollout seed, no paths.
func TestHardeningPoliciesRedacted(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "v1.risk", "1", -2)
	writeTestPolicy(t, pdir, "v2.risk", "2", -2)
	s, _ := newTestServer(t, "server:\n  admin_token: s3cret\npolicies:\n  - path: "+pdir+
		"\nrollout:\n  velo:\n    champion: \"1\"\n    seed: hidden-seed\n    challengers:\n      - version: \"2\"\n        percent: 10\n")
	public := getPolicies(s)
	var view struct {
		Policies []struct {
			Name     string
			Versions []map[string]any
		}
	}
	if err := json.Unmarshal([]byte(public), &view); err != nil {
		t.Fatal(err)
	}
	if len(view.Policies) != 1 || view.Policies[0].Name != "velo" || len(view.Policies[0].Versions) != 2 {
		t.Fatalf("public view: %s", public)
	}
	for _, v := range view.Policies[0].Versions {
		if len(v) != 2 || v["version"] == nil || !strings.HasPrefix(v["digest"].(string), "sha256:") {
			t.Errorf("a public version shows more or less than version and digest: %v", v)
		}
	}
	for _, secret := range []string{"hidden-seed", pdir, "rollout", "percent", "last_reload"} {
		if strings.Contains(public, secret) {
			t.Errorf("/v1/policies without the token shows %q:\n%s", secret, public)
		}
	}
	full := getPolicies(s, "Authorization", "Bearer s3cret")
	for _, want := range []string{`"rollout_seed": "hidden-seed"`, pdir, `"percent": 10`} {
		if !strings.Contains(full, want) {
			t.Errorf("/v1/policies with the token lacks %q", want)
		}
	}
	if getPolicies(s, "Authorization", "Bearer wrong") != public {
		t.Error("a wrong token must see the public view")
	}
}

// TestHardeningPinNeedsAuthorization: X-Policy-Version chooses a version
// only when it is in rollout.NAME.pinnable or the admin token is sent.
func TestHardeningPinNeedsAuthorization(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "v1.risk", "1", -2)
	writeTestPolicy(t, pdir, "v2.risk", "2", 5)
	writeTestPolicy(t, pdir, "v3.risk", "3", 5)
	s, _ := newTestServer(t, "server:\n  admin_token: s3cret\npolicies:\n  - path: "+pdir+
		"\nrollout:\n  velo:\n    champion: \"1\"\n    pinnable: [\"3\"]\n")
	if code, m := decide(t, s, pay("a", 1), "X-Policy-Version", "2"); code != 403 || m["field"] != "X-Policy-Version" {
		t.Errorf("unauthorised pin of an unreleased version: %d %v", code, m)
	}
	if code, m := decide(t, s, pay("a", 1), "X-Policy-Version", "2", "Authorization", "Bearer s3cret"); code != 200 || m["version"] != "2" {
		t.Errorf("pin with the admin token: %d %v", code, m)
	}
	if code, m := decide(t, s, pay("a", 1), "X-Policy-Version", "3"); code != 200 || m["version"] != "3" {
		t.Errorf("pin of a pinnable version: %d %v", code, m)
	}
	if code, m := decide(t, s, pay("a", 1), "X-Policy-Version", "9"); code != 400 {
		t.Errorf("pin of an unknown version: %d %v", code, m)
	}
	req := httptest.NewRequest("POST", "/v1/decide/batch", strings.NewReader(pay("a", 1)+"\n"))
	req.Header.Set("X-Policy-Version", "2")
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	if w.Code != 403 {
		t.Errorf("unauthorised pin in a batch: %d %s", w.Code, w.Body)
	}
}

// TestHardeningDebugAddrLoopback: debug_addr ":0" listens on loopback;
// a non-loopback host is used as given, with a warning.
func TestHardeningDebugAddrLoopback(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	for _, c := range []struct {
		addr     string
		loopback bool
	}{{":0", true}, {"0.0.0.0:0", false}} {
		cfg := config.Default()
		cfg.Policies = []config.Policy{{Path: pdir}}
		cfg.Server.DebugAddr = c.addr
		off := false
		cfg.Reload.Watch = &off
		var logs syncBuf
		s, err := New(Options{Config: cfg, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		stop := serveLoopback(t, s)
		waitUntil(t, "the debug listener", func() bool { return strings.Contains(logs.String(), "debug listener") })
		stop()
		var addr string
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, "debug listener") {
				addr = rec.Addr
			}
		}
		host, _, _ := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); ip == nil || ip.IsLoopback() != c.loopback {
			t.Errorf("debug_addr %q listened on %q, want loopback %v", c.addr, addr, c.loopback)
		}
		if warned := strings.Contains(logs.String(), "not a loopback address"); warned == c.loopback {
			t.Errorf("debug_addr %q: warning logged %v, want %v", c.addr, warned, !c.loopback)
		}
	}
}

// syncBuf is a bytes.Buffer safe for the server's goroutines.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
