package compiler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/lang"
)

// checkRule checks the prelude plus one review rule with condition when.
func checkRule(t *testing.T, when string) lang.ErrorList {
	t.Helper()
	src := prelude + "rule r\n  when " + when + "\n  emit review reason \"x\"\n"
	_, diags := CheckSource("t.risk", []byte(src), Options{})
	return diags
}

// TestConstantConditions pins the always-fires / never-fires warnings,
// including and/or chains whose operands are all constant and the
// short-circuit cases where one constant operand decides alone.
func TestConstantConditions(t *testing.T) {
	const always, never = "always fires", "can never fire"
	cases := []struct{ when, want string }{
		{`1 < 2 and 2 < 3`, always},
		{`1 < 2 and 3 < 2`, never},
		{`1 > 2 and 3 < 2`, never},
		{`1 > 2 or 3 < 2`, never},
		{`1 > 2 or 2 < 3`, always},
		{`1 < 2 or 2 < 3`, always},
		{`amount > 1 and 1 > 2`, never},
		{`1 > 2 and amount > 1`, never},
		{`amount > 1 or 1 < 2`, always},
		{`1 < 2 or amount > 1`, always},
		{`amount > 1 and 1 < 2`, ""},
		{`amount > 1 or 1 > 2`, ""},
		{`amount > 1 and count > 1`, ""},
		{`not (1 < 2)`, never},
		{`not (1 > 2)`, always},
		{`(1 < 2)`, always},
		{`1 <= 1`, always},
		{`2 <= 1`, never},
		{`1 >= 1`, always},
		{`1 >= 2`, never},
		{`1 > 1`, never},
		{`1 < 1`, never},
		{`1 == 1`, always},
		{`1 == 2`, never},
		{`1 != 2`, always},
		{`1 != 1`, never},
		{`1 + 1 == 2`, always},
		{`1 + 2 == 2`, never},
		{`3 - 1 == 2`, always},
		{`3 - 2 == 2`, never},
		{`2 * 3 == 6`, always},
		{`2 * 3 == 5`, never},
		{`-1 < 0`, always},
		{`-1 > 0`, never},
		{`-(1) < 0`, always},
		{`-(1) > 0`, never},
		{`-(-(1)) > 0`, always},
		{`"a" == "a"`, always},
		{`"a" == "b"`, never},
		{`"a" != "b"`, always},
		{`"a" != "a"`, never},
		{`true == true`, always},
		{`true == false`, never},
		{`true != false`, always},
		{`true != true`, never},
		{`"a" in ["a", "b"]`, always},
		{`"c" in ["a", "b"]`, never},
		{`"c" not in ["a", "b"]`, always},
		{`"a" not in ["a", "b"]`, never},
		{`2 in [1, 2]`, always},
		{`name in ["a", "b"]`, ""},
		{`"a" in names`, ""},
		{`true`, always},
		{`false`, never},
		{`flag`, ""},
		{`amount / 2 > 1`, ""},
		{`10 / 2 > 1`, ""}, // division is not folded: no warning rather than a wrong one
	}
	for _, tc := range cases {
		t.Run(tc.when, func(t *testing.T) {
			diags := checkRule(t, tc.when)
			if diags.HasErrors() {
				t.Fatalf("unexpected error: %v", diags)
			}
			got := ""
			for _, d := range diags {
				switch {
				case strings.Contains(d.Msg, always):
					got = always
				case strings.Contains(d.Msg, never):
					got = never
				}
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q\n%v", got, tc.want, diags)
			}
		})
	}
}

