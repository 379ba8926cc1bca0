package vm_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// ---- helpers ----

// compileSource checks and compiles a policy, failing on any error.
// Files are served from files (list and model paths).
func compileSource(tb testing.TB, src string, files map[string]string) (*compiler.Policy, *vm.Program) {
	tb.Helper()
	pol, errs := compiler.CheckSource("test.risk", []byte(src), compiler.Options{})
	if err := errs.Err(); err != nil {
		tb.Fatalf("check: %v\n%s", err, src)
	}
	prog, _, err := compiler.Compile(pol, compiler.CompileOptions{ReadFile: func(path string) ([]byte, error) {
		for name, data := range files {
			if strings.HasSuffix(path, name) {
				return []byte(data), nil
			}
		}
		return nil, errors.New("no file " + path)
	}})
	if err != nil {
		tb.Fatalf("compile: %v\n%s", err, src)
	}
	return pol, prog
}

// decode builds a request from an event and features given as Go values.
func decodeFeats(tb testing.TB, p *vm.Program, event string, feats map[string]any) *vm.Request {
	tb.Helper()
	data, err := json.Marshal(map[string]any{"event": event, "features": feats})
	if err != nil {
		tb.Fatal(err)
	}
	req := p.NewRequest()
	if err := api.DecodeJSON(p, data, req); err != nil {
		tb.Fatalf("DecodeJSON(%s): %v", data, err)
	}
	return req
}

// opcodesOf returns the set of opcodes in p's code.
func opcodesOf(p *vm.Program) map[vm.Opcode]bool {
	ops := map[vm.Opcode]bool{}
	for _, in := range p.Code {
		ops[in.Op] = true
	}
	return ops
}

// allOpcodes lists every opcode the VM defines, by probing String.
func allOpcodes() []vm.Opcode {
	var ops []vm.Opcode
	for i := 0; i < 256 && vm.Opcode(i).String() != "illegal"; i++ {
		ops = append(ops, vm.Opcode(i))
	}
	return ops
}

// ---- function and operator table ----

// fnSchema is the input block of the function table's policies.
const fnSchema = `policy fn version "1"
input {
  x float
  y float
  z float
  i int
  j int
  s string
  u string
  b bool
  ts time
  t0 time
  e string optional
  n float optional
}
list markets = ["DE", "FR", "NL"]
list codes = [1, 2, 3.5]
list blocked = file "blocked.txt"
let twice = x * 2
let low = lower(s)
lookup rec = redis "rec:{s}" {
  fields  [v float]
  ttl     1m
  timeout 1s
}
`

var fnFiles = map[string]string{"blocked.txt": "# comment\ndev-1\n  Straße  \n\n"}

// fnCase is one request and the conditions that must be true (want) and
// false (dont) for it. Conditions read inputs, so the compiler cannot
// fold them away and the VM's own opcodes compute every result.
type fnCase struct {
	name  string
	feats map[string]any
	want  []string
	dont  []string
}

var fnBase = map[string]any{
	"x": 7, "y": 0, "z": 0, "i": 7, "j": 0, "s": "Straße", "u": "ße", "b": true,
	"ts": "2026-11-25T13:45:00Z", "t0": "2026-11-24T01:45:00Z",
}

