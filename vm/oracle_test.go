package vm_test

// Differential test: every rule condition is also translated to an
// expr-lang/expr program, and on many random requests each rule's fired
// flag in the VM must equal expr's boolean.
//
// In the expr environment every number (int, float, time in Unix seconds,
// duration in seconds) is a float64, bools are bools and strings strings,
// so expr's typing cannot drift from the VM's. Where Riskforge's semantics
// differ from expr's (docs/LANGUAGE.md §6 and §8), the translation calls a
// helper registered with expr.Function:
//
//	x / y, x % y    rf_div, rf_mod: 0 when y is 0; % keeps the sign of x and works on floats
//	log(x)          rf_log: x <= 0 gives -744.4400719213812 (ln of the smallest float)
//	exp(x)          rf_exp: capped at the largest float instead of +Inf
//	sqrt(x)         rf_sqrt: x < 0 gives 0
//	min, max        rf_min, rf_max (math.Min/Max, nested for more arguments)
//	clamp(x,lo,hi)  rf_clamp: min(max(x, lo), hi)
//	len(s)          rf_len: Unicode code points
//	hour, weekday   rf_hour, rf_weekday: of Unix seconds in UTC, via package time
//	x between a, b  rf_between: inclusive on both ends
//
// The rest maps onto expr directly: and/or/not (boolean), comparisons,
// `in` on inline sets and on the declared lists (env slices), if → ?:,
// contains/starts_with/ends_with → contains/startsWith/endsWith, lower,
// upper, abs, round, floor, ceil (expr builtins), exists(x) → has_x,
// coalesce(x, v) → (has_x ? x : v). Lets are compiled to their own expr
// programs, evaluated once per request in dependency order and put in the
// env, which is what an expr user would do.
//
// Arithmetic that overflows follows IEEE 754 in both (docs §14.12: ±Inf;
// then NaN from Inf - Inf, 0 * Inf or Inf % y, which compares false).

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	exprvm "github.com/expr-lang/expr/vm"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

const minLog = -744.4400719213812

func f2(p []any) (float64, float64) { return p[0].(float64), p[1].(float64) }

// exprHelpers registers the Riskforge semantics expr does not share.
var exprHelpers = []expr.Option{
	expr.Function("rf_div", func(p ...any) (any, error) {
		x, y := f2(p)
		if y == 0 {
			return 0.0, nil
		}
		return x / y, nil
	}, new(func(float64, float64) float64)),
	expr.Function("rf_mod", func(p ...any) (any, error) {
		x, y := f2(p)
		if y == 0 {
			return 0.0, nil
		}
		return math.Mod(x, y), nil
	}, new(func(float64, float64) float64)),
	expr.Function("rf_log", func(p ...any) (any, error) {
		if x := p[0].(float64); !(x <= 0) {
			return math.Log(x), nil
		}
		return minLog, nil
	}, new(func(float64) float64)),
	expr.Function("rf_exp", func(p ...any) (any, error) {
		return math.Min(math.Exp(p[0].(float64)), math.MaxFloat64), nil
	}, new(func(float64) float64)),
	expr.Function("rf_sqrt", func(p ...any) (any, error) {
		if x := p[0].(float64); x < 0 {
			return 0.0, nil
		}
		return math.Sqrt(p[0].(float64)), nil
	}, new(func(float64) float64)),
	expr.Function("rf_min", func(p ...any) (any, error) {
		return math.Min(f2(p)), nil
	}, new(func(float64, float64) float64)),
	expr.Function("rf_max", func(p ...any) (any, error) {
		return math.Max(f2(p)), nil
	}, new(func(float64, float64) float64)),
	expr.Function("rf_clamp", func(p ...any) (any, error) {
		return math.Min(math.Max(p[0].(float64), p[1].(float64)), p[2].(float64)), nil
	}, new(func(float64, float64, float64) float64)),
	expr.Function("rf_between", func(p ...any) (any, error) {
		x, lo, hi := p[0].(float64), p[1].(float64), p[2].(float64)
		return lo <= x && x <= hi, nil
	}, new(func(float64, float64, float64) bool)),
	expr.Function("rf_len", func(p ...any) (any, error) {
		return float64(utf8.RuneCountInString(p[0].(string))), nil
	}, new(func(string) float64)),
	expr.Function("rf_hour", func(p ...any) (any, error) {
		return float64(unixUTC(p[0].(float64)).Hour()), nil
	}, new(func(float64) float64)),
	expr.Function("rf_weekday", func(p ...any) (any, error) {
		return float64(unixUTC(p[0].(float64)).Weekday()), nil
	}, new(func(float64) float64)),
}

