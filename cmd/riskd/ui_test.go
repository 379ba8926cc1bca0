package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestPlaygroundUI starts riskd with --ui: the page is served, a policy
// loads into it with its source, and running an edited copy (one that
// rejects everything) changes nothing riskd serves. Without --ui the
// endpoints refuse.
func TestPlaygroundUI(t *testing.T) {
	dir := policyDir(t, "loan.risk")
	p := startRiskd(t, "--policy", dir, "--ui")
	if code, page := p.get(t, "/ui/"); code != 200 || !strings.Contains(page, "Riskforge playground") {
		t.Fatalf("GET /ui/: %d", code)
	}
	code, _, before := p.do(t, "POST", "/v1/decide", loanRequest("u1"), nil)
	if code != 200 {
		t.Fatalf("decide: %d %v", code, before)
	}
	code, pol := p.get(t, "/ui/api/policy?name=loan_apply")
	var served struct{ Path, Source string }
	if code != 200 || json.Unmarshal([]byte(pol), &served) != nil || !strings.Contains(served.Source, "rule recent_arrears") {
		t.Fatalf("GET /ui/api/policy: %d %s", code, pol)
	}
	edited := alwaysReject(served.Source)
	body, _ := json.Marshal(map[string]any{"source": edited, "path": served.Path, "request": json.RawMessage(loanRequest("u1"))})
	code, _, run := p.do(t, "POST", "/ui/api/run", body, map[string]string{"Content-Type": "application/json"})
	if code != 200 || run["action"] != "reject" {
		t.Fatalf("playground run of the edited copy: %d %v", code, run)
	}
	code, _, after := p.do(t, "POST", "/v1/decide", loanRequest("u1"), nil)
	if code != 200 || after["decision"] != before["decision"] || after["decision"] == "reject" {
		t.Fatalf("served decision changed after a playground run: before %v, after %v", before["decision"], after["decision"])
	}

	off := startRiskd(t, "--policy", dir)
	code, _, m := off.do(t, "POST", "/ui/api/run", body, nil)
	if code != 404 || !strings.Contains(m["error"].(string), "--ui") {
		t.Fatalf("playground with the UI off: %d %v", code, m)
	}
}
