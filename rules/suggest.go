package rules

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
)

// Suggestion is a rule the analyst did not write, proposed by
// RunOptions.Suggest: one or two threshold conditions on the policy's
// numeric inputs, lets and windows, with the score weight that fits the
// tuned policy best.
//
// Candidates are searched on the fit rows: for every feature, `>` and `<`
// at its 5%, 10%, ..., 95% quantiles, then the conjunctions of the best
// of those; each candidate's weight is fitted by Newton's method on top
// of the tuned policy's score. Candidates are ranked by their gain in
// log loss on the selection rows (rows that chose nothing else), and
// picked greedily, each on top of those picked before; one that does not
// lower the selection log loss is not proposed.
type Suggestion struct {
	Name    string  `json:"name"`
	Cond    string  `json:"condition"` // in policy syntax
	Weight  float64 `json:"weight"`    // the fitted score weight
	HitRate float64 `json:"hit_rate"`  // on the selection rows
	BadRate float64 `json:"bad_rate"`
	Lift    float64 `json:"lift"` // BadRate over the selection rows' bad rate
	// Gain is the fall in selection log loss when the rule is added to the
	// tuned policy and the suggestions before it; FitGain on the fit rows
	// (before refinement).
	Gain    float64 `json:"gain"`
	FitGain float64 `json:"fit_gain"`
	// Refined reports whether training the suggestions as part of the
	// policy (the tuned rules kept) moved their numbers.
	Refined bool `json:"refined"`
	parts   []part
}

// feature is a numeric value per row a suggestion can test.
type feature struct {
	name     string
	optional bool // an optional input: rules guard it with exists()
	isInt    bool
	duration bool
	vals     []float64
	present  []float64 // optional inputs: 1 where present
}

// candidate is one condition with its firing per row.
type candidate struct {
	cond  string
	fire  []bool
	parts []part
}

// part is one comparison of a candidate: feature OP value.
type part struct {
	f     int
	op    string
	value float64
	text  string
}

// condition writes parts in policy syntax.
func condition(feats []feature, parts []part) string {
	var s []string
	for _, p := range parts {
		f := feats[p.f]
		c := f.name + " " + p.op + " " + p.text
		if f.optional {
			c = "exists(" + f.name + ") and " + c
		}
		s = append(s, c)
	}
	return strings.Join(s, " and ")
}

// fires computes where parts all hold.
func fires(feats []feature, parts []part, n int) []bool {
	fire := make([]bool, n)
	for k := range fire {
		fire[k] = true
		for _, p := range parts {
			f := feats[p.f]
			x := f.vals[k]
			if (f.present != nil && f.present[k] != 1) || !(p.op == ">" && x > p.value || p.op == "<" && x < p.value) {
				fire[k] = false
				break
			}
		}
	}
	return fire
}

const suggestSample = 20000 // fit rows searched at most

func (r *RunResult) suggest(reqs []*vm.Request) error {
	feats, err := r.suggestFeatures(reqs)
	if err != nil {
		return err
	}
	if len(r.Valid) == 0 {
		return fmt.Errorf("no selection rows to validate suggestions on (--valid-frac 0)")
	}
	sr := r.newSearch()
	singles := r.singleCandidates(feats, sr.fit)
	used := map[string]bool{}
	for len(r.Suggestions) < r.opts.Suggest {
		best, gain := sr.next(singles, used)
		if best == nil {
			break
		}
		used[featureSet(best.c.parts)] = true
		sg := Suggestion{Name: fmt.Sprintf("suggested_%d", len(r.Suggestions)+1), Cond: best.c.cond, Weight: math.Round(best.w*100) / 100,
			Gain: gain, FitGain: best.gain, parts: best.c.parts}
		sr.describe(&sg, best.c.fire)
		r.Suggestions = append(r.Suggestions, sg)
		sr.add(best.c.fire, sg.Weight)
	}
	if len(r.Suggestions) == 0 {
		return nil
	}
	if err := r.refine(reqs, feats); err != nil {
		return err
	}
	r.Tuned = append(r.Tuned, r.SuggestionSource()...)
	return nil
}

// search is the state of the greedy search: the logit of every row under
// the tuned policy plus the suggestions picked so far.
type search struct {
	offset, labels []float64
	fit, sel       []int // fit rows (at most suggestSample), selection rows
	base           float64
	minSupport     float64
}

// scored is a candidate with its fitted weight and fit-row gain.
type scored struct {
	c       *candidate
	w, gain float64
}

