package vm_test

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/vm"
)

// TestDecideCutAtEquality: with bias -0.75 and a fired weight of 0.75 the
// logit is exactly 0 and the score exactly 0.5, so `> 0.5` must not match
// and `>= 0.5` must, for tunable and fixed cut-offs alike.
func TestDecideCutAtEquality(t *testing.T) {
	cases := []struct {
		cut    string
		amount float64 // 20 fires the rule (score 0.5), 1 does not (score ~0.32)
		want   vm.Action
	}{
		{"review when score > 0.5", 20, vm.Approve},
		{"review when score >= 0.5", 20, vm.Review},
		{"review when score > fixed 0.5", 20, vm.Approve},
		{"review when score >= fixed 0.5", 20, vm.Review},
		{"review when score > 0.49", 20, vm.Review},
		{"review when score >= 0.51", 20, vm.Approve},
		{"review when score >= 0.5", 1, vm.Approve},
		{"review when score > 0.5", 1, vm.Approve},
		{"review when score >= 0.3", 1, vm.Review},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/amount=%v", tc.cut, tc.amount), func(t *testing.T) {
			src := "policy t version \"1\"\ninput {\n  amount float\n}\nrule big\n  when amount > 10\n  emit score 0.75 reason \"big\"\n" +
				"decide {\n  bias -0.75\n  " + tc.cut + "\n  otherwise approve\n}\n"
			_, p := compileSource(t, src, nil)
			d, err := p.NewMachine().Eval(decodeFeats(t, p, "", map[string]any{"amount": tc.amount}))
			if err != nil {
				t.Fatal(err)
			}
			if tc.amount == 20 && (d.Logit != 0 || d.Score != 0.5) {
				t.Fatalf("logit %v score %v, want exactly 0 and 0.5", d.Logit, d.Score)
			}
			if d.Action != tc.want {
				t.Fatalf("score %v with %q: action %s, want %s", d.Score, tc.cut, d.Action, tc.want)
			}
		})
	}
}

// TestDecideFirstMatchingCutWins: cuts are tried top to bottom; a score
// between two cuts gets the lower one's action, above both the upper's.
func TestDecideFirstMatchingCutWins(t *testing.T) {
	src := `policy t version "1"
input {
  a float
  b float
}
rule ra
  when a > 0
  emit score 1 reason "a"
rule rb
  when b > 0
  emit score 2 reason "b"
decide {
  bias -1
  reject when score >= 0.8
  review when score >= 0.5
  otherwise approve
}
`
	_, p := compileSource(t, src, nil)
	m := p.NewMachine()
	for _, tc := range []struct {
		a, b  float64
		logit float64
		want  vm.Action
		fired string
	}{
		{0, 0, -1, vm.Approve, ""},
		{1, 0, 0, vm.Review, "ra"},
		{0, 1, 1, vm.Review, "rb"},
		{1, 1, 2, vm.Reject, "ra,rb"},
	} {
		d, err := m.Eval(decodeFeats(t, p, "", map[string]any{"a": tc.a, "b": tc.b}))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range d.Fired {
			names = append(names, f.Name)
		}
		if d.Logit != tc.logit || d.Action != tc.want || strings.Join(names, ",") != tc.fired {
			t.Errorf("a=%v b=%v: logit %v action %s fired %v; want %v %s %s", tc.a, tc.b, d.Logit, d.Action, names, tc.logit, tc.want, tc.fired)
		}
	}
}

// TestPrepareRefusesSelfJump: a hand-built program whose jump targets its
// own instruction would loop forever; Prepare refuses it like any
// backward jump, while the same jump one instruction forward is fine.
func TestPrepareRefusesSelfJump(t *testing.T) {
	for _, tc := range []struct {
		name string
		code []vm.Instr
		want string
	}{
		{"jmp to itself", []vm.Instr{{Op: vm.JMP, A: 0}, {Op: vm.HALT}}, "backward jump to 0"},
		{"jmp to itself later", []vm.Instr{{Op: vm.NOP}, {Op: vm.JMP, A: 1}, {Op: vm.HALT}}, "backward jump to 1"},
		{"jmp forward", []vm.Instr{{Op: vm.JMP, A: 1}, {Op: vm.HALT}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &vm.Program{Code: tc.code, Lines: make([]int32, len(tc.code)), TimeSlot: -1, Decide: vm.Decide{BiasParam: -1},
				SourceSHA256: sha256.Sum256(nil)}
			err := p.Prepare()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Prepare: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Prepare: got %v, want %q", err, tc.want)
			}
			if tc.want == "" {
				return
			}
			if _, err := p.MarshalBinary(); err == nil {
				t.Error("MarshalBinary accepted a self-jump")
			}
			if _, err := vm.Decode(vm.SealForTest(p)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode: got %v, want %q", err, tc.want)
			}
		})
	}
}