// unixUTC is the UTC time of t Unix seconds (fractions truncated towards
// the past).
func unixUTC(t float64) time.Time {
	if math.IsNaN(t) || math.Abs(t) > 1e17 {
		panic(fmt.Sprintf("time %v outside the generator's range", t))
	}
	return time.Unix(int64(math.Floor(t)), 0).UTC()
}

func timeText(t float64) string { return unixUTC(t).Format(time.RFC3339) }

// exprFloat prints v as an expr float literal.
func exprFloat(v float64) string {
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eIN") {
		s += ".0"
	}
	if v < 0 || (v == 0 && math.Signbit(v)) {
		return "(" + s + ")"
	}
	return s
}

// toExpr translates a checked Riskforge expression to expr source.
func toExpr(e lang.Expr) string {
	switch e := e.(type) {
	case *lang.Paren:
		return toExpr(e.X)
	case *lang.Ident:
		return e.Name
	case *lang.NumberLit:
		return exprFloat(e.Value)
	case *lang.DurationLit:
		return exprFloat(e.Seconds)
	case *lang.StringLit:
		return strconv.Quote(e.Value)
	case *lang.BoolLit:
		return strconv.FormatBool(e.Value)
	case *lang.ListLit:
		items := make([]string, len(e.Items))
		for i, it := range e.Items {
			items[i] = toExpr(it)
		}
		return "[" + strings.Join(items, ", ") + "]"
	case *lang.Unary:
		if e.Op == "not" {
			return "(not " + toExpr(e.X) + ")"
		}
		return "(-" + toExpr(e.X) + ")"
	case *lang.Binary:
		x, y := toExpr(e.X), toExpr(e.Y)
		switch e.Op {
		case "/":
			return "rf_div(" + x + ", " + y + ")"
		case "%":
			return "rf_mod(" + x + ", " + y + ")"
		case "not in":
			return "(not (" + x + " in " + y + "))"
		}
		return "(" + x + " " + e.Op + " " + y + ")"
	case *lang.Between:
		return "rf_between(" + toExpr(e.X) + ", " + toExpr(e.Lo) + ", " + toExpr(e.Hi) + ")"
	case *lang.Call:
		return callToExpr(e)
	}
	panic(fmt.Sprintf("toExpr: unexpected %T", e))
}

