package rules

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/report"
	"github.com/riskforge/riskforge/vm"
)

// Options tune the whole pipeline of Tune.
type Options struct {
	Config
	// ValidFrac of the labelled rows are the selection rows: early
	// stopping, the choice of epoch and the check against the policy as
	// written.
	ValidFrac float64
	// TestFrac of the labelled rows are test rows: they choose nothing and
	// give the figures reported as hold-out.
	TestFrac float64
	// Test, when not nil, lists the test rows instead (a separate test
	// file appended to the requests); TestFrac is then ignored.
	Test []int
	// MinSupport flags a rule that, after hardening, fires on less than
	// this share of the fit rows, or on more than 1 − MinSupport of them.
	MinSupport float64
	// MaxReviewRate, when positive, raises the review cut-off after
	// hardening until at most this share of training rows gets review.
	MaxReviewRate float64
	// Models serves model calls (nil: on_error values).
	Models vm.ModelRunner
	// Trainable, when set, limits training to the parameters it accepts;
	// the others keep their values.
	Trainable func(vm.Param) bool
}

// Figures are the score figures of one policy on each role of rows: fit
// (Train), selection (Valid) and test, and on every labelled row.
type Figures struct {
	Train report.Summary `json:"fit"`
	Valid report.Summary `json:"selection"`
	Test  report.Summary `json:"test"`
	All   report.Summary `json:"all"`
}

// Outcome is everything Tune found.
type Outcome struct {
	Problem *Problem
	Data    *Matrix
	Labels  []float64
	// Train are the fit rows, Valid the selection rows, Test the test
	// rows: three disjoint sets, each in file order.
	Train, Valid, Test []int
	Result             *Result
	Hardened           []Hardened
	Values             []float64 // the tuned policy's parameter values
	Texts              []string  // their literals
	Before             Figures   // the policy as written (VM)
	Soft               Figures   // the trained graph at its temperature
	Hard               Figures   // the hardened policy (VM)
	BeforeDec          *Decisions
	HardDec            *Decisions
	Review             *ReviewCut // when MaxReviewRate was set

	// Select is the selection; SelectBefore and SelectAfter its figure on
	// the selection rows (the fit rows when there are none) for the policy
	// as written and the tuned one, both with the VM.
	Select                    Selection
	SelectBefore, SelectAfter float64
	// Improved reports whether the tuned policy beats the one as written
	// on that figure. When it does not, Values and Texts are still the
	// best candidate; the caller decides whether to write it.
	Improved bool
	Support  []RuleSupport // per rule, after hardening
	Signs    []SignChange  // weights that flipped or were held at 0
}

// RuleSupport is how often a rule fires on the fit rows.
type RuleSupport struct {
	Rule   string  `json:"rule"`
	Before float64 `json:"before"` // share of fit rows it fires on
	After  float64 `json:"after"`
	Flag   string  `json:"flag,omitempty"` // why the rule is flagged ("" when it is not)
}

// SignChange is a weight whose sign the data disputes.
type SignChange struct {
	Param int    `json:"-"`
	Rule  string `json:"rule"`
	Old   string `json:"old"`
	New   string `json:"new"`
	Held  bool   `json:"held"` // the sign constraint held it at 0 (a flip refused)
}

// Split shuffles the labelled rows with seed and holds out frac of them;
// both lists are in file order.
func Split(labels []float64, frac float64, seed uint64) (train, valid []int) {
	train, valid, _ = Split3(labels, frac, 0, nil, seed)
	return train, valid
}

// Split3 divides the labelled rows that are not in test into fit,
// selection and (when test is nil) test rows: a seeded shuffle, then
// testFrac and selFrac of all labelled rows. Every list is in file order.
func Split3(labels []float64, selFrac, testFrac float64, test []int, seed uint64) (fit, sel, tst []int) {
	inTest := map[int]bool{}
	for _, r := range test {
		inTest[r] = true
	}
	var rows []int
	for i, y := range labels {
		if !math.IsNaN(y) && !inTest[i] {
			rows = append(rows, i)
		}
	}
	n := len(rows)
	rng := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	k := max(0, min(int(math.Round(selFrac*float64(n))), n))
	sel, rows = append([]int(nil), rows[:k]...), rows[k:]
	if test == nil {
		t := max(0, min(int(math.Round(testFrac*float64(n))), len(rows)))
		tst, rows = append([]int(nil), rows[:t]...), rows[t:]
	} else {
		tst = append([]int(nil), test...)
	}
	fit = append([]int(nil), rows...)
	sort.Ints(fit)
	sort.Ints(sel)
	sort.Ints(tst)
	return fit, sel, tst
}

