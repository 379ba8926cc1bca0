package rules

import (
	"errors"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/report"
	"github.com/riskforge/riskforge/vm"
)

// Options tune the whole pipeline of Tune.
type Options struct {
	Config
	// ValidFrac of the labelled rows is held out for validation (early
	// stopping and the `valid` figures).
	ValidFrac float64
	// MaxReviewRate, when positive, raises the review cut-off after
	// hardening until at most this share of training rows gets review.
	MaxReviewRate float64
	// Models serves model calls (nil: on_error values).
	Models vm.ModelRunner
}

// Figures are the score figures of one policy on each split.
type Figures struct {
	Train report.Summary `json:"train"`
	Valid report.Summary `json:"valid"`
	All   report.Summary `json:"all"`
}

// Outcome is everything Tune found.
type Outcome struct {
	Problem      *Problem
	Data         *Matrix
	Labels       []float64
	Train, Valid []int
	Result       *Result
	Hardened     []Hardened
	Values       []float64 // the tuned policy's parameter values
	Texts        []string  // their literals
	Before       Figures   // the policy as written (VM)
	Soft         Figures   // the trained graph at its temperature
	Hard         Figures   // the hardened policy (VM)
	BeforeDec    *Decisions
	HardDec      *Decisions
	Review       *ReviewCut // when MaxReviewRate was set
}

// Split shuffles the labelled rows with seed and holds out frac of them;
// both lists are in file order.
func Split(labels []float64, frac float64, seed uint64) (train, valid []int) {
	var rows []int
	for i, y := range labels {
		if !math.IsNaN(y) {
			rows = append(rows, i)
		}
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	k := int(math.Round(frac * float64(len(rows))))
	k = max(0, min(k, len(rows)))
	valid, train = append([]int(nil), rows[:k]...), append([]int(nil), rows[k:]...)
	sort.Ints(valid)
	sort.Ints(train)
	return train, valid
}

// Tune trains prog's parameters on the labelled requests, hardens them,
// and evaluates the policy before and after with the VM.
func Tune(prog *vm.Program, ir *compiler.IR, reqs []*vm.Request, labels []float64, opts Options) (*Outcome, error) {
	p, err := NewProblem(prog, ir)
	if err != nil {
		return nil, err
	}
	o := &Outcome{Problem: p, Labels: labels}
	o.Train, o.Valid = Split(labels, opts.ValidFrac, opts.Seed)
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
	o.Before = figures(o.BeforeDec.Scores, labels, o.Train, o.Valid, all)

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
	o.Soft = figures(softScores, labels, o.Train, o.Valid, all)

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
			cuts := cutValues(prog, o.Values)
			for r := range o.HardDec.Actions {
				o.HardDec.Actions[r] = action(prog, cuts, o.HardDec.Scores[r], o.HardDec.Forced[r])
			}
		}
		o.Review = &rc
	}
	o.Hard = figures(o.HardDec.Scores, labels, o.Train, o.Valid, all)
	return o, nil
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

func figures(scores, labels []float64, train, valid, all []int) Figures {
	return Figures{Train: Summary(scores, labels, train), Valid: Summary(scores, labels, valid), All: Summary(scores, labels, all)}
}