func fnFeats(over map[string]any) map[string]any {
	m := map[string]any{}
	for k, v := range fnBase {
		m[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

var fnCases = []fnCase{
	{name: "arithmetic", feats: fnFeats(nil),
		want: []string{
			"x + i == 14", "x - 10 == -3", "x * 2 == 14", "x / 2 == 3.5", "i % 3 == 1", "-i % 3 == -1",
			"i % j == 0", "x % y == 0", "x / y == 0", "i / j == 0", "-x == -7", "twice == 14", "-(x - 10) == 3",
		},
		dont: []string{"x / y != 0", "i % j != 0"},
	},
	{name: "float modulo", feats: fnFeats(map[string]any{"x": 7.5, "y": 2, "z": -7.5}),
		want: []string{"x % y == 1.5", "z % y == -1.5", "x % -y == 1.5"},
	},
	{name: "comparisons", feats: fnFeats(nil),
		want: []string{"x < 8", "x <= 7", "x > 6", "x >= 7", "x == 7", "x != 6", "7 <= x", "x == i", "x > fixed 6", "b == true", "b != false"},
		dont: []string{"x < 7", "x <= 6.5", "x > 7", "x >= 7.5", "x == 6", "x != 7", "x < fixed 7", "b == false"},
	},
	{name: "log exp sqrt", feats: fnFeats(map[string]any{"x": 0, "y": -1, "z": 1000}),
		want: []string{
			"log(x) == -744.4400719213812", "log(y) == -744.4400719213812", "log(1 + x) == 0",
			"log(z) > 6.9077 and log(z) < 6.9078", "exp(x) == 1", "exp(z) == 1.7976931348623157e308",
			"exp(z) - exp(z) == 0", "exp(-z) == 0", "sqrt(y) == 0", "sqrt(9 + x) == 3", "sqrt(x) == 0",
		},
		dont: []string{"log(x) < -745", "exp(z) > 1.7976931348623157e308"},
	},
	{name: "rounding", feats: fnFeats(map[string]any{"x": 2.5, "y": -2.5, "z": -1.5, "i": -7}),
		want: []string{
			"round(x) == 3", "round(y) == -3", "round(z) == -2", "floor(z) == -2", "floor(x) == 2",
			"ceil(z) == -1", "ceil(x) == 3", "abs(y) == 2.5", "abs(i) == 7", "abs(x) == 2.5",
		},
	},
	{name: "min max clamp", feats: fnFeats(map[string]any{"x": 3, "y": -1, "z": 10, "i": 4, "j": -4}),
		want: []string{
			"min(x, y, z) == -1", "max(x, y, z) == 10", "min(x, y) == -1", "max(x, y) == 3", "min(i, j) == -4",
			"max(i, j, x, y, z) == 10", "clamp(z, 0, 5) == 5", "clamp(y, 0, 5) == 0", "clamp(x, 0, 5) == 3",
			"clamp(x, 5, 0) == 0", "clamp(x, y, i) == 3",
		},
	},
	{name: "strings", feats: fnFeats(nil),
		want: []string{
			`lower(s) == "straße"`, `upper(s) == "STRAßE"`, `low == "straße"`, `len(s) == 6`, `len(u) == 2`,
			`len(lower(u)) == 2`, `contains(s, u)`, `contains(s, "")`, `starts_with(s, "Str")`, `starts_with(s, "")`,
			`ends_with(s, u)`, `ends_with(s, "")`, `s == "Straße"`, `s != u`, `lower(u) == u`, `upper(u) == "ßE"`,
		},
		dont: []string{`starts_with(s, "str")`, `contains(s, "SS")`, `ends_with(u, s)`, `s == u`, `s != "Straße"`},
	},
	{name: "empty string", feats: fnFeats(map[string]any{"s": "", "u": ""}),
		want: []string{`len(s) == 0`, `contains(s, u)`, `starts_with(s, u)`, `ends_with(s, u)`, `s == u`, `lower(s) == ""`},
	},
	{name: "time", feats: fnFeats(nil),
		want: []string{
			"hour(ts) == 13", "weekday(ts) == 3", "hour(t0) == 1", "weekday(t0) == 2",
			"hour(ts + 11h) == 0", "weekday(ts + 11h) == 4", "hour(ts - 14h) == 23",
			"days(ts - t0) == 1.5", "hours(ts - t0) == 36", "minutes(ts - t0) == 2160", "seconds(ts - t0) == 129600",
			"seconds(500ms + ts - ts) == 0.5", "ts - t0 > 1d", "ts - t0 between 1d and 36h", "ts > t0",
			"ts between t0 and ts", "(ts - t0) / 2 == 18h", "(ts - t0) / 12h == 3", "2 * (ts - t0) == 3d", "-(ts - t0) < 0s",
		},
		dont: []string{"ts - t0 between 1d and 35h", "ts < t0"},
	},
	{name: "time before 1970", feats: fnFeats(map[string]any{"ts": -1, "t0": 0}),
		want: []string{"hour(ts) == 23", "weekday(ts) == 3", "hour(t0) == 0", "weekday(t0) == 4", "hour(ts - 1d) == 23", "weekday(ts - 1d) == 2"},
	},
	{name: "fractional and far times", feats: fnFeats(map[string]any{"ts": 3599.75, "t0": 1e12}),
		want: []string{"hour(ts) == 0", "hour(ts + 250ms) == 1", "weekday(t0) == 5", "hour(t0) == 1"},
	},
	{name: "between", feats: fnFeats(map[string]any{"x": 1, "y": 5, "z": 5.0001}),
		want: []string{"x between 1 and 5", "y between 1 and 5", "x between x and y", "y between 5 and 5", "not (z between 1 and 5)"},
		dont: []string{"z between 1 and 5", "x between y and z", "x between 5 and 1", "x between fixed 2 and fixed 3"},
	},
	{name: "in", feats: fnFeats(map[string]any{"s": "DE", "u": "Straße", "i": 3, "x": 3.5}),
		want: []string{
			`s in ["DE", "FR"]`, `s not in ["de"]`, "i in [1, 2, 3]", "i in [3.0]", "x in codes", "i not in codes",
			"s in markets", `lower(s) not in markets`, "u in blocked", "s not in blocked", `x not in [3, 4]`,
		},
		dont: []string{`s not in ["DE"]`, "i in [1, 2]", "x not in codes", "u not in blocked", `u in ["straße"]`},
	},
	{name: "optional absent", feats: fnFeats(nil),
		want: []string{
			"not exists(e)", "not exists(n)", `coalesce(e, "none") == "none"`, "coalesce(n, 1.5) == 1.5",
			"if(exists(e), len(e), 0) == 0", "not exists(e) or len(e) > 100", `if(not exists(n), 1, n) == 1`,
		},
		dont: []string{"exists(e)", "exists(n) and n > 0", `exists(e) and e == ""`},
	},
	{name: "optional present", feats: fnFeats(map[string]any{"e": "a@b.c", "n": 2}),
		want: []string{
			"exists(e)", "exists(n)", `coalesce(e, "none") == "a@b.c"`, "coalesce(n, 1.5) == 2", `exists(e) and ends_with(e, ".c")`,
			"not exists(n) or n > 1", "if(exists(e), len(e), 0) == 5", "if(not exists(n), 1, n) == 2",
		},
	},
	// riskd sets failed(LOOKUP) from the fetch; here the request does.
	{name: "lookup failed", feats: fnFeats(map[string]any{"failed(rec)": true}),
		want: []string{"failed(rec)", "failed(rec) and not exists(rec.v)", "if(failed(rec), 1, 0) == 1"},
		dont: []string{"not failed(rec)", "failed(rec) == false"},
	},
	{name: "lookup answered", feats: fnFeats(map[string]any{"rec.v": 2}),
		want: []string{"not failed(rec)", "exists(rec.v) and rec.v == 2"},
		dont: []string{"failed(rec)", "failed(rec) or not exists(rec.v)"},
	},
	{name: "logic and if", feats: fnFeats(map[string]any{"b": false}),
		want: []string{
			"not b", "b or x > 6", "x > 6 or b", "not (b and x > 6)", "not b and x > 6", "if(b, x, y) == 0", "if(not b, x, y) == 7",
			`if(b, s, u) == u`, "if(x > 6, true, b)", "(b or x > 6) and (x > 6 or b)", "b == false",
		},
		dont: []string{"b", "b and x > 6", "x > 6 and b", "b or x > 7", "if(x > 6, b, true)"},
	},
}

// fnProgram compiles one case: one rule per condition, want rules first.
func fnProgram(tb testing.TB, c fnCase) (*compiler.Policy, *vm.Program) {
	var b strings.Builder
	b.WriteString(fnSchema)
	for i, cond := range append(append([]string{}, c.want...), c.dont...) {
		fmt.Fprintf(&b, "rule c%d\n  when %s\n  emit review reason %q\n", i, cond, cond)
	}
	return compileSource(tb, b.String(), fnFiles)
}

// TestFunctions checks the result of every function and operator on
// chosen values, including every documented edge case.
func TestFunctions(t *testing.T) {
	called := map[string]bool{}
	for _, c := range fnCases {
		t.Run(c.name, func(t *testing.T) {
			pol, p := fnProgram(t, c)
			for _, r := range pol.Rules {
				lang.Inspect(r.Decl.When, func(n lang.Node) bool {
					if call, ok := n.(*lang.Call); ok {
						called[call.Fn.Name] = true
					}
					return true
				})
			}
			for _, l := range pol.Lets {
				lang.Inspect(l.Decl.Value, func(n lang.Node) bool {
					if call, ok := n.(*lang.Call); ok {
						called[call.Fn.Name] = true
					}
					return true
				})
			}
			req := decodeFeats(t, p, "", c.feats)
			m := p.NewMachine()
			if _, err := m.Eval(req); err != nil {
				t.Fatal(err)
			}
			for i, cond := range c.want {
				if !m.FiredRule(i) {
					t.Errorf("%s: false, want true", cond)
				}
			}
			for i, cond := range c.dont {
				if m.FiredRule(len(c.want) + i) {
					t.Errorf("%s: true, want false", cond)
				}
			}
		})
	}
	for _, fn := range compiler.FunctionNames() {
		if !called[fn] {
			t.Errorf("function %s is not exercised by the table", fn)
		}
	}
}

// ---- windows and models ----

// countStore is a WindowStore: count windows count observations per key,
// sum windows add v, count_distinct counts distinct strings. It records
// the last event time it saw.
type countStore struct {
	prog  *vm.Program
	vals  map[[2]any]float64
	seen  map[[3]any]bool
	lastT float64
}

func newCountStore(p *vm.Program) *countStore {
	return &countStore{prog: p, vals: map[[2]any]float64{}, seen: map[[3]any]bool{}}
}

func (c *countStore) Observe(obs []vm.WindowObs, out []float64) error {
	for w, o := range obs {
		out[w] = c.observe(w, o.Key, o.T, o.V, o.S, o.Add)
	}
	return nil
}

func (c *countStore) observe(w int, key vm.WindowKey, t, v float64, s string, add bool) float64 {
	c.lastT = t
	k := [2]any{w, key}
	if !add {
		return c.vals[k]
	}
	switch c.prog.Windows[w].Agg {
	case "count":
		c.vals[k]++
	case "count_distinct":
		if !c.seen[[3]any{w, key, s}] {
			c.seen[[3]any{w, key, s}] = true
			c.vals[k]++
		}
	default:
		c.vals[k] += v
	}
	return c.vals[k]
}

const windowPolicy = `policy win version "1"
input {
  user string
  dev string
  n int
  amount float
  ts time
}
window c = count() over 1h by user
window total = sum(amount) over 1d by user
window devs = count_distinct(dev) over 7d by user
window by_n = count() over 1h by n
rule one when c == 1 emit review reason "first"
rule two when c == 2 and total == 30 and devs == 2 and by_n == 2 emit review reason "second"
rule zero when c == 0 and total == 0 and devs == 0 emit review reason "no store"
`

func TestWindows(t *testing.T) {
	_, p := compileSource(t, windowPolicy, nil)
	ops := opcodesOf(p)
	if !ops[vm.OBSERVE] || !ops[vm.OBSERVES] {
		t.Fatalf("window policy lacks observe/observes")
	}
	m := p.NewMachine()
	store := newCountStore(p)
	m.Windows = store
	feats := map[string]any{"user": "u1", "dev": "d1", "n": 5, "amount": 10, "ts": "2026-11-25T13:45:00Z"}
	if _, err := m.Eval(decodeFeats(t, p, "", feats)); err != nil {
		t.Fatal(err)
	}
	if !m.FiredRule(0) || m.FiredRule(1) || m.FiredRule(2) {
		t.Errorf("first event: fired %v %v %v, want true false false", m.FiredRule(0), m.FiredRule(1), m.FiredRule(2))
	}
	if store.lastT != 1795614300 {
		t.Errorf("window time %v, want the ts input 1795614300", store.lastT)
	}
	feats["dev"], feats["amount"] = "d2", 20
	if _, err := m.Eval(decodeFeats(t, p, "", feats)); err != nil {
		t.Fatal(err)
	}
	if m.FiredRule(0) || !m.FiredRule(1) {
		t.Errorf("second event: fired %v %v, want false true", m.FiredRule(0), m.FiredRule(1))
	}
	// Without a store every window reads 0.
	m2 := p.NewMachine()
	if _, err := m2.Eval(decodeFeats(t, p, "", feats)); err != nil {
		t.Fatal(err)
	}
	if !m2.FiredRule(2) {
		t.Errorf("windows without a store should read 0")
	}
}

// fakeModel returns a fixed output and records its calls.
type fakeModel struct {
	out   float64
	err   error
	calls int
	feats []float32
}

func (f *fakeModel) Predict(model int, features []float32) (float64, error) {
	f.calls++
	f.feats = append(f.feats[:0], features...)
	return f.out, f.err
}

const modelPolicy = `policy mod version "1"
input {
  x float
  y int
  go bool
}
let xy = x + y
model fraud = onnx "fraud.onnx" {
  inputs [x, y, xy]
  output "probability" [1]
  on_error 0.25
}
rule high when go and fraud > 0.5 emit reject reason "high"
rule low when go and fraud < 0.3 and fraud > 0.2 emit review reason "fallback"
`

func TestModels(t *testing.T) {
	_, p := compileSource(t, modelPolicy, map[string]string{"fraud.onnx": "model bytes"})
	if !opcodesOf(p)[vm.MODEL] {
		t.Fatal("model policy lacks the model opcode")
	}
	feats := map[string]any{"x": 1.5, "y": 2, "go": true}
	m := p.NewMachine()

	// No runner: on_error is used and the decision is degraded.
	d, err := m.Eval(decodeFeats(t, p, "", feats))
	if err != nil {
		t.Fatal(err)
	}
	if m.FiredRule(0) || !m.FiredRule(1) || !d.Degraded || d.Models[0].Value != 0.25 || !d.Models[0].Degraded || !d.Models[0].Ran {
		t.Errorf("no runner: fired %v %v, decision %+v", m.FiredRule(0), m.FiredRule(1), d)
	}

	// A runner is called once per request with the features in order.
	fm := &fakeModel{out: 0.9}
	m.Models = fm
	d, err = m.Eval(decodeFeats(t, p, "", feats))
	if err != nil {
		t.Fatal(err)
	}
	if !m.FiredRule(0) || m.FiredRule(1) || d.Degraded || d.Models[0].Value != 0.9 || d.Action != vm.Reject {
		t.Errorf("runner: fired %v %v, decision %+v", m.FiredRule(0), m.FiredRule(1), d)
	}
	if fm.calls != 1 || fmt.Sprint(fm.feats) != "[1.5 2 3.5]" {
		t.Errorf("runner called %d times with %v, want once with [1.5 2 3.5]", fm.calls, fm.feats)
	}

	// A failing or NaN model falls back to on_error.
	for _, bad := range []*fakeModel{{err: errors.New("timeout")}, {out: math.NaN()}} {
		m.Models = bad
		d, err = m.Eval(decodeFeats(t, p, "", feats))
		if err != nil {
			t.Fatal(err)
		}
		if !m.FiredRule(1) || !d.Degraded || d.Models[0].Value != 0.25 {
			t.Errorf("failing model: decision %+v", d)
		}
	}

	// A model no evaluated rule needs is not run.
	fm = &fakeModel{out: 0.9}
	m.Models = fm
	feats["go"] = false
	d, err = m.Eval(decodeFeats(t, p, "", feats))
	if err != nil {
		t.Fatal(err)
	}
	if fm.calls != 0 || d.Models[0].Ran || d.Degraded {
		t.Errorf("unneeded model ran: calls %d, %+v", fm.calls, d.Models[0])
	}
}

// ---- opcode coverage ----

// nopProgram is a hand-built program: the compiler never emits NOP.
func nopProgram(t *testing.T) *vm.Program {
	p := &vm.Program{
		Name: "nop", TimeSlot: -1, NumConsts: []float64{1},
		Rules:  []vm.Rule{{Name: "r", Reason: "after a nop", WeightParam: -1, Weight: 2, End: 4}},
		Decide: vm.Decide{BiasParam: -1, Otherwise: vm.Approve},
		Code: []vm.Instr{
			{Op: vm.RULE, A: 0}, {Op: vm.NOP}, {Op: vm.PUSHK, A: 0}, {Op: vm.FIRE, A: 0}, {Op: vm.HALT},
		},
		Lines: make([]int32, 5),
	}
	if err := p.Prepare(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNOP(t *testing.T) {
	p := nopProgram(t)
	m := p.NewMachine()
	d, err := m.Eval(p.NewRequest())
	if err != nil {
		t.Fatal(err)
	}
	if !m.FiredRule(0) || d.Logit != 2 {
		t.Errorf("nop program: fired %v logit %v", m.FiredRule(0), d.Logit)
	}
}

// TestOpcodeCoverage checks that every opcode appears in at least one
// compiled test policy whose results are checked (TestFunctions,
// TestWindows, TestModels, TestEvents); NOP, which the compiler never
// emits, runs in the hand-built program of TestNOP.
func TestOpcodeCoverage(t *testing.T) {
	where := map[vm.Opcode]string{}
	note := func(name string, p *vm.Program) {
		for op := range opcodesOf(p) {
			if _, ok := where[op]; !ok {
				where[op] = name
			}
		}
	}
	for _, c := range fnCases {
		_, p := fnProgram(t, c)
		note("TestFunctions/"+c.name, p)
	}
	_, p := compileSource(t, windowPolicy, nil)
	note("TestWindows", p)
	_, p = compileSource(t, modelPolicy, nil)
	note("TestModels", p)
	_, p = compileSource(t, eventsPolicy, nil)
	note("TestEvents", p)
	note("TestNOP", nopProgram(t))
	ops := allOpcodes()
	if len(ops) < 50 {
		t.Fatalf("only %d opcodes found", len(ops))
	}
	for _, op := range ops {
		t.Run(op.String(), func(t *testing.T) {
			if where[op] == "" {
				t.Errorf("opcode %s is in no test policy", op)
			}
		})
	}
}

// ---- events, params, decisions ----

const eventsPolicy = `policy ev version "1"
events pay, refund
input {
  amount float
}
rule big_pay on pay when amount > 100 emit score 3 reason "big payment"
rule big_refund on refund when amount > 100 emit review reason "big refund"
rule any when amount > 1000 emit score fixed 1 reason "huge"
decide {
  bias -1
  reject when score >= 0.9
  review when score > 0.5
  otherwise approve
}
`

func TestEvents(t *testing.T) {
	_, p := compileSource(t, eventsPolicy, nil)
	m := p.NewMachine()
	for _, tc := range []struct {
		event  string
		amount float64
		fired  [3]bool
		action vm.Action
		logit  float64
	}{
		{"pay", 150, [3]bool{true, false, false}, vm.Review, 2},
		{"refund", 150, [3]bool{false, true, false}, vm.Review, -1},
		{"pay", 5000, [3]bool{true, false, true}, vm.Reject, 3},
		{"refund", 5000, [3]bool{false, true, true}, vm.Review, 0}, // forced review overrides the score
		{"pay", 10, [3]bool{}, vm.Approve, -1},
	} {
		d, err := m.Eval(decodeFeats(t, p, tc.event, map[string]any{"amount": tc.amount}))
		if err != nil {
			t.Fatal(err)
		}
		got := [3]bool{m.FiredRule(0), m.FiredRule(1), m.FiredRule(2)}
		if got != tc.fired || d.Action != tc.action || d.Logit != tc.logit {
			t.Errorf("%s %v: fired %v action %v logit %v; want %v %v %v", tc.event, tc.amount, got, d.Action, d.Logit, tc.fired, tc.action, tc.logit)
		}
		if len(d.Fired) != countTrue(tc.fired[:]) {
			t.Errorf("%s %v: %d fired entries", tc.event, tc.amount, len(d.Fired))
		}
	}
	req := p.NewRequest()
	req.Event = "chargeback"
	if _, err := m.Eval(req); !errors.Is(err, vm.ErrUnknownEvent) {
		t.Errorf("unknown event: err %v, want ErrUnknownEvent", err)
	}
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func TestSetParams(t *testing.T) {
	_, p := compileSource(t, eventsPolicy, nil)
	i := p.ParamIndex("big_pay.amount")
	if i < 0 {
		t.Fatalf("no parameter big_pay.amount in %v", p.Params)
	}
	req := decodeFeats(t, p, "pay", map[string]any{"amount": 150})
	m := p.NewMachine()
	vals := p.ParamValues()
	vals[i] = 200
	m.SetParams(vals)
	if _, err := m.Eval(req); err != nil {
		t.Fatal(err)
	}
	if m.FiredRule(0) {
		t.Error("rule fired with its threshold raised to 200")
	}
	// A released machine gets the program's own values back.
	pm := p.Machine()
	pm.SetParams(vals)
	pm.Release()
	for k := 0; k < 4; k++ {
		pm = p.Machine()
		if _, err := pm.Eval(req); err != nil {
			t.Fatal(err)
		}
		if !pm.FiredRule(0) {
			t.Error("pooled machine kept tuned parameters after Release")
		}
		pm.Release()
	}
}

func TestTrace(t *testing.T) {
	_, p := compileSource(t, eventsPolicy, nil)
	m := p.NewMachine()
	m.Trace = true
	d, err := m.Eval(decodeFeats(t, p, "pay", map[string]any{"amount": 150}))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Trace) == 0 || d.Trace[0].Instr.Op != vm.RULE {
		t.Fatalf("trace %+v", d.Trace)
	}
	for _, s := range d.Trace {
		if s.Line <= 0 || p.Code[s.PC] != s.Instr {
			t.Errorf("bad trace step %+v", s)
		}
	}
}

// ---- allocations and concurrency ----

// realisticPolicy is a card-fraud policy in the style of
// examples/payments, with windows, lets, lists and optional inputs. It
// leaves out lower and upper: they return a new string (a heap
// allocation) whenever they change their argument, so a policy using them
// allocates on requests with upper-case (resp. lower-case) text.
const realisticPolicy = `policy card version "1"
events card_auth, card_refund
input {
  card_id       string
  device_id     string
  merchant_name string
  mcc           int between 0 and 9999
  channel       string
  amount        float >= 0
  card_country  string
  merchant_country string
  ip_country    string optional
  three_ds      bool default false
  card_issued   time
  device_first_seen time optional
  utc_offset_min int default 0 between -720 and 840
  ts            time
}
list blocked_cards = file "blocked.txt"
list high_risk_mcc = [4829, 6051, 6540, 7995, 5967]
window card_auths_1h = count() over 1h by card_id
window card_spend_24h = sum(amount) over 24h by card_id
window cards_on_device = count_distinct(card_id) over 1d by device_id
let local_ts = ts + 1m * utc_offset_min
let amount_ratio = amount / max(card_spend_24h / max(card_auths_1h, 1), 1)
let card_not_present = channel in ["ecom", "moto"]
rule blocked_card when card_id in blocked_cards emit reject reason "blocked card"
rule device_farm on card_auth when cards_on_device >= 4 emit reject reason "card farm"
rule velocity on card_auth when card_auths_1h > fixed 15 emit review reason "velocity"
rule refund_new on card_refund when ts - card_issued < 3d emit review reason "refund to new card"
rule unusual on card_auth when amount_ratio > 5 and amount > 150 emit score 1.3 reason "unusual amount"
rule ip_mismatch when exists(ip_country) and ip_country != card_country emit score 0.8 reason "ip country"
rule cross_border on card_auth when card_not_present and merchant_country != card_country emit score 0.4 reason "cross border"
rule risky_mcc on card_auth when mcc in high_risk_mcc emit score 0.9 reason "risky mcc"
rule crypto on card_auth when mcc != 6051 and (contains(merchant_name, "crypto") or starts_with(merchant_name, "BTC")) emit score 0.6 reason "crypto"
rule new_device on card_auth when channel == "ecom" and (not exists(device_first_seen) or ts - device_first_seen < 24h) emit score 0.7 reason "new device"
rule night on card_auth when hour(local_ts) between fixed 1 and fixed 5 and amount > 300 emit score 0.5 reason "night"
rule weekend on card_auth when weekday(local_ts) in [0, 6] and mcc in [4829, 6051] emit score 0.4 reason "weekend cash-out"
rule no_3ds on card_auth when channel == "ecom" and not three_ds and amount > 500 emit score 0.7 reason "no 3ds"
rule domestic on card_auth when three_ds and merchant_country == card_country emit score -0.7 reason "domestic 3ds"
rule big_log when log(amount) > 8 and sqrt(amount) < 1000 and len(merchant_name) > 3 emit score 0.2 reason "big"
decide {
  bias -3.5
  reject when score >= 0.9
  review when score >= 0.6
  otherwise approve
}
`

var realisticFiles = map[string]string{"blocked.txt": "tok-666\ntok-13\n"}

// realisticRequests returns varied requests for realisticPolicy.
func realisticRequests(tb testing.TB, p *vm.Program, n int) []*vm.Request {
	out := make([]*vm.Request, n)
	for i := range out {
		feats := map[string]any{
			"card_id": fmt.Sprintf("tok-%d", i%17), "device_id": fmt.Sprintf("dev-%d", i%5),
			"merchant_name": []string{"BTC world", "crypto shop", "bakery", "Straße 5"}[i%4],
			"mcc":           []int{4829, 6051, 5411, 7995}[i%4], "channel": []string{"ecom", "pos", "moto"}[i%3],
			"amount": float64(i%50) * 37.5, "card_country": "DE", "merchant_country": []string{"DE", "FR"}[i%2],
			"card_issued": 1795614300 - float64(i%9)*86400, "ts": 1795614300 + float64(i)*3607,
		}
		if i%3 == 0 {
			feats["ip_country"] = "NL"
		}
		if i%4 == 1 {
			feats["device_first_seen"] = 1795614300 - float64(i%3)*50000
		}
		if i%2 == 0 {
			feats["three_ds"] = i%4 == 0
			feats["utc_offset_min"] = 60 * (i%25 - 12)
		}
		event := []string{"card_auth", "card_refund"}[min(i%7, 1)]
		out[i] = decodeFeats(tb, p, event, feats)
	}
	return out
}

// zeroAllocStore is a WindowStore that allocates nothing once its keys
// exist: it returns a per-key counter.
type zeroAllocStore struct {
	mu sync.Mutex
	n  map[vm.WindowKey]float64
}

func (z *zeroAllocStore) Observe(obs []vm.WindowObs, out []float64) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	for i, o := range obs {
		if o.Add {
			z.n[o.Key] += 1 + o.V
		}
		out[i] = z.n[o.Key]
	}
	return nil
}

// TestZeroAllocs checks that evaluation allocates nothing after warm-up,
// with a dedicated machine and with pooled ones (Machine/Release).
func TestZeroAllocs(t *testing.T) {
	_, real := compileSource(t, realisticPolicy, realisticFiles)
	gen := generatePolicy(t, benchSeed, benchPolicyOptions)
	genReqs := benchRequests(64)
	for _, tc := range []struct {
		name string
		prog *vm.Program
		reqs []*vm.Request
	}{
		{"realistic", real, realisticRequests(t, real, 64)},
		{"generated", gen.Prog, func() []*vm.Request {
			out := make([]*vm.Request, len(genReqs))
			for i, r := range genReqs {
				out[i] = gen.Prog.NewRequest()
				r.fill(t, gen.Prog, out[i])
			}
			return out
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &zeroAllocStore{n: map[vm.WindowKey]float64{}}
			m := tc.prog.NewMachine()
			m.Windows = store
			k := 0
			eval := func() {
				if _, err := m.Eval(tc.reqs[k%len(tc.reqs)]); err != nil {
					t.Fatal(err)
				}
				k++
			}
			for range tc.reqs { // warm-up: window keys exist afterwards
				eval()
			}
			if a := testing.AllocsPerRun(1000, eval); a != 0 {
				t.Errorf("Eval: %v allocations per run, want 0", a)
			}
			pooled := func() {
				pm := tc.prog.Machine()
				pm.Windows = store
				if _, err := pm.Eval(tc.reqs[k%len(tc.reqs)]); err != nil {
					t.Fatal(err)
				}
				pm.Release()
				k++
			}
			pooled()
			if raceEnabled() {
				return // under -race sync.Pool drops machines on purpose
			}
			if a := testing.AllocsPerRun(1000, pooled); a != 0 {
				t.Errorf("Machine+Eval+Release: %v allocations per run, want 0", a)
			}
		})
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// firedOf summarises a decision for comparison.
func firedOf(m *vm.Machine, d *vm.Decision) string {
	var b strings.Builder
	for i := range m.Program().Rules {
		if m.FiredRule(i) {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	fmt.Fprintf(&b, " %v %v %d", d.Action, d.Score, len(d.Fired))
	return b.String()
}

// TestConcurrentEval evaluates one program from 8 goroutines, half with
// their own machines and half with pooled ones, and compares every result
// with a sequential run. Run it with -race to check for data races.
func TestConcurrentEval(t *testing.T) {
	gp := generatePolicy(t, 77, genOptions{Rules: 40, Lets: 3, Depth: 4, Events: true, Decide: true})
	p := gp.Prog
	g := newGenerator(78, genOptions{})
	reqs := make([]*vm.Request, 500)
	want := make([]string, len(reqs))
	seq := p.NewMachine()
	for i := range reqs {
		reqs[i] = p.NewRequest()
		g.request().fill(t, p, reqs[i])
		d, err := seq.Eval(reqs[i])
		if err != nil {
			t.Fatal(err)
		}
		want[i] = firedOf(seq, d)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			own := p.NewMachine()
			for rep := 0; rep < 3; rep++ {
				for k := range reqs {
					i := (k*7 + w*31) % len(reqs)
					m := own
					if w%2 == 1 {
						m = p.Machine()
					}
					d, err := m.Eval(reqs[i])
					if err != nil {
						errs <- err.Error()
						return
					}
					if got := firedOf(m, d); got != want[i] {
						errs <- fmt.Sprintf("goroutine %d, request %d: %s, want %s", w, i, got, want[i])
						return
					}
					if m != own {
						m.Release()
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