// TestInputBoundsEdges: a range that holds exactly one value is fine; an
// empty one is an error, and a default must lie inside the bounds, ends
// included.
func TestInputBoundsEdges(t *testing.T) {
	cases := []struct{ decl, want string }{
		{`x float between 5 and 5`, ""},
		{`x float between 5 and 6`, ""},
		{`x float between 6 and 5`, `bounds of input "x" leave no valid value (6 > 5)`},
		{`x float >= 5 <= 5`, ""},
		{`x float >= 5.5 <= 5`, `leave no valid value`},
		{`x int between 5 and 5 default 5`, ""},
		{`x float between 1 and 9 default 1`, ""},
		{`x float between 1 and 9 default 9`, ""},
		{`x float between 1 and 9 default 0`, `default 0 of input "x" is outside its bounds`},
		{`x float between 1 and 9 default 10`, `default 10 of input "x" is outside its bounds`},
		{`x float >= 0 default 0`, ""},
		{`x float <= 0 default 0`, ""},
		{`x float <= 0 default 1`, `outside its bounds`},
		{`x string between 1 and 2`, `bounds apply to numeric inputs`},
	}
	for _, tc := range cases {
		t.Run(tc.decl, func(t *testing.T) {
			src := "policy t version \"1\"\ninput {\n  " + tc.decl + "\n}\nrule r\n  when x == x\n  emit review reason \"x\"\n"
			wantCheckErr(t, src, tc.want)
		})
	}
}

// TestDecideCutEdges: thresholds are in [0, 1], ends included, and must
// strictly decrease; two equal cuts are an error.
func TestDecideCutEdges(t *testing.T) {
	const decrease = "decide thresholds must decrease from top to bottom"
	cases := []struct {
		cuts []string
		want string
	}{
		{[]string{"reject when score >= 0.8", "review when score >= 0.5"}, ""},
		{[]string{"reject when score >= 0.8", "review when score >= 0.8"}, decrease + ": 0.8 comes after 0.8"},
		{[]string{"reject when score > 0.8", "review when score >= 0.8"}, decrease},
		{[]string{"reject when score >= 0.5", "review when score >= 0.8"}, decrease + ": 0.8 comes after 0.5"},
		{[]string{"reject when score >= 1", "review when score >= 0"}, ""},
		{[]string{"reject when score >= 1.01"}, "decide threshold 1.01 is outside [0, 1]"},
		{[]string{"review when score >= -0.01"}, "decide threshold -0.01 is outside [0, 1]"},
		{[]string{"review when score >= 0.5", "review when score >= 0.4"}, "action review appears twice"},
		{[]string{"approve when score >= 0.5"}, "approve cannot have a score threshold"},
	}
	for _, tc := range cases {
		name := strings.Join(tc.cuts, "; ")
		t.Run(name, func(t *testing.T) {
			src := prelude + "rule r\n  when amount > 1\n  emit score 1 reason \"x\"\ndecide {\n  " +
				strings.Join(tc.cuts, "\n  ") + "\n  otherwise approve\n}\n"
			wantCheckErr(t, src, tc.want)
		})
	}
}

