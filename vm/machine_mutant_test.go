package vm_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/riskforge/riskforge/vm"
)

// timeStore records the event time the machine hands the window store.
type timeStore struct{ t []float64 }

func (s *timeStore) Observe(obs []vm.WindowObs, out []float64) error {
	s.t = append(s.t, obs[0].T)
	return nil
}

// TestWindowEventTime: windows get the event time from the policy's time
// input, wherever its slot is (slot 0 included); without one from
// Request.Time; and when that is 0 as well, the wall clock in seconds.
func TestWindowEventTime(t *testing.T) {
	cases := []struct {
		name, input string
		feats       map[string]any
		reqTime     float64
		want        float64 // 0: the wall clock
	}{
		{"time input in slot 0", "  ts time\n  user string\n", map[string]any{"ts": 1234, "user": "u"}, 999, 1234},
		{"time input after another", "  n float\n  ts time\n  user string\n", map[string]any{"n": 1, "ts": 1234, "user": "u"}, 999, 1234},
		{"request time", "  user string\n", map[string]any{"user": "u"}, 5000, 5000},
		{"wall clock", "  user string\n", map[string]any{"user": "u"}, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := "policy t version \"1\"\ninput {\n" + tc.input + "}\nwindow c = count() over 1h by user\nrule r when c > 5 emit review reason \"many\"\n"
			_, p := compileSource(t, src, nil)
			if tc.name == "time input in slot 0" && p.TimeSlot != 0 {
				t.Fatalf("time slot %d, want 0", p.TimeSlot)
			}
			m := p.NewMachine()
			st := &timeStore{}
			m.Windows = st
			req := decodeFeats(t, p, "", tc.feats)
			req.Time = tc.reqTime
			before := float64(time.Now().UnixNano()) / 1e9
			if _, err := m.Eval(req); err != nil {
				t.Fatal(err)
			}
			after := float64(time.Now().UnixNano()) / 1e9
			if len(st.t) != 1 {
				t.Fatalf("store saw %d observations", len(st.t))
			}
			got := st.t[0]
			if tc.want == 0 {
				if got < before-1 || got > after+1 {
					t.Fatalf("event time %v, want the wall clock in seconds (%v..%v)", got, before, after)
				}
			} else if got != tc.want {
				t.Fatalf("event time %v, want %v", got, tc.want)
			}
		})
	}
}

// TestBiasParamAtIndexZero: a policy whose only rules force actions has
// the decide bias as parameter 0; SetParams must still move the score.
func TestBiasParamAtIndexZero(t *testing.T) {
	src := `policy t version "1"
input {
  amount float
}
rule block
  when amount > fixed 100
  emit reject reason "too big"
decide {
  bias -2.0
  review when score >= 0.5
  otherwise approve
}
`
	_, p := compileSource(t, src, nil)
	if len(p.Params) == 0 || p.Params[0].Kind != vm.Bias {
		t.Fatalf("want the bias as parameter 0, got %+v", p.Params)
	}
	m := p.NewMachine()
	vals := make([]float64, len(p.Params))
	for i, prm := range p.Params {
		vals[i] = prm.Value
	}
	vals[0] = 1
	m.SetParams(vals)
	d, err := m.Eval(decodeFeats(t, p, "", map[string]any{"amount": 1}))
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 / (1 + math.Exp(-1)); d.Logit != 1 || d.Score != want || d.Action != vm.Review {
		t.Fatalf("logit %v score %v action %s, want 1, %v, review", d.Logit, d.Score, d.Action, want)
	}
}

// TestEvalUnary: the compiler folds constants with EvalUnary, so it must
// agree with the machine: NEG negates, NOT is 1 exactly for 0.
func TestEvalUnary(t *testing.T) {
	cases := []struct {
		op   vm.Opcode
		x    float64
		want float64
	}{
		{vm.NEG, 2, -2}, {vm.NEG, -3.5, 3.5}, {vm.NOT, 0, 1}, {vm.NOT, 1, 0}, {vm.NOT, -1, 0}, {vm.NOT, 0.5, 0},
		{vm.ABS, -2, 2}, {vm.FLOOR, 2.5, 2}, {vm.CEIL, 2.5, 3},
		// 1970-01-04 was a Sunday (0), 1969-12-31 a Wednesday (3).
		{vm.WEEKDAY, 3 * 86400, 0}, {vm.WEEKDAY, 3*86400 - 1, 6}, {vm.WEEKDAY, -86400, 3}, {vm.WEEKDAY, 0, 4},
		{vm.HOUR, 0, 0}, {vm.HOUR, -1, 23}, {vm.HOUR, 86400, 0}, {vm.HOUR, 3599, 0}, {vm.HOUR, 3600, 1},
		{vm.LOG, 0, -744.4400719213812}, {vm.LOG, -1, -744.4400719213812}, {vm.LOG, 1, 0},
		{vm.SQRT, -1, 0}, {vm.SQRT, 0, 0}, {vm.SQRT, 4, 2},
	}
	for _, c := range cases {
		if got := vm.EvalUnary(c.op, c.x); got != c.want {
			t.Errorf("EvalUnary(%s, %v) = %v, want %v", c.op, c.x, got, c.want)
		}
	}
}

