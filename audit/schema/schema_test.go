package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

func sampleCompact() *Compact {
	return &Compact{Endpoint: "kafka", Index: -1, Status: 200, InputSM3: [32]byte{1, 2, 3}, Arm: "champion", Decision: "review",
		Score: 1.5, LatencyUS: 321, WindowGen: 7,
		Rules:    []RuleHit{{Rule: 1, Weight: 0}, {Rule: 0, Weight: 1.25}},
		Models:   []ModelHit{{Ran: true, Value: 0.75}},
		Windows:  []WindowHit{{Window: 1, Key: "u1", T: 1.7e9, V: 2, Value: 3}, {Window: 0, Key: "d1", S: "u1", NotCounted: true, Value: 1}},
		Features: []byte(`{"amount":10,"user_id":"[masked]"}`)}
}

var sampleDict = PolicyDict{Policy: "loan", Version: "v1", PolicyDigest: "sha256:ab",
	Rules:   []DictRule{{Name: "high", Reason: "too high"}, {Name: "blocked", Reason: "blocked device", Action: "reject"}},
	Models:  []DictModel{{Name: "risk", Path: "m.onnx", SHA256: "cd"}},
	Windows: []string{"users_on_device", "apps_1h"}}

// TestCompactDecisionExpands: a format 2 body and its dictionary give the
// same full decision a format 1 JSON record held.
func TestCompactDecisionExpands(t *testing.T) {
	dict, err := EncodePolicyDict(&sampleDict)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeDecision("req-1", AppendCompact(nil, sampleCompact()), dict)
	if err != nil {
		t.Fatal(err)
	}
	f := false
	want := &Decision{RequestID: "req-1", Endpoint: "kafka", Status: 200, InputSM3: fmt.Sprintf("%x", [32]byte{1, 2, 3}),
		Policy: "loan", Version: "v1", PolicyDigest: "sha256:ab", Arm: "champion", Decision: "review", Score: 1.5, LatencyUS: 321, WindowGen: 7,
		Rules:    []FiredRule{{Name: "blocked", Reason: "blocked device", Action: "reject"}, {Name: "high", Reason: "too high", Weight: 1.25}},
		Models:   []ModelOutput{{Name: "risk", Path: "m.onnx", SHA256: "cd", Ran: true, Value: 0.75}},
		Windows:  []WindowRead{{Window: 1, Name: "apps_1h", Key: "u1", T: 1.7e9, V: 2, Value: 3}, {Window: 0, Name: "users_on_device", Key: "d1", S: "u1", Value: 1, Counted: &f}},
		Features: map[string]json.RawMessage{"amount": json.RawMessage("10"), "user_id": json.RawMessage(`"[masked]"`)}}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("decoded\n%s\nwant\n%s", g, w)
	}
	// A rule, model or window the dictionary does not have is an error.
	for _, c := range []*Compact{{Rules: []RuleHit{{Rule: 2}}}, {Models: make([]ModelHit, 2)}, {Windows: []WindowHit{{Window: 2}}}} {
		if _, err := DecodeDecision("r", AppendCompact(nil, c), dict); err == nil {
			t.Errorf("%+v decoded against a dictionary without it", c)
		}
	}
	body := AppendCompact(nil, sampleCompact())
	for n := range len(body) {
		if _, err := DecodeDecision("r", body[:n], dict); err == nil {
			t.Fatalf("body cut at %d of %d decodes", n, len(body))
		}
	}
}

// FuzzDecodeCompact feeds arbitrary bytes to the format 2 decision
// decoder: it never panics, and what decodes encodes to bytes that decode
// to the same decision (varints may be written longer than needed, so the
// bytes themselves need not match).
func FuzzDecodeCompact(f *testing.F) {
	f.Add(AppendCompact(nil, sampleCompact()))
	f.Add(AppendCompact(nil, &Compact{Index: -1, Status: 401, Error: "no"}))
	f.Add([]byte{compactTag})
	dict := []byte(`{"kind":"policy","policy":"p","version":"1","policy_digest":"d","rules":[{"name":"a","reason":"b"},{"name":"c","reason":"d","action":"reject"}],"models":[{"name":"m","path":"m.onnx"}],"windows":["w","x"]}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		DecodeDecision("r", data, dict) // must not panic
		var c Compact
		if decodeCompact(data, &c) != nil {
			return
		}
		once := AppendCompact(nil, &c)
		var c2 Compact
		if err := decodeCompact(once, &c2); err != nil {
			t.Fatalf("re-encoded body does not decode: %v", err)
		}
		if twice := AppendCompact(nil, &c2); !bytes.Equal(once, twice) {
			t.Fatalf("compact body does not round-trip:\n%x\n%x", once, twice)
		}
	})
}