// TestTrainableParameters pins which literals become parameters: a
// number or duration compared with something that varies, rule weights,
// the bias and decide cut-offs — unless written `fixed`, and never a
// literal compared with a constant.
func TestTrainableParameters(t *testing.T) {
	src := prelude + `window n_1h = count() over 1h by name
rule r
  when amount > 10 and 10 < amount and count >= 3 and amount > fixed 7 and 1 < 2 and ts - opened > 7d and amount between 1 and 2.5 and n_1h > 2 and amount + 1 > 3
  emit score 1.5 reason "x"
rule f
  when amount > 20 and ts - opened > fixed 1h
  emit score fixed 0.5 reason "x"
rule g
  when amount > 20
  emit review reason "x"
decide {
  bias -1
  reject when score >= fixed 0.9
  review when score > 0.5
  otherwise approve
}
`
	prog := compileSource(t, src)
	var got []string
	for _, pm := range prog.Params {
		got = append(got, fmt.Sprintf("%s %s %v int=%v unit=%q %d:%d %q", pm.Name, pm.Kind, pm.Value, pm.IsInt, pm.Unit,
			pm.Line, pm.Col, prog.Source[pm.Off:pm.End]))
	}
	want := []string{
		`r.amount threshold 10 int=false unit="" 17:17 "10"`,
		`r.amount#2 threshold 10 int=false unit="" 17:24 "10"`,
		`r.count threshold 3 int=true unit="" 17:49 "3"`,
		`r.ts threshold 604800 int=false unit="s" 17:100 "7d"`,
		`r.amount.lo threshold 1 int=false unit="" 17:122 "1"`,
		`r.amount.hi threshold 2.5 int=false unit="" 17:128 "2.5"`,
		`r.n_1h threshold 2 int=true unit="" 17:143 "2"`,
		`r.amount#3 threshold 3 int=false unit="" 17:162 "3"`,
		`r.weight weight 1.5 int=false unit="" 18:14 "1.5"`,
		`f.amount threshold 20 int=false unit="" 20:17 "20"`,
		`g.amount threshold 20 int=false unit="" 23:17 "20"`,
		`decide.bias bias -1 int=false unit="" 26:8 "-1"`,
		`decide.review cutoff 0.5 int=false unit="" 28:23 "0.5"`,
	}
	if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
		t.Fatalf("parameters:\n%s\nwant:\n%s", g, w)
	}
	// Fixed literals keep their value in the program without a parameter.
	if w := prog.Rules[1]; w.WeightParam != -1 || w.Weight != 0.5 {
		t.Errorf("fixed weight: param %d value %v, want -1 and 0.5", w.WeightParam, w.Weight)
	}
	if c := prog.Decide.Cuts[0]; c.Param != -1 || c.Value != 0.9 || !c.Inclusive {
		t.Errorf("fixed cut: %+v, want param -1, value 0.9, inclusive", c)
	}
	if c := prog.Decide.Cuts[1]; c.Param < 0 || c.Inclusive {
		t.Errorf("tunable strict cut: %+v, want a parameter and not inclusive", c)
	}
	if b := prog.Decide; b.BiasParam < 0 || b.Bias != -1 {
		t.Errorf("bias: param %d value %v", b.BiasParam, b.Bias)
	}
}

// TestNestingLimitCompiles: a condition nested exactly as deep as the
// parser allows (500 levels) also checks and compiles; every recursive
// stage after the parser copes with what the parser lets through.
func TestNestingLimitCompiles(t *testing.T) {
	for name, when := range map[string]string{
		"parens": strings.Repeat("(", 500) + "amount > 1" + strings.Repeat(")", 500),
		"not":    strings.Repeat("not ", 500) + "flag",
		"minus":  strings.Repeat("- ", 500) + "amount > 1",
	} {
		t.Run(name, func(t *testing.T) {
			src := prelude + "rule r\n  when " + when + "\n  emit review reason \"x\"\n"
			compileSource(t, src)
		})
	}
}

// TestTrainableParametersElsewhere pins which literals outside a rule's
// plain comparisons become parameters: those in a let (named after the
// let), a parenthesised literal, a call compared with a number (named
// function_feature, or the function alone for a call of several), a fractional number against an int feature (not
// rounded to an int); and which stay fixed: numbers in a window's
// argument and where condition (window values are fed once, in event
// order, so they are never trained), `fixed` bounds of a between, and
// the operands of ==, != and arithmetic, which are not thresholds.
func TestTrainableParametersElsewhere(t *testing.T) {
	src := prelude + `window big = sum(amount * 2) over 1h by name where amount > 100 and count < 5
let high = amount > 40
rule r
  when high and amount > (50) and hour(ts) >= 22 and count > 2.5 and count == 4 and amount * 3 != 9 and amount between fixed 1 and 7 and big > 1000 and min(amount, score2) < 5
  emit review reason "x"
`
	prog := compileSource(t, src)
	var got []string
	for _, pm := range prog.Params {
		got = append(got, fmt.Sprintf("%s %s %v int=%v %q", pm.Name, pm.Kind, pm.Value, pm.IsInt, prog.Source[pm.Off:pm.End]))
	}
	want := []string{
		`let.high.amount threshold 40 int=false "40"`,
		`r.amount threshold 50 int=false "50"`,
		`r.hour_ts threshold 22 int=true "22"`,
		`r.count threshold 2.5 int=false "2.5"`,
		`r.amount.hi threshold 7 int=false "7"`,
		`r.big threshold 1000 int=false "1000"`,
		`r.min threshold 5 int=false "5"`,
	}
	if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
		t.Fatalf("parameters:\n%s\nwant:\n%s", g, w)
	}
}
