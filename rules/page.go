package rules

import (
	"fmt"
	"math"
	"strings"

	"github.com/riskforge/riskforge/report"
	"github.com/riskforge/riskforge/vm"
)

// PageInfo says what a training report page describes.
type PageInfo struct {
	PolicyFile, DataFile string
	Seed                 uint64
	// Baseline, when set, is a reference model's figures on the same split
	// (riskc train --baseline: a logistic regression on BaselineColumns
	// numeric columns).
	Baseline        *Figures
	BaselineColumns int
}

// Page is the --report page of a training run (report.TrainingPage):
// this gathers its figures.
func (o *Outcome) Page(prog *vm.Program, changes []Change, info PageInfo) report.Page {
	// The cards, ROC and per-rule table show the test rows (which chose
	// nothing), else the selection rows, else the fit rows.
	split, rows := "test", o.Test
	switch {
	case len(rows) > 0:
	case len(o.Valid) > 0:
		split, rows = "selection", o.Valid
	default:
		split, rows = "fit", o.Train
	}
	t := report.Training{
		Policy: prog.Name, Version: prog.Version, PolicyFile: info.PolicyFile, DataFile: info.DataFile, Seed: info.Seed,
		Fit: len(o.Train), Selection: len(o.Valid), Test: len(o.Test), Select: o.Select.String(),
		BestEpoch: o.Result.BestEpoch, Epochs: len(o.Result.History), Split: split,
		Before: trainingFigures(o.Before), Soft: trainingFigures(o.Soft), Hard: trainingFigures(o.Hard),
		BaselineColumns: info.BaselineColumns,
		Start:           report.TrainingEpoch{ValidLogLoss: o.Result.Start.ValidLogLoss, ValidAUC: o.Result.Start.ValidAUC},
	}
	if info.Baseline != nil {
		b := trainingFigures(*info.Baseline)
		t.Baseline = &b
	}
	for _, h := range o.Result.History {
		t.History = append(t.History, report.TrainingEpoch{Epoch: h.Epoch, TrainLoss: h.TrainLoss, ValidLogLoss: h.ValidLogLoss, ValidAUC: h.ValidAUC})
	}
	for _, r := range rows {
		if !math.IsNaN(o.Labels[r]) {
			t.BeforeScores, t.AfterScores = append(t.BeforeScores, o.BeforeDec.Scores[r]), append(t.AfterScores, o.HardDec.Scores[r])
			t.Labels = append(t.Labels, o.Labels[r] == 1)
		}
	}
	hits := func(d *Decisions) ([]int, []int) {
		h, b := make([]int, len(prog.Rules)), make([]int, len(prog.Rules))
		for _, r := range rows {
			for _, k := range d.Fired[r] {
				h[k]++
				if o.Labels[r] == 1 {
					b[k]++
				}
			}
		}
		return h, b
	}
	hb, bb := hits(o.BeforeDec)
	ha, ba := hits(o.HardDec)
	for i, r := range prog.Rules {
		var ps []string
		for _, c := range changes {
			if strings.HasPrefix(c.Name, r.Name+".") {
				ps = append(ps, fmt.Sprintf("%s: %s → %s", strings.TrimPrefix(c.Name, r.Name+"."), c.Old, c.New))
			}
		}
		what := "score"
		if r.Forces {
			what = r.Action.String()
		}
		t.Rules = append(t.Rules, report.TrainingRule{Name: r.Name, What: what, Params: strings.Join(ps, "; "),
			HitsBefore: hb[i], HitsAfter: ha[i], BadsBefore: bb[i], BadsAfter: ba[i]})
	}
	for _, c := range changes {
		note := ""
		if frozen, why := o.Problem.Frozen(c.Param); frozen {
			note = "kept: " + why
		} else if c.Kind == vm.Cutoff {
			note = "cut-off (not trained)"
			if c.Moved() {
				note = "cut-off moved for --max-review-rate"
			}
		}
		t.Params = append(t.Params, report.TrainingParam{Name: c.Name, Kind: c.Kind.String(), Old: c.Old, New: c.New, Note: note})
	}
	return report.TrainingPage(t)
}

func trainingFigures(f Figures) report.TrainingFigures {
	return report.TrainingFigures{Fit: f.Train, Selection: f.Valid, Test: f.Test}
}

// Page is the --report page of a run: Outcome.Page plus the support
// flags, sign changes, reason notes and suggested rules.
func (r *RunResult) Page(info PageInfo) report.Page {
	p := r.Outcome.Page(r.opts.Prog, r.Changes, info)
	st := report.Table{Title: "Rule support (fit rows)", Columns: []string{"Rule", "Fires before", "Fires after", "Flag"}}
	for _, s := range r.Support {
		st.Rows = append(st.Rows, []string{s.Rule, pct2(report.Float(s.Before)), pct2(report.Float(s.After)), s.Flag})
	}
	p.Tables = append(p.Tables, st)
	if len(r.Signs) > 0 {
		t := report.Table{Title: "Weights the data pulls across 0", Columns: []string{"Rule", "Old", "New", "What happened"}}
		for _, s := range r.Signs {
			what := "changed sign (allowed by --allow-flip)"
			if s.Held {
				what = "held at 0: sign flip refused"
			}
			t.Rows = append(t.Rows, []string{s.Rule, s.Old, s.New, what})
		}
		p.Tables = append(p.Tables, t)
	}
	if len(r.Reasons) > 0 {
		t := report.Table{Title: "Reasons quoting a moved threshold", Columns: []string{"Rule", "Before", "After", "Note"}}
		for _, n := range r.Reasons {
			t.Rows = append(t.Rows, []string{n.Rule, n.Old, n.New, n.Note})
		}
		p.Tables = append(p.Tables, t)
	}
	if len(r.Suggestions) > 0 {
		t := report.Table{Title: "Suggested rules (selection rows; commented out in the tuned policy)",
			Columns: []string{"Rule", "Condition", "Score", "Hit rate", "Bad rate", "Lift", "Log loss gain"}}
		for _, s := range r.Suggestions {
			t.Rows = append(t.Rows, []string{s.Name, s.Cond, fmt.Sprintf("%.2f", s.Weight), pct2(report.Float(s.HitRate)),
				pct2(report.Float(s.BadRate)), fmt.Sprintf("%.2f", s.Lift), fmt.Sprintf("%.4f", s.Gain)})
		}
		p.Tables = append(p.Tables, t)
	}
	return p
}

func pct2(f report.Float) string { return f.Percent(2) }
