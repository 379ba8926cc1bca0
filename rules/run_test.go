package rules

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/internal/planted"
	"github.com/riskforge/riskforge/vm"
)

// plantedRun writes n rows of spec to a CSV file and runs training of
// src on it.
func plantedRun(t *testing.T, spec planted.Spec, src []byte, n int, opts Options, suggest int) *RunResult {
	t.Helper()
	var buf bytes.Buffer
	if err := planted.Generate(&buf, spec, n, rand.New(rand.NewPCG(11, 12))); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "planted.csv")
	if err := os.WriteFile(data, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "p.risk")
	prog, ir := compileSource(t, path, src)
	res, err := Run(RunOptions{Options: opts, PolicyPath: path, Source: src, Prog: prog, IR: ir, Data: data,
		Read: dataset.Options{Label: "bad"}, Suggest: suggest})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(res.Close)
	return res
}

// dropRules removes the named rules from generated policy source.
func dropRules(src []byte, names ...string) []byte {
	for _, n := range names {
		src = regexp.MustCompile(`(?m)^rule `+n+`\n(  .*\n)+`).ReplaceAll(src, nil)
	}
	return src
}

// TestSignFlipRefused: a weight written with the wrong sign is held at 0
// and reported, unless its rule may flip; then the flip is reported.
// A rule that fires on almost no row is flagged.
func TestSignFlipRefused(t *testing.T) {
	spec := planted.NewSpec(5) // low_m3 has weight -1.2
	wrong := planted.Spec{Bias: spec.Bias, Noise: spec.Noise, Rules: append([]planted.Rule(nil), spec.Rules...)}
	wrong.Rules[3].Weight = 0.5
	src := append(wrong.Policy("p", "sign"), "\nrule rare\n  when x0 > fixed 200\n  emit score 0.5 reason \"never\"\n"...)
	opts := Options{Config: Config{Seed: 1, Epochs: 20}, ValidFrac: 0.2, TestFrac: 0.2, MinSupport: 0.005}
	res := plantedRun(t, spec, src, 5000, opts, 0)
	if len(res.Signs) != 1 || res.Signs[0].Rule != "low_m3" || !res.Signs[0].Held || res.Values[res.Signs[0].Param] != 0 {
		t.Errorf("signs %+v, want low_m3 held at 0", res.Signs)
	}
	flagged := map[string]bool{}
	for _, s := range res.Support {
		if s.Flag != "" {
			flagged[s.Rule] = true
		}
	}
	if !flagged["rare"] || len(flagged) != 1 {
		t.Errorf("support flags %v, want rare only", res.Support)
	}
	opts.AllowFlip = []string{"low_m3"}
	res = plantedRun(t, spec, src, 5000, opts, 0)
	if len(res.Signs) != 1 || res.Signs[0].Held || !strings.HasPrefix(res.Signs[0].New, "-") {
		t.Errorf("allowed flip: signs %+v", res.Signs)
	}
}

// TestMaxShift: thresholds stay within --max-shift scales of the start.
func TestMaxShift(t *testing.T) {
	spec := planted.NewSpec(3)
	src := spec.Wrong().Policy("p", "shift") // high_x0 starts at 74, planted 59; x0 has scale ~15
	res := plantedRun(t, spec, src, 4000, Options{Config: Config{Seed: 1, Epochs: 20, MaxShift: 0.2, AllowFlip: []string{"*"}}, ValidFrac: 0.2}, 0)
	for i, prm := range res.Prog().Params {
		if prm.Name == "high_x0.x0" {
			if v := res.Values[i]; v < 74-0.25*15 || v >= 74 {
				t.Errorf("high_x0.x0 = %v, want within 0.2 scales (about 3) below 74", v)
			}
		}
	}
}