var durationDivisors = map[string]float64{"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}

func callToExpr(e *lang.Call) string {
	args := make([]string, len(e.Args))
	for i, a := range e.Args {
		args[i] = toExpr(a)
	}
	switch name := e.Fn.Name; name {
	case "min", "max":
		s := args[0]
		for _, a := range args[1:] {
			s = "rf_" + name + "(" + s + ", " + a + ")"
		}
		return s
	case "abs", "round", "floor", "ceil", "lower", "upper":
		return name + "(" + args[0] + ")"
	case "log", "exp", "sqrt", "clamp", "len", "hour", "weekday":
		return "rf_" + name + "(" + strings.Join(args, ", ") + ")"
	case "contains":
		return "(" + args[0] + " contains " + args[1] + ")"
	case "starts_with":
		return "(" + args[0] + " startsWith " + args[1] + ")"
	case "ends_with":
		return "(" + args[0] + " endsWith " + args[1] + ")"
	case "days", "hours", "minutes", "seconds":
		return "(" + args[0] + " / " + exprFloat(durationDivisors[name]) + ")"
	case "if":
		return "(" + args[0] + " ? " + args[1] + " : " + args[2] + ")"
	case "exists":
		return "has_" + args[0]
	case "coalesce":
		return "(has_" + args[0] + " ? " + args[0] + " : " + args[1] + ")"
	}
	panic("toExpr: unknown function " + e.Fn.Name)
}

// exprPolicy is a generated policy translated to expr programs.
type exprPolicy struct {
	gp       *genPolicy
	letNames []string
	lets     []*exprvm.Program
	rules    []*exprvm.Program
	srcs     []string // expr source of each rule
	on       [][]string
}

// exprEnvTemplate is the env used to type-check the programs.
func exprEnvTemplate(gp *genPolicy) map[string]any {
	env := map[string]any{
		"blocked": genBlocked, "codes": genCodes, "langs": genLangs,
		"has_email": false, "has_bonus": false,
	}
	for _, f := range genFields {
		switch f.typ {
		case vm.TString:
			env[f.name] = ""
		case vm.TBool:
			env[f.name] = false
		default:
			env[f.name] = 0.0
		}
	}
	for name, t := range gp.LetTypes {
		switch t {
		case compiler.String:
			env[name] = ""
		case compiler.Bool:
			env[name] = false
		default:
			env[name] = 0.0
		}
	}
	return env
}

func compileExprPolicy(tb testing.TB, gp *genPolicy) *exprPolicy {
	tb.Helper()
	ep := &exprPolicy{gp: gp}
	opts := append([]expr.Option{expr.Env(exprEnvTemplate(gp))}, exprHelpers...)
	for _, l := range gp.Policy.Lets {
		src := toExpr(l.Decl.Value)
		prog, err := expr.Compile(src, opts...)
		if err != nil {
			tb.Fatalf("expr let %s = %s: %v", l.Sym.Name, src, err)
		}
		ep.letNames = append(ep.letNames, l.Sym.Name)
		ep.lets = append(ep.lets, prog)
	}
	boolOpts := append(opts[:len(opts):len(opts)], expr.AsBool())
	for _, r := range gp.Policy.Rules {
		src := toExpr(r.Decl.When)
		prog, err := expr.Compile(src, boolOpts...)
		if err != nil {
			tb.Fatalf("expr rule %s: %s: %v", r.Name, src, err)
		}
		ep.rules = append(ep.rules, prog)
		ep.srcs = append(ep.srcs, src)
		ep.on = append(ep.on, r.On)
	}
	return ep
}

// env builds the expr environment of r, applying defaults itself.
func (r genRequest) env() map[string]any {
	env := make(map[string]any, len(genFields)+8)
	env["blocked"], env["codes"], env["langs"] = genBlocked, genCodes, genLangs
	for i, f := range genFields {
		v := r.values[i]
		if !v.present && f.def != nil {
			env[f.name] = f.def
			continue
		}
		switch f.typ {
		case vm.TString:
			env[f.name] = v.str
		case vm.TBool:
			env[f.name] = v.num != 0
		default:
			env[f.name] = v.num
		}
	}
	env["has_email"] = r.values[genFieldIndex("email")].present
	env["has_bonus"] = r.values[genFieldIndex("bonus")].present
	return env
}

func genFieldIndex(name string) int {
	for i, f := range genFields {
		if f.name == name {
			return i
		}
	}
	panic("no field " + name)
}

// evalLets computes the lets into env.
func (ep *exprPolicy) evalLets(m *exprvm.VM, env map[string]any) error {
	for i, prog := range ep.lets {
		v, err := m.Run(prog, env)
		if err != nil {
			return fmt.Errorf("let %s: %w", ep.letNames[i], err)
		}
		env[ep.letNames[i]] = v
	}
	return nil
}

func ruleListens(on []string, event string) bool {
	if len(on) == 0 {
		return true
	}
	for _, e := range on {
		if e == event {
			return true
		}
	}
	return false
}

// expectedDecision applies the decide rules of docs/LANGUAGE.md §5 to the
// fired flags: score = sigmoid(bias + fired weights), first matching cut,
// and a forced action from any fired rule overrides the score.
func expectedDecision(pol *compiler.Policy, fired []bool) (vm.Action, float64) {
	logit := 0.0
	if pol.Decide != nil && pol.Decide.Bias != nil {
		logit = pol.Decide.Bias.Value
	}
	forced, anyForced := vm.Approve, false
	for i, r := range pol.Rules {
		if !fired[i] {
			continue
		}
		if r.Forces {
			forced, anyForced = max(forced, r.Action), true
		} else {
			logit += r.Weight.Value
		}
	}
	score := 1 / (1 + math.Exp(-logit))
	action := vm.Approve
	if pol.Decide != nil {
		action = pol.Decide.Otherwise
		for _, c := range pol.Decide.Cuts {
			th := c.Threshold.Value
			if score > th || (c.Inclusive && score == th) {
				action = c.Action
				break
			}
		}
	}
	if anyForced {
		action = forced // a forced action overrides the score; the strongest wins
	}
	return action, score
}

// oracleStats counts what the random requests exercised.
type oracleStats struct {
	requests, viaJSON, evaluations, fired int
}

// runOracle compares the VM and expr on n requests for one policy.
func runOracle(t *testing.T, gp *genPolicy, seed uint64, n int, st *oracleStats) {
	t.Helper()
	ep := compileExprPolicy(t, gp)
	g := newGenerator(seed, genOptions{})
	p := gp.Prog
	m := p.NewMachine()
	req := p.NewRequest()
	var xm exprvm.VM
	fired := make([]bool, len(ep.rules))
	mismatches := 0
	for k := 0; k < n; k++ {
		r := g.request()
		if k%8 == 0 {
			data := r.json()
			if err := api.DecodeJSON(p, data, req); err != nil {
				t.Fatalf("DecodeJSON(%s): %v", data, err)
			}
			st.viaJSON++
		} else {
			r.fill(t, p, req)
		}
		d, err := m.Eval(req)
		if err != nil {
			t.Fatalf("Eval: %v", err)
		}
		env := r.env()
		if err := ep.evalLets(&xm, env); err != nil {
			t.Fatalf("expr: %v\nrequest %s", err, r.json())
		}
		for i, prog := range ep.rules {
			want := false
			if ruleListens(ep.on[i], r.event) {
				v, err := xm.Run(prog, env)
				if err != nil {
					t.Fatalf("expr rule %d: %v\n%s\nrequest %s", i, err, ep.srcs[i], r.json())
				}
				want = v.(bool)
			}
			fired[i] = want
			st.evaluations++
			if want {
				st.fired++
			}
			if got := m.FiredRule(i); got != want {
				mismatches++
				t.Errorf("policy seed %d, request %d, rule r%d: VM fired=%v, expr=%v\nrule:\n%s\nexpr:  %s\nrequest: %s",
					seed, k, i, got, want, ruleSource(gp, i), ep.srcs[i], r.json())
				if mismatches >= 5 {
					t.Fatalf("too many mismatches; policy:\n%s", gp.Src)
				}
			}
		}
		if wantAction, wantScore := expectedDecision(gp.Policy, fired); d.Action != wantAction || d.Score != wantScore {
			t.Fatalf("policy seed %d, request %d: decision %v %v, want %v %v", seed, k, d.Action, d.Score, wantAction, wantScore)
		}
		st.requests++
	}
}

// ruleSource returns the source text of rule i of a generated policy.
func ruleSource(gp *genPolicy, i int) string {
	start := strings.Index(gp.Src, fmt.Sprintf("rule r%d\n", i))
	if start < 0 {
		start = strings.Index(gp.Src, fmt.Sprintf("rule r%d on", i))
	}
	if start < 0 {
		return "?"
	}
	end := strings.Index(gp.Src[start+1:], "\nrule ")
	if end < 0 {
		return gp.Src[start:]
	}
	return gp.Src[start : start+1+end]
}

// TestOracle runs 50 random 24-rule policies on 2000 random requests each
// (100k requests, 1.2M rule evaluations) and compares every rule's fired
// flag with expr, and every decision with the decide rules.
func TestOracle(t *testing.T) {
	const policies, perPolicy = 50, 2000
	var st oracleStats
	for i := uint64(0); i < policies; i++ {
		seed := 1000 + i
		opts := genOptions{Rules: 24, Lets: int(i % 4), Depth: 4, Events: i%2 == 0, Decide: i%5 != 0}
		gp := generatePolicy(t, seed, opts)
		runOracle(t, gp, seed*7919, perPolicy, &st)
		if t.Failed() {
			t.Fatalf("policy seed %d:\n%s", seed, gp.Src)
		}
	}
	if st.requests < 100_000 {
		t.Fatalf("only %d requests", st.requests)
	}
	t.Logf("%d requests (%d via DecodeJSON), %d rule evaluations, %d fired", st.requests, st.viaJSON, st.evaluations, st.fired)
}
