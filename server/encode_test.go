package server

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
)

// weightsPolicy fires every rule on every request, with weights whose
// shortest decimal forms need every digit.
const weightsPolicy = `policy weights version "1"
events pay
input {
  amount float >= 0
}
rule tenth
  when amount >= 0
  emit score 0.1 reason "a tenth"
rule negative
  when amount >= 0
  emit score -0.6 reason "negative"
rule digits
  when amount >= 0
  emit score 0.123456789012345 reason "fifteen digits"
rule tiny
  when amount >= 0
  emit score 1e-7 reason "tiny"
decide {
  bias -3
  reject when score >= 0.9
  otherwise approve
}
`

// TestResponseWeights: the weights in a decision response are the
// program's, bit for bit, whether they come from the encodings made at
// load or are formatted on the spot.
func TestResponseWeights(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "weights.risk"), []byte(weightsPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := newTestServer(t, "policies:\n  - path: "+dir+"\n")
	code, m := decide(t, s, `{"event":"pay","features":{"amount":5}}`)
	if code != 200 {
		t.Fatalf("status %d: %v", code, m)
	}
	want := map[string]float64{"tenth": 0.1, "negative": -0.6, "digits": 0.123456789012345, "tiny": 1e-7}
	rules, _ := m["rules"].([]any)
	if len(rules) != len(want) {
		t.Fatalf("fired %s, want the four rules", firedRules(m))
	}
	for _, r := range rules {
		r := r.(map[string]any)
		name := r["name"].(string)
		if got := r["weight"].(float64); math.Float64bits(got) != math.Float64bits(want[name]) {
			t.Errorf("rule %s: weight %v in the response, want %v", name, got, want[name])
		}
	}

	// A fired rule whose weight is not the one loaded (a caller's
	// parameters) is formatted as it is, not given the loaded encoding.
	data, _ := os.ReadFile(filepath.Join(dir, "weights.risk"))
	prog, _, _, err := compiler.Load("weights.risk", data)
	if err != nil {
		t.Fatal(err)
	}
	var c serving
	c.encodeFragments(&Version{Policy: "weights", Version: "1", Prog: prog})
	// The encodings made at load are of the weights the rules fire with
	// (here parameters of the program), or every response formats them.
	for i, r := range prog.Rules {
		if math.Float64bits(c.ruleWeights[i]) != math.Float64bits(want[r.Name]) {
			t.Errorf("rule %s: weight %v kept at load, want %v", r.Name, c.ruleWeights[i], want[r.Name])
		}
	}
	d := &vm.Decision{Fired: []vm.Fired{{Rule: 0, Weight: 0.25}, {Rule: 1, Weight: -0.6}, {Rule: 2, Weight: math.Nextafter(0.123456789012345, 1)}}}
	var back struct {
		Rules []struct {
			Name   string
			Weight float64
		}
	}
	b := appendDecision(nil, -1, "r", &c, d, 0)
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	for i, f := range d.Fired {
		if got := back.Rules[i]; got.Name != prog.Rules[f.Rule].Name || math.Float64bits(got.Weight) != math.Float64bits(f.Weight) {
			t.Errorf("fired %d: %+v, want %s with weight %s", i, got, prog.Rules[f.Rule].Name, strconv.FormatFloat(f.Weight, 'g', -1, 64))
		}
	}
	if !strings.Contains(string(b), `"weight":0.25}`) {
		t.Errorf("weight 0.25 not written as such: %s", b)
	}
}

// BenchmarkAppendDecision encodes a response of four fired rules and two
// model values (loan_ml's responses fire one to three rules).
func BenchmarkAppendDecision(b *testing.B) {
	prog, _, _, err := compiler.Load("weights.risk", []byte(weightsPolicy))
	if err != nil {
		b.Fatal(err)
	}
	var c serving
	c.encodeFragments(&Version{Policy: "weights", Version: "1", Prog: prog})
	d := &vm.Decision{Score: 0.02659699357686585}
	for i, r := range prog.Rules {
		d.Fired = append(d.Fired, vm.Fired{Rule: i, Weight: r.Weight})
		if r.WeightParam >= 0 {
			d.Fired[i].Weight = prog.Params[r.WeightParam].Value
		}
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendDecision(buf[:0], -1, "38abb17c-a5f9-4f40-9b99-ddcc1cc78708", &c, d, 320)
	}
}