func (r *RunResult) newSearch() *search {
	sr := &search{offset: make([]float64, len(r.Labels)), labels: r.Labels, fit: r.Train, sel: r.Valid,
		base: badRate(r.Labels, r.Valid), minSupport: r.opts.MinSupport}
	if len(sr.fit) > suggestSample {
		step := float64(len(sr.fit)) / suggestSample
		s := make([]int, 0, suggestSample)
		for k := 0; k < suggestSample; k++ {
			s = append(s, sr.fit[int(float64(k)*step)])
		}
		sr.fit = s
	}
	for i, s := range r.HardDec.Scores {
		s = math.Min(1-1e-9, math.Max(1e-9, s))
		sr.offset[i] = math.Log(s / (1 - s))
	}
	return sr
}

// next returns the candidate (a single condition, or a pair of the 12
// best singles on the fit rows) on features no suggestion reads yet
// (used) that lowers the selection log loss most, with that gain; nil
// when none lowers it.
func (sr *search) next(singles []candidate, used map[string]bool) (*scored, float64) {
	var ss []scored
	for i := range singles {
		if !used[featureSet(singles[i].parts)] {
			w, g := fitWeight(singles[i].fire, sr.offset, sr.labels, sr.fit)
			ss = append(ss, scored{&singles[i], w, g})
		}
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].gain > ss[j].gain })
	top := ss[:min(len(ss), 12)]
	pool := append([]scored(nil), top...)
	for i := 0; i < len(top); i++ {
		for j := i + 1; j < len(top); j++ {
			a, b := top[i].c, top[j].c // the same feature twice makes a band
			c := &candidate{cond: a.cond + " and " + b.cond, fire: make([]bool, len(a.fire)), parts: []part{a.parts[0], b.parts[0]}}
			for k := range c.fire {
				c.fire[k] = a.fire[k] && b.fire[k]
			}
			if !used[featureSet(c.parts)] {
				w, g := fitWeight(c.fire, sr.offset, sr.labels, sr.fit)
				pool = append(pool, scored{c, w, g})
			}
		}
	}
	var best *scored
	bestGain := 0.0
	for k := range pool {
		s := &pool[k]
		if !(s.gain > 0) || !supported(s.c.fire, sr.fit, sr.minSupport) {
			continue
		}
		if g := logLossGain(s.c.fire, s.w, sr.offset, sr.labels, sr.sel); g > bestGain {
			best, bestGain = s, g
		}
	}
	return best, bestGain
}

// featureSet names the features a candidate reads: a picked suggestion
// retires every other candidate on the same features (a second threshold
// on the same feature would mostly repeat it).
func featureSet(parts []part) string {
	ids := make([]int, len(parts))
	for i, p := range parts {
		ids[i] = p.f
	}
	sort.Ints(ids)
	return fmt.Sprint(ids)
}

// add puts a picked rule's weight into the rows it fires on.
func (sr *search) add(fire []bool, w float64) {
	for k, f := range fire {
		if f {
			sr.offset[k] += w
		}
	}
}

// describe sets a suggestion's hit rate, bad rate and lift on the
// selection rows.
func (sr *search) describe(sg *Suggestion, fire []bool) {
	hits, bads := 0, 0.0
	for _, k := range sr.sel {
		if fire[k] {
			hits++
			bads += sr.labels[k]
		}
	}
	sg.HitRate, sg.BadRate, sg.Lift = float64(hits)/float64(max(1, len(sr.sel))), 0, 0
	if hits > 0 && sr.base > 0 {
		sg.BadRate = bads / float64(hits)
		sg.Lift = sg.BadRate / sr.base
	}
}