// TestSuggestionsImproveIncompletePolicy: the planted policy without two
// of its rules; the suggestions, uncommented, raise the test AUC.
func TestSuggestionsImproveIncompletePolicy(t *testing.T) {
	spec := planted.NewSpec(6)
	src := dropRules(spec.Policy("p", "incomplete"), "high_x0", "many_n1")
	res := plantedRun(t, spec, src, 12000, Options{Config: Config{Seed: 1, Epochs: 15}, ValidFrac: 0.2, TestFrac: 0.2, MinSupport: 0.005}, 3)
	if len(res.Suggestions) == 0 {
		t.Fatal("no suggestions")
	}
	for _, s := range res.Suggestions {
		t.Logf("%s: %s score %.2f hit %.3f bad %.3f lift %.2f gain %.4f", s.Name, s.Cond, s.Weight, s.HitRate, s.BadRate, s.Lift, s.Gain)
	}
	if !res.Suggestions[0].Refined {
		t.Error("training did not refine the first suggestion")
	}
	if !bytes.Contains(res.Tuned, []byte("# rule suggested_1\n#   when ")) {
		t.Errorf("suggestions are not commented out at the end:\n%s", res.Tuned)
	}
	found := strings.Contains(res.Suggestions[0].Cond+res.Suggestions[1%len(res.Suggestions)].Cond, "x0 >")
	if !found {
		t.Errorf("the missing rule on x0 was not among the first suggestions")
	}
	full := Uncomment(res.Tuned)
	prog, _ := compileSource(t, "full.risk", full)
	withDec, err := evalFile(t, prog, res)
	if err != nil {
		t.Fatal(err)
	}
	before, after := res.Hard.Test.AUC, Summary(withDec.Scores, res.Labels, res.Test).AUC
	t.Logf("test AUC: tuned %.4f, with suggestions %.4f", before, after)
	if after < before+0.02 {
		t.Errorf("suggestions raise the test AUC only from %.4f to %.4f", before, after)
	}
}

// evalFile evaluates prog on the run's data file with the VM.
func evalFile(t *testing.T, prog *vm.Program, res *RunResult) (*Decisions, error) {
	t.Helper()
	reqs, _, err := ReadRequests(prog, res.opts.Data, res.opts.Read)
	if err != nil {
		return nil, err
	}
	return EvalVM(prog, nil, reqs, nil)
}