// TestCutParamAtIndexZero: with a fixed bias and no score rules the first
// decide cut-off is parameter 0; SetParams must still move it.
func TestCutParamAtIndexZero(t *testing.T) {
	src := `policy t version "1"
input {
  amount float
}
rule block
  when amount > fixed 100
  emit reject reason "too big"
decide {
  bias fixed -2.0
  review when score >= 0.5
  otherwise approve
}
`
	_, p := compileSource(t, src, nil)
	if len(p.Params) == 0 || p.Params[0].Kind != vm.Cutoff {
		t.Fatalf("want the cut-off as parameter 0, got %+v", p.Params)
	}
	m := p.NewMachine()
	m.SetParams([]float64{0.1}) // sigmoid(-2) = 0.119 is above 0.1
	d, err := m.Eval(decodeFeats(t, p, "", map[string]any{"amount": 1}))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != vm.Review {
		t.Fatalf("score %v against a cut-off of 0.1: action %s, want review", d.Score, d.Action)
	}
}

// TestWeightParamAtIndexZero: a score rule with no threshold has its
// weight as parameter 0; SetParams must still change what it adds.
func TestWeightParamAtIndexZero(t *testing.T) {
	src := `policy t version "1"
input {
  flagged bool
}
rule flag
  when flagged
  emit score 1 reason "flagged"
decide {
  bias fixed 0
  review when score >= fixed 0.5
  otherwise approve
}
`
	_, p := compileSource(t, src, nil)
	if len(p.Params) != 1 || p.Params[0].Kind != vm.Weight {
		t.Fatalf("want the weight as the only parameter, got %+v", p.Params)
	}
	m := p.NewMachine()
	m.SetParams([]float64{-3})
	d, err := m.Eval(decodeFeats(t, p, "", map[string]any{"flagged": true}))
	if err != nil {
		t.Fatal(err)
	}
	if d.Logit != -3 || len(d.Fired) != 1 || d.Fired[0].Weight != -3 || d.Action != vm.Approve {
		t.Fatalf("logit %v fired %+v action %s, want the trained weight -3", d.Logit, d.Fired, d.Action)
	}
}

// errStore is a window store that cannot be reached.
type errStore struct{ err error }

func (s errStore) Observe(obs []vm.WindowObs, out []float64) error {
	for i := range out {
		out[i] = 7 // the store's fallback
	}
	return s.err
}

// TestWindowStoreErrorDegrades: a store error marks the decision
// degraded (and the fallback values are used); a store that answers does
// not.
func TestWindowStoreErrorDegrades(t *testing.T) {
	src := "policy t version \"1\"\ninput {\n  user string\n}\nwindow c = count() over 1h by user\nrule r when c > 5 emit review reason \"many\"\n"
	_, p := compileSource(t, src, nil)
	for _, fail := range []bool{false, true} {
		m := p.NewMachine()
		var st errStore
		if fail {
			st.err = errors.New("unreachable")
		}
		m.Windows = st
		d, err := m.Eval(decodeFeats(t, p, "", map[string]any{"user": "u"}))
		if err != nil {
			t.Fatal(err)
		}
		if d.Degraded != fail || d.Action != vm.Review {
			t.Errorf("store error %v: degraded %v action %s, want degraded %v and the fallback 7 firing the rule", fail, d.Degraded, d.Action, fail)
		}
	}
}

// TestWindowOnFirstEvent: a window restricted to an event counts that
// event also when it is the first declared (index 0), and no other.
func TestWindowOnFirstEvent(t *testing.T) {
	src := `policy t version "1"
events login, pay
input {
  user string
}
window logins = count() over 1h by user on login
rule r when logins >= 2 emit review reason "second login"
`
	_, p := compileSource(t, src, nil)
	m := p.NewMachine()
	m.Windows = newCountStore(p)
	for i, tc := range []struct {
		event string
		want  vm.Action
	}{{"pay", vm.Approve}, {"login", vm.Approve}, {"pay", vm.Approve}, {"login", vm.Review}} {
		req := decodeFeats(t, p, tc.event, map[string]any{"user": "u"})
		req.Time = 1000 + float64(i)
		d, err := m.Eval(req)
		if err != nil {
			t.Fatal(err)
		}
		if d.Action != tc.want {
			t.Fatalf("event %d (%s): action %s, want %s", i, tc.event, d.Action, tc.want)
		}
	}
}
