package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/internal/redistest"
)

// The timeout is generous: the first fetch dials Redis, and the shared test
// machine can be slow; the failure path is tested with Redis stopped.
const lookupPolicy = `policy lk version "1"

events apply

input {
  user_id string
  amount  float >= 0
}

lookup profile = redis "profile:{user_id}" {
  fields   [segment string, limit float, tenure_days int]
  ttl      5m
  timeout  2s
  on_error absent
}

rule over_limit
  when exists(profile.limit) and amount > profile.limit
  emit score 1.0 reason "over the stored limit"

rule no_profile
  when not failed(profile) and not exists(profile.segment)
  emit review reason "no stored profile"

rule store_down
  when failed(profile)
  emit reject reason "the profile store did not answer"

decide { bias -1.0  reject when score >= 0.5  otherwise approve }
`

// TestLookupServe: riskd fetches profile.* from a real redis-server
// before deciding; a missing key reads as absent (the exists() rule
// fires); with Redis gone the decision is still 200, degraded, and
// failed(profile) tells the failed fetch from a missing key; /readyz
// and riskd health report the hit rate.
func TestLookupServe(t *testing.T) {
	srv := redistest.Start(t)
	rc, addr := srv.Client(t), srv.Addr
	ctx := context.Background()
	rc.HSet(ctx, "profile:u1", "segment", "gold", "limit", "100", "tenure_days", "400")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "lk.risk"), []byte(lookupPolicy), 0o644)
	cfg := writeConfig(t, dir, fmt.Sprintf("policies:\n  - path: lk.risk\nreload:\n  watch: false\nlookups:\n  profile:\n    redis:\n      addr: %s\n    max_entries: 1000\n", addr))
	p := startRiskd(t, "--config", cfg)
	req := func(user string, amount float64) []byte {
		return []byte(`{"event":"apply","features":{"user_id":"` + user + `","amount":` + strconv.FormatFloat(amount, 'f', -1, 64) + `}}`)
	}
	rules := func(m map[string]any) string {
		var names []string
		for _, r := range m["rules"].([]any) {
			names = append(names, r.(map[string]any)["name"].(string))
		}
		return strings.Join(names, ",")
	}
	for i := range 3 { // the first fetches, the others hit the cache
		code, _, m := p.do(t, "POST", "/v1/decide", req("u1", 500), nil)
		if code != 200 || m["decision"] != "reject" || rules(m) != "over_limit" || m["degraded"] != false {
			t.Fatalf("u1 (limit 100), amount 500, call %d: %d %v", i, code, m)
		}
	}
	if code, _, m := p.do(t, "POST", "/v1/decide", req("u1", 50), nil); code != 200 || m["decision"] != "approve" {
		t.Fatalf("u1, amount 50: %d %v", code, m)
	}
	if code, _, m := p.do(t, "POST", "/v1/decide", req("stranger", 50), nil); code != 200 || m["decision"] != "review" || rules(m) != "no_profile" || m["degraded"] != false {
		t.Fatalf("a key Redis does not hold: %d %v", code, m)
	}
	// A request cannot claim a failed fetch: riskd sets failed(profile).
	claim := []byte(`{"event":"apply","features":{"user_id":"stranger","amount":50,"failed(profile)":true}}`)
	if code, _, m := p.do(t, "POST", "/v1/decide", claim, nil); code != 200 || rules(m) != "no_profile" {
		t.Fatalf("a request carrying failed(profile): %d %v", code, m)
	}
	_, body := p.get(t, "/readyz")
	if !strings.Contains(body, "profile hit rate 0.6") {
		t.Errorf("/readyz lacks the hit rate (3 hits of 5):\n%s", body)
	}
	out, _ := exec.Command(riskdBin, "health", "--endpoint", p.base).CombinedOutput()
	if !strings.Contains(string(out), "profile hit rate") {
		t.Errorf("riskd health does not show the hit rate:\n%s", out)
	}
	if n := metric(t, p, `riskforge_lookup_fetches_total`); n != 2 { // u1 and stranger (remembered as missing)
		t.Errorf("riskforge_lookup_fetches_total = %v, want 2", n)
	}

	srv.Stop()
	code, _, m := p.do(t, "POST", "/v1/decide", req("u2", 500), nil)
	if code != 200 || m["degraded"] != true || rules(m) != "store_down" || m["decision"] != "reject" {
		t.Fatalf("with Redis down: %d %v; want 200, degraded, the fields absent and failed(profile) true", code, m)
	}
}
