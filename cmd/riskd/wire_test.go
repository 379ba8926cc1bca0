package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/api"
)

// TestWireTypes holds riskd's real answers to the api types: each body
// decodes into its type with no field left over (DisallowUnknownFields),
// and encoding the decoded value again gives the same JSON (so the type
// has no field riskd does not send, and no field changes its shape).
func TestWireTypes(t *testing.T) {
	dir := policyDir(t, "loan.risk")
	cfg := writeConfig(t, t.TempDir(), "server:\n  admin_token: s3cret\npolicies:\n  - path: "+dir+"\nreload:\n  watch: false\n")
	p := startRiskd(t, "--config", cfg)
	admin := map[string]string{"Authorization": "Bearer s3cret"}
	badItem := []byte(`{"event":"loan_apply","features":{"user_id":"b2"}}`)
	batch := append(append(append([]byte("["), loanRequest("w1")...), ','), append(badItem, ']')...)
	cases := []struct {
		name         string
		method, path string
		body         []byte
		hdr          map[string]string
		status       int
		into         any
	}{
		{"decision", "POST", "/v1/decide", loanRequest("w0"), nil, 200, &api.Decision{}},
		{"error", "POST", "/v1/decide", badItem, nil, 400, &api.Error{}},
		{"unknown endpoint", "GET", "/v2/nothing", nil, nil, 404, &api.Error{}},
		{"batch", "POST", "/v1/decide/batch", batch, nil, 200, &api.BatchResponse{}},
		{"ready", "GET", "/readyz", nil, nil, 200, &api.ReadyReport{}},
		{"public policies", "GET", "/v1/policies", nil, nil, 200, &api.PublicPolicies{}},
		{"policies", "GET", "/v1/policies", nil, admin, 200, &api.PoliciesReport{}},
		{"reload", "POST", "/v1/admin/reload", nil, admin, 200, &api.ReloadResponse{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, data := p.raw(t, c.method, c.path, c.body, c.hdr)
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, data)
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(c.into); err != nil {
				t.Fatalf("%s does not fit %T: %v", data, c.into, err)
			}
			again, err := json.Marshal(c.into)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := json.Unmarshal(data, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(again, &got); err != nil {
				t.Fatal(err)
			}
			if c.name == "batch" {
				// A refused item encodes the Decision part's zero fields.
				got = dropZeroDecision(got)
			}
			if !reflect.DeepEqual(want, got) {
				t.Errorf("%T does not round-trip riskd's answer:\nriskd %s\napi   %s", c.into, data, again)
			}
		})
	}
	// The batch tells a decision from a refused item, and the refusal has
	// its stable code.
	var br api.BatchResponse
	_, _, data := p.raw(t, "POST", "/v1/decide/batch", batch, nil)
	if err := json.Unmarshal(data, &br); err != nil {
		t.Fatal(err)
	}
	if len(br.Results) != 2 || br.Results[0].Failed() || !br.Results[1].Failed() ||
		br.Results[1].Code != api.CodeInvalidRequest || !strings.HasPrefix(br.Results[1].Field, "features.") {
		t.Errorf("batch results: %+v", br.Results)
	}
}

// dropZeroDecision removes, from each refused batch item of a decoded
// BatchResponse, the Decision fields an error item does not have.
func dropZeroDecision(v any) any {
	m := v.(map[string]any)
	for _, r := range m["results"].([]any) {
		item := r.(map[string]any)
		if _, failed := item["error"]; !failed {
			continue
		}
		for _, k := range []string{"policy", "version", "decision", "score", "rules", "models", "degraded", "latency_us"} {
			delete(item, k)
		}
	}
	return m
}

// mustWrite writes a test file; setup that cannot write fails the test.
// writeConfig writes a riskd.yaml holding yaml into dir and returns its
// path.
func writeConfig(t *testing.T, dir, yaml string) string {
	t.Helper()
	cfg := filepath.Join(dir, "riskd.yaml")
	mustWrite(t, cfg, yaml)
	return cfg
}

func mustWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
