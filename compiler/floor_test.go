package compiler

import (
	"strings"
	"testing"

	"github.com/riskforge/riskforge/vm"
)

const floorPolicy = `policy f version "1"
input {
  amount       float
  new_customer bool
  flagged      bool
}
rule big     when amount > 1000 emit score 4.0 reason "big"
rule newbie  when new_customer emit at_least review reason "new customer"
rule manual  when flagged emit review reason "flagged: an analyst decides"
rule tiny    when amount < 10 emit approve reason "tiny"
decide { bias -2.0  reject when score >= 0.8  review when score >= 0.5  otherwise approve }
`

// TestAtLeastIsAFloor: emit at_least review raises an approve to review
// but never lowers a score-based reject, unlike emit review, which
// overrides; a floor also lifts a forced approve.
func TestAtLeastIsAFloor(t *testing.T) {
	prog, _, diags, err := Load("f.risk", []byte(floorPolicy))
	if err != nil {
		t.Fatal(err, diags)
	}
	data, err := prog.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := vm.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !decoded.Rules[1].AtLeast || decoded.Rules[2].AtLeast || !decoded.Rules[2].Forces {
		t.Fatalf("artifact round trip lost the floor: %+v", decoded.Rules)
	}
	tests := []struct {
		amount         float64
		newbie, manual bool
		want           vm.Action
	}{
		{amount: 500, want: vm.Approve},
		{amount: 500, newbie: true, want: vm.Review},                // floor lifts approve
		{amount: 5000, newbie: true, want: vm.Reject},               // floor keeps the score's reject
		{amount: 5000, manual: true, want: vm.Review},               // an override lowers it
		{amount: 5, newbie: true, want: vm.Review},                  // floor lifts a forced approve
		{amount: 5000, newbie: true, manual: true, want: vm.Review}, // override, then the floor
	}
	for _, p := range []*vm.Program{prog, decoded} {
		m := p.NewMachine()
		for _, tt := range tests {
			req := p.NewRequest()
			req.Num[0], req.Num[1], req.Num[2] = tt.amount, b(tt.newbie), b(tt.manual)
			req.Present[0], req.Present[1], req.Present[2] = true, true, true
			d, err := m.Eval(req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tt.want {
				t.Errorf("%+v: %s, want %s (score %.3f)", tt, d.Action, tt.want, d.Score)
			}
		}
	}
}

func b(x bool) float64 {
	if x {
		return 1
	}
	return 0
}

func TestAtLeastApproveIsAnError(t *testing.T) {
	src := strings.Replace(floorPolicy, "emit approve", "emit at_least approve", 1)
	_, diags := CheckSource("f.risk", []byte(src), Options{})
	if want := "f.risk:10:45: error: at_least approve changes nothing: every decision is at least approve (write emit approve to override the score, or emit at_least review)"; !strings.Contains(diags.Error(), want) {
		t.Errorf("got %v\nwant %s", diags, want)
	}
}