// Tune trains prog's parameters on the labelled requests, hardens them,
// and evaluates the policy before and after with the VM.
func Tune(prog *vm.Program, ir *compiler.IR, reqs []*vm.Request, labels []float64, opts Options) (*Outcome, error) {
	p, err := NewProblem(prog, ir)
	if err != nil {
		return nil, err
	}
	if opts.Trainable != nil {
		for i, prm := range prog.Params {
			if !p.frozen[i] && !opts.Trainable(prm) {
				p.frozen[i], p.why[i] = true, "not selected for training"
			}
		}
	}
	o := &Outcome{Problem: p, Labels: labels, Select: opts.Select}
	o.Train, o.Valid, o.Test = Split3(labels, opts.ValidFrac, opts.TestFrac, opts.Test, opts.Seed)
	if len(o.Train) == 0 {
		return nil, errors.New("no labelled rows to train on")
	}
	if o.Data, err = p.Extract(reqs, ExtractOptions{Models: opts.Models}); err != nil {
		return nil, err
	}
	all := allLabelled(labels)
	if o.BeforeDec, err = EvalVM(prog, nil, reqs, opts.Models); err != nil {
		return nil, err
	}
	o.Before = o.figures(o.BeforeDec.Scores, all)

	if o.Result, err = Train(p, o.Data, labels, o.Train, o.Valid, opts.Config); err != nil {
		return nil, err
	}
	gr := o.Result.Graph
	soft, err := gr.Eval(allRows(len(reqs)), labels, 1/o.Result.BestTemp)
	if err != nil {
		return nil, err
	}
	softScores := make([]float64, len(reqs))
	for i, z := range soft.Logit {
		softScores[i] = Score(z)
	}
	o.Soft = o.figures(softScores, all)

	o.Hardened = p.Harden(gr, o.Result.Values)
	o.Values = make([]float64, len(prog.Params))
	o.Texts = make([]string, len(prog.Params))
	for i, h := range o.Hardened {
		o.Values[i], o.Texts[i] = h.Value, h.Text
	}
	if o.HardDec, err = EvalVM(prog, o.Values, reqs, opts.Models); err != nil {
		return nil, err
	}
	if opts.MaxReviewRate > 0 {
		rc := LimitReview(prog, o.Values, o.HardDec, o.Train, opts.MaxReviewRate)
		if rc.Param >= 0 && rc.Text != "" {
			o.Values[rc.Param], o.Texts[rc.Param] = rc.New, rc.Text
			o.Hardened[rc.Param] = Hardened{Value: rc.New, Text: rc.Text, Moved: rc.New != prog.Params[rc.Param].Value}
			// Cut-offs do not change scores, only actions.
			for r := range o.HardDec.Actions {
				o.HardDec.Actions[r] = action(prog, o.Values, o.HardDec.Scores[r], o.HardDec.Forced[r], o.HardDec.Floor[r])
			}
		}
		o.Review = &rc
	}
	o.Hard = o.figures(o.HardDec.Scores, all)
	o.judge(prog, opts)
	return o, nil
}

// judge compares the tuned policy with the one as written on the
// selection rows, and collects support flags and sign changes.
func (o *Outcome) judge(prog *vm.Program, opts Options) {
	sel := o.Valid
	if len(sel) == 0 {
		sel = o.Train
	}
	o.SelectBefore = o.Select.Of(o.BeforeDec.Scores, o.Labels, sel)
	o.SelectAfter = o.Select.Of(o.HardDec.Scores, o.Labels, sel)
	o.Improved = o.Result.BestEpoch > 0 && o.Select.Better(o.SelectAfter, o.SelectBefore)
	o.Support = support(prog, o.BeforeDec, o.HardDec, o.Train, opts.MinSupport)
	fires := map[string]bool{}
	for _, s := range o.Support {
		fires[s.Rule] = s.Before > 0 || s.After > 0
	}
	// A rule that fires on no fit row has no data to pull its weight
	// across 0 (only the L2 penalty); its support flag says enough.
	held := map[int]bool{}
	for _, i := range o.Result.Held {
		held[i] = fires[RuleOf(prog.Params[i])]
	}
	for i, prm := range prog.Params {
		if prm.Kind != vm.Weight {
			continue
		}
		old, nv := prm.Value, o.Values[i]
		if held[i] || (old != 0 && nv != 0 && (old > 0) != (nv > 0)) {
			text := strings.TrimSpace(prog.Source[prm.Off:prm.End])
			o.Signs = append(o.Signs, SignChange{Param: i, Rule: RuleOf(prm), Old: text, New: o.Texts[i], Held: held[i]})
		}
	}
}

// support computes each rule's firing share on rows before and after,
// flagging rules that fire on under minSupport of them or on all but
// under minSupport.
func support(prog *vm.Program, before, after *Decisions, rows []int, minSupport float64) []RuleSupport {
	count := func(d *Decisions) []float64 {
		c := make([]float64, len(prog.Rules))
		for _, r := range rows {
			for _, f := range d.Fired[r] {
				c[f]++
			}
		}
		for i := range c {
			c[i] /= float64(max(1, len(rows)))
		}
		return c
	}
	b, a := count(before), count(after)
	out := make([]RuleSupport, len(prog.Rules))
	for i, r := range prog.Rules {
		out[i] = RuleSupport{Rule: r.Name, Before: b[i], After: a[i]}
		switch {
		case minSupport <= 0:
		case a[i] < minSupport:
			out[i].Flag = fmt.Sprintf("fires on %.2f%% of fit rows (under --min-support %.2g%%)", 100*a[i], 100*minSupport)
		case a[i] > 1-minSupport:
			out[i].Flag = fmt.Sprintf("fires on %.2f%% of fit rows (nearly all)", 100*a[i])
		}
	}
	return out
}

func cutValues(prog *vm.Program, params []float64) []float64 {
	cuts := make([]float64, len(prog.Decide.Cuts))
	for i, c := range prog.Decide.Cuts {
		cuts[i] = c.Value
		if c.Param >= 0 {
			cuts[i] = params[c.Param]
		}
	}
	return cuts
}

func allLabelled(labels []float64) []int {
	var rows []int
	for i, y := range labels {
		if !math.IsNaN(y) {
			rows = append(rows, i)
		}
	}
	return rows
}

func (o *Outcome) figures(scores []float64, all []int) Figures {
	return Figures{Train: Summary(scores, o.Labels, o.Train), Valid: Summary(scores, o.Labels, o.Valid),
		Test: Summary(scores, o.Labels, o.Test), All: Summary(scores, o.Labels, all)}
}