// refine trains the suggestions' thresholds and weights the way the
// policy's own are trained: the tuned policy with the suggestions active
// is tuned again with only their parameters free, and the result is kept
// if it beats the grid-search numbers on the selection rows (the epoch-0
// check of Tune). Figures are then recomputed for the refined rules.
func (r *RunResult) refine(reqs []*vm.Request, feats []feature) error {
	src := Uncomment(append(append([]byte(nil), r.Tuned...), r.SuggestionSource()...))
	pol, diags := compiler.CheckSource(r.opts.PolicyPath, src, compiler.Options{})
	if diags.HasErrors() {
		return fmt.Errorf("internal error: the suggestions do not check: %v", diags.Err())
	}
	prog, ir, err := compiler.Compile(pol, compiler.CompileOptions{})
	if err != nil {
		return err
	}
	opts := r.opts.Options
	opts.Progress, opts.MaxReviewRate, opts.AllowFlip = nil, 0, []string{"*"}
	opts.Test = r.Test
	opts.Trainable = func(p vm.Param) bool { return strings.HasPrefix(p.Name, "suggested_") }
	o, err := Tune(prog, ir, reqs, r.Labels, opts)
	if err != nil {
		return fmt.Errorf("refining: %w", err)
	}
	o.Result.Graph.Close()
	if !o.Improved {
		return nil
	}
	byRule := map[string][]int{}
	for i, prm := range prog.Params {
		byRule[RuleOf(prm)] = append(byRule[RuleOf(prm)], i)
	}
	sr := r.newSearch()
	for k := range r.Suggestions {
		sg := &r.Suggestions[k]
		j := 0
		for _, i := range byRule[sg.Name] {
			switch prog.Params[i].Kind {
			case vm.Threshold:
				if j < len(sg.parts) && o.Texts[i] != sg.parts[j].text {
					sg.parts[j].text, sg.parts[j].value, sg.Refined = o.Texts[i], o.Values[i], true
				}
				j++
			case vm.Weight:
				if w := o.Values[i]; w != sg.Weight {
					sg.Weight, sg.Refined = w, true
				}
			}
		}
		sg.Cond = condition(feats, sg.parts)
		fire := fires(feats, sg.parts, len(reqs))
		sg.Gain = logLossGain(fire, sg.Weight, sr.offset, r.Labels, r.Valid)
		sr.describe(sg, fire)
		sr.add(fire, sg.Weight)
	}
	return nil
}

// suggestFeatures computes the per-row values of every numeric input,
// numeric let and window with the serving VM (through a probe program,
// as training does).
func (r *RunResult) suggestFeatures(reqs []*vm.Request) ([]feature, error) {
	prog, ir := r.opts.Prog, r.opts.IR
	var feats []feature
	var exprs []*compiler.Node
	for i, in := range prog.Inputs {
		if in.Type != vm.TInt && in.Type != vm.TFloat {
			continue
		}
		typ := compiler.Float
		if in.Type == vm.TInt {
			typ = compiler.Int
		}
		feats = append(feats, feature{name: in.Name, optional: in.Optional, isInt: in.Type == vm.TInt})
		exprs = append(exprs, &compiler.Node{Kind: compiler.NInput, Type: typ, Index: i, Slot: in.Slot, Str: in.Name})
		if in.Optional {
			exprs = append(exprs, &compiler.Node{Kind: compiler.NPresent, Type: compiler.Bool, Index: i, Str: in.Name})
		}
	}
	for i, l := range ir.Lets {
		if l.Type != compiler.Int && l.Type != compiler.Float && l.Type != compiler.Duration {
			continue
		}
		feats = append(feats, feature{name: l.Name, isInt: l.Type == compiler.Int, duration: l.Type == compiler.Duration})
		exprs = append(exprs, &compiler.Node{Kind: compiler.NLet, Type: l.Type, Index: i, Slot: l.Slot, Str: l.Name})
	}
	for i, w := range prog.Windows {
		feats = append(feats, feature{name: w.Name, isInt: w.Agg == "count" || w.Agg == "count_distinct"})
		exprs = append(exprs, &compiler.Node{Kind: compiler.NWindow, Type: compiler.Float, Index: i, Slot: w.Slot, Str: w.Name})
	}
	if len(exprs) == 0 {
		return nil, fmt.Errorf("the policy has no numeric input, let or window to suggest rules on")
	}
	p := &Problem{IR: ir, Prog: prog}
	for _, e := range exprs {
		p.cols = append(p.cols, column{kind: colProbe, probe: len(p.probeExprs)})
		p.probeExprs = append(p.probeExprs, e)
	}
	var err error
	if p.probeProg, p.probes, err = compiler.ProbeProgram(ir, p.probeExprs); err != nil {
		return nil, err
	}
	m, err := p.Extract(reqs, ExtractOptions{Models: r.opts.Options.Models})
	if err != nil {
		return nil, err
	}
	k := 0
	for i := range feats {
		feats[i].vals = m.Cols[k]
		k++
		if feats[i].optional {
			feats[i].present = m.Cols[k]
			k++
		}
	}
	return feats, nil
}

