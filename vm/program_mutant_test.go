package vm_test

import (
	"testing"

	"github.com/riskforge/riskforge/vm"
)

// TestNamesOutOfRange: a Type, Action or ParamKind past the last name is
// "invalid", not a panic (an artifact or a caller can hold any byte), and
// the last defined value still has its name.
func TestNamesOutOfRange(t *testing.T) {
	cases := []struct{ got, want string }{
		{vm.TTime.String(), "time"},
		{(vm.TTime + 1).String(), "invalid"},
		{vm.Type(0).String(), "invalid"},
		{vm.Reject.String(), "reject"},
		{(vm.Reject + 1).String(), "invalid"},
		{vm.Cutoff.String(), "cutoff"},
		{(vm.Cutoff + 1).String(), "invalid"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: %q, want %q", i, c.got, c.want)
		}
	}
}

// TestIndexOfUnknownName: InputIndex, EventIndex and ParamIndex answer
// -1 for a name the program does not have, and the index otherwise.
func TestIndexOfUnknownName(t *testing.T) {
	src := `policy t version "1"
events pay, login
input {
  a float
  b float
}
rule r when b > 5 emit score 1 reason "big"
decide {
  reject when score >= 1
  otherwise approve
}
`
	_, p := compileSource(t, src, nil)
	if got := p.InputIndex("b"); got != 1 {
		t.Errorf("InputIndex(b) = %d, want 1", got)
	}
	if got := p.EventIndex("login"); got != 1 {
		t.Errorf("EventIndex(login) = %d, want 1", got)
	}
	if len(p.Params) == 0 {
		t.Fatal("the policy has no parameters")
	}
	last := len(p.Params) - 1
	if got := p.ParamIndex(p.Params[last].Name); got != last {
		t.Errorf("ParamIndex(%s) = %d, want %d", p.Params[last].Name, got, last)
	}
	for name, got := range map[string]int{
		"InputIndex": p.InputIndex("nope"),
		"EventIndex": p.EventIndex("nope"),
		"ParamIndex": p.ParamIndex("nope"),
	} {
		if got != -1 {
			t.Errorf("%s(nope) = %d, want -1", name, got)
		}
	}
}

// obsCounter counts the window observations the machine adds.
type obsCounter struct{ n int }

func (s *obsCounter) Observe(obs []vm.WindowObs, out []float64) error {
	for _, o := range obs {
		if o.Add {
			s.n++
		}
	}
	return nil
}

// TestWindowPrologue: the prologue is the program's code up to and
// including its last window observation, then HALT; it has no rules, is
// prepared (it evaluates), feeds every window and decides nothing.
func TestWindowPrologue(t *testing.T) {
	src := `policy t version "1"
input {
  user   string
  device string
  amount float
}
window n = count() over 1h by user
window devs = count_distinct(device) over 1h by user
rule many when n > 3 and devs > 1 emit reject reason "many"
rule big when amount > 100 emit score 1 reason "big"
`
	_, p := compileSource(t, src, nil)
	last := -1
	for pc, in := range p.Code {
		if in.Op == vm.OBSERVE || in.Op == vm.OBSERVES {
			last = pc
		}
	}
	if last < 0 || last+1 >= len(p.Code)-1 {
		t.Fatalf("test policy: last observation at %d of %d instructions; want rule code after it", last, len(p.Code))
	}
	q, err := p.WindowPrologue()
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Code) != last+2 || q.Code[last+1].Op != vm.HALT || len(q.Lines) != len(q.Code) {
		t.Fatalf("prologue has %d instructions (%d lines), want %d ending in HALT", len(q.Code), len(q.Lines), last+2)
	}
	for pc := 0; pc <= last; pc++ {
		if q.Code[pc] != p.Code[pc] {
			t.Fatalf("prologue instruction %d is %v, want %v", pc, q.Code[pc], p.Code[pc])
		}
	}
	if len(q.Rules) != 0 || len(p.Rules) != 2 {
		t.Fatalf("prologue has %d rules (program %d), want none", len(q.Rules), len(p.Rules))
	}
	m := q.NewMachine()
	st := &obsCounter{}
	m.Windows = st
	d, err := m.Eval(decodeFeats(t, q, "", map[string]any{"user": "u", "device": "d", "amount": 500}))
	if err != nil {
		t.Fatal(err)
	}
	if st.n != 2 || len(d.Fired) != 0 || d.Action != vm.Approve {
		t.Fatalf("prologue: %d observations, fired %v, action %v; want 2, none, approve", st.n, d.Fired, d.Action)
	}
}