// TestReasonsRewritten: a reason quoting a moved threshold once is
// updated; ambiguous quotes are left with a note.
func TestReasonsRewritten(t *testing.T) {
	src := []byte("policy p version \"1\"\ninput {\n  income float\n  n int\n}\n\n" +
		"rule low_income\n  when income < 150\n  emit score 0.5 reason \"income under 150\"\n\n" +
		"rule many\n  when n > 3 and income > 3\n  emit score 0.5 reason \"more than 3 loans\"\n\n" +
		"rule dur\n  when n > 30\n  emit score 0.5 reason \"over 30 and 40\"\n")
	prog, _ := compileSource(t, "r.risk", src)
	texts := make([]string, len(prog.Params))
	for i, prm := range prog.Params {
		switch prm.Name {
		case "low_income.income":
			texts[i] = "180"
		case "many.n", "many.income":
			texts[i] = "4"
		case "dur.n":
			texts[i] = "35"
		}
	}
	tuned, changes, err := Rewrite(src, prog.Params, texts)
	if err != nil {
		t.Fatal(err)
	}
	out, notes, err := RewriteReasons("r.risk", tuned, prog.Params, changes)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`reason "income under 180"`)) {
		t.Errorf("reason not rewritten:\n%s", out)
	}
	if !bytes.Contains(out, []byte(`reason "more than 3 loans"`)) || !bytes.Contains(out, []byte(`reason "over 35 and 40"`)) {
		t.Errorf("ambiguous reasons changed:\n%s", out)
	}
	var got []string
	for _, n := range notes {
		got = append(got, n.Rule+":"+map[bool]string{true: "rewritten", false: "warned"}[n.Rewritten]+":"+n.Note)
	}
	want := []string{"low_income:rewritten:", "many:warned:left as written: 3 is the old value of 2 thresholds",
		"dur:rewritten:left as written: 40 matches none of the moved thresholds (30 → 35)"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("notes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRelayout: a longer number relays out its aligned group in a file
// that is otherwise not formatter-clean; untouched lines stay as written.
func TestRelayout(t *testing.T) {
	src := []byte("policy p version \"1\"\ninput {\n  income float\n  n int\n}\n\n" +
		"rule a\n  when income < 5   # odd spacing, kept\n  emit score 0.5 reason \"a\"\n\n" +
		"decide {\n  bias -1\n  reject when score >= 0.9 # r\n  review when score >= 0.5 # v\n  otherwise approve\n}\n")
	prog, _ := compileSource(t, "l.risk", src)
	texts := make([]string, len(prog.Params))
	for i, prm := range prog.Params {
		if prm.Name == "decide.reject" {
			texts[i] = "0.875"
		}
	}
	tuned, _, err := Rewrite(src, prog.Params, texts)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, len(prog.Params))
	for i, prm := range prog.Params {
		want[i] = prm.Value
		if prm.Name == "decide.reject" {
			want[i] = 0.875
		}
	}
	out, err := Verify("l.risk", src, tuned, want, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("when income < 5   # odd spacing, kept")) {
		t.Errorf("an untouched line was reformatted:\n%s", out)
	}
	if !bytes.Contains(out, []byte("reject when score >= 0.875 # r\n  review when score >= 0.5   # v")) {
		t.Errorf("the decide block is not aligned:\n%s", out)
	}
}

// TestBaselineTextColumns: text columns are one-hot encoded (here the
// only informative column is text), identifiers are dropped, missing
// numbers get an indicator, and Describe lists the columns.
func TestBaselineTextColumns(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	header := []string{"id", "grade", "x", "bad"}
	var recs [][]string
	var labels []float64
	for i := 0; i < 600; i++ {
		g := []string{"A", "B", "C"}[rng.IntN(3)]
		p := map[string]float64{"A": 0.1, "B": 0.3, "C": 0.7}[g]
		y := 0.0
		if rng.Float64() < p {
			y = 1
		}
		x := strconv.Itoa(rng.IntN(100))
		if i%10 == 0 {
			x = "NA"
		}
		recs = append(recs, []string{"r" + strconv.Itoa(i), g, x, strconv.Itoa(int(y))})
		labels = append(labels, y)
	}
	fit, sel, test := Split3(labels, 0.2, 0.2, nil, 1)
	b, err := FitBaseline(header, recs, map[string]bool{"bad": true}, map[string]bool{"": true, "NA": true}, labels, fit, sel, test)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(b.Describe())
	if got := strings.Join(b.Columns, ","); got != "grade=A,grade=B,grade=C,x,x=missing" {
		t.Errorf("columns %s", got)
	}
	if !strings.Contains(b.Describe(), "3 one-hot from 1 text columns (grade 3 levels)") || !strings.Contains(b.Describe(), "id: 360 distinct texts") {
		t.Errorf("describe: %s", b.Describe())
	}
	if auc := float64(b.Fig.Test.AUC); auc < 0.7 {
		t.Errorf("test AUC %.3f: the text column is not used", auc)
	}
}

// TestCannotImprove: when the policy as written is already the best one,
// no epoch beats it on the selection rows: Improved is false.
func TestCannotImprove(t *testing.T) {
	dir := t.TempDir()
	data, src := noSignal(t, dir)
	path := filepath.Join(dir, "p.risk")
	prog, ir := compileSource(t, path, src)
	res, err := Run(RunOptions{Options: Options{Config: Config{Seed: 1, Epochs: 20}, ValidFrac: 0.3, TestFrac: 0.2}, PolicyPath: path,
		Source: src, Prog: prog, IR: ir, Data: data, Read: dataset.Options{Label: "bad"}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	t.Logf("selection logloss %.4f → %.4f, best epoch %d", res.SelectBefore, res.SelectAfter, res.Result.BestEpoch)
	if res.Improved {
		t.Error("training on noise improved on the policy as written")
	}
}

// noSignal writes a data set that the policy as written already decides
// perfectly (bad exactly when x > 50); its weight and bias are fixed, so
// training can only move the threshold, and any move is worse.
func noSignal(t *testing.T, dir string) (string, []byte) {
	rng := rand.New(rand.NewPCG(7, 8))
	var b strings.Builder
	b.WriteString("x,bad\n")
	for i := 0; i < 600; i++ {
		x := rng.IntN(100)
		b.WriteString(strconv.Itoa(x) + "," + map[bool]string{true: "1", false: "0"}[x > 50] + "\n")
	}
	data := filepath.Join(dir, "perfect.csv")
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src := []byte("policy perfect version \"1\"\n\ninput {\n  x int\n}\n\nrule high\n  when x > 50\n  emit score fixed 2.2 reason \"high x\"\n\n" +
		"decide {\n  bias fixed -1.1\n  reject when score >= 0.9\n  otherwise approve\n}\n")
	return data, src
}