// singleCandidates builds `x > θ` and `x < θ` at the quantiles of each
// feature on the fit rows.
func (r *RunResult) singleCandidates(feats []feature, fit []int) []candidate {
	var out []candidate
	for fi, f := range feats {
		var vals []float64
		for _, k := range fit {
			if f.present == nil || f.present[k] == 1 {
				vals = append(vals, f.vals[k])
			}
		}
		if len(vals) < 10 {
			continue
		}
		sort.Float64s(vals)
		scale := statsOf(f.vals, fit).scale
		seen := map[string]bool{}
		for q := 0.05; q < 0.96; q += 0.05 {
			th := vals[int(q*float64(len(vals)-1))]
			text := thresholdText(th, scale, f)
			v, ok := literalValue(text, map[bool]string{true: "s"}[f.duration])
			if !ok || seen[text] {
				continue
			}
			seen[text] = true
			for _, op := range []string{">", "<"} {
				parts := []part{{f: fi, op: op, value: v, text: text}}
				out = append(out, candidate{cond: condition(feats, parts), fire: fires(feats, parts, len(f.vals)), parts: parts})
			}
		}
	}
	return out
}

func thresholdText(v, scale float64, f feature) string {
	switch {
	case f.duration:
		return formatDuration(snapDuration(v, scale))
	case f.isInt:
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return snapFloat(v, scale)
}

func supported(fire []bool, rows []int, minSupport float64) bool {
	n := 0
	for _, k := range rows {
		if fire[k] {
			n++
		}
	}
	rate := float64(n) / float64(max(1, len(rows)))
	return rate >= math.Max(minSupport, 1e-9) && rate <= 1-minSupport
}

// fitWeight fits w in logit = offset + w·fire on rows by Newton's method
// (with a small ridge) and returns it with the fall in mean log loss.
func fitWeight(fire []bool, offset, labels []float64, rows []int) (w, gain float64) {
	for it := 0; it < 8; it++ {
		g, h := 0.01*w, 0.01
		for _, k := range rows {
			if !fire[k] {
				continue
			}
			p := Score(offset[k] + w)
			g += p - labels[k]
			h += p * (1 - p)
		}
		step := g / h
		w -= math.Max(-4, math.Min(4, step))
		if math.Abs(step) < 1e-6 {
			break
		}
	}
	return w, logLossGain(fire, w, offset, labels, rows)
}

// logLossGain is the fall in mean log loss on rows when w is added to
// the logit of the rows where fire holds.
func logLossGain(fire []bool, w float64, offset, labels []float64, rows []int) float64 {
	d := 0.0
	for _, k := range rows {
		if fire[k] {
			d += rowLoss(offset[k], labels[k]) - rowLoss(offset[k]+w, labels[k])
		}
	}
	return d / float64(max(1, len(rows)))
}

func rowLoss(z, y float64) float64 {
	// −log σ(z) = softplus(−z), −log(1 − σ(z)) = softplus(z).
	if y == 1 {
		z = -z
	}
	if z > 30 {
		return z
	}
	return math.Log1p(math.Exp(z))
}

func badRate(labels []float64, rows []int) float64 {
	b := 0.0
	for _, r := range rows {
		b += labels[r]
	}
	return b / float64(max(1, len(rows)))
}

// SuggestionSource is the suggestions as commented-out rules, to append
// to the tuned policy: uncomment one to use it.
func (r *RunResult) SuggestionSource() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\n# ---------------------------------------------------------------------------\n")
	fmt.Fprintf(&b, "# Suggested by riskc train --suggest %d; not active: uncomment a rule to use it.\n", r.opts.Suggest)
	fmt.Fprintf(&b, "# Figures on the selection rows (%d), each rule on top of those above it.\n", len(r.Valid))
	fmt.Fprintf(&b, "# ---------------------------------------------------------------------------\n")
	for _, s := range r.Suggestions {
		fmt.Fprintf(&b, "\n# hit rate %.2f%%, bad rate %.2f%% (lift %.2f), log loss %.4f lower\n", 100*s.HitRate, 100*s.BadRate, s.Lift, s.Gain)
		fmt.Fprintf(&b, "# rule %s\n#   when %s\n#   emit score %s reason %q\n", s.Name, s.Cond, snapWeight(s.Weight, false), "suggested: "+strings.ReplaceAll(s.Cond, `"`, `'`))
	}
	return b.Bytes()
}

// Uncomment returns src with its suggested rules (as SuggestionSource
// writes them) made active: for checking that they compile, and for tests.
func Uncomment(src []byte) []byte {
	var out []string
	for _, line := range strings.Split(string(src), "\n") {
		for _, p := range []string{"# rule suggested_", "#   when ", "#   emit score "} {
			if strings.HasPrefix(line, p) {
				line = strings.TrimPrefix(line, "# ")
				break
			}
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, "\n"))
}
