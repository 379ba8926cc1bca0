package rules

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
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

// Page is the --report page of a training run: summary cards, loss and
// selection AUC per epoch (from epoch 0, the policy as written), ROC before and after, the score distribution
// after, and the figures, per-rule and parameter tables.
func (o *Outcome) Page(prog *vm.Program, changes []Change, info PageInfo) report.Page {
	// The cards, ROC and per-rule table show the test rows (which chose
	// nothing), else the selection rows, else the fit rows.
	split, rows, pick := "test", o.Test, func(fg Figures) report.Summary { return fg.Test }
	switch {
	case len(rows) > 0:
	case len(o.Valid) > 0:
		split, rows, pick = "selection", o.Valid, func(fg Figures) report.Summary { return fg.Valid }
	default:
		split, rows, pick = "fit", o.Train, func(fg Figures) report.Summary { return fg.Train }
	}
	p := report.Page{
		Title: fmt.Sprintf("Training of %s %s", prog.Name, prog.Version),
		Subtitle: fmt.Sprintf("%s on %s · %d fit rows, %d selection rows, %d test rows · seed %d · selected by %s: epoch %d of %d",
			filepath.Base(info.PolicyFile), filepath.Base(info.DataFile), len(o.Train), len(o.Valid), len(o.Test), info.Seed, o.Select, o.Result.BestEpoch, len(o.Result.History)),
	}
	card := func(label string, s report.Float, note string) {
		p.Summary = append(p.Summary, report.KV{Label: label, Value: fixed4(s), Note: note})
	}
	card("AUC before", pick(o.Before).AUC, split+" rows, as written")
	card("AUC after", pick(o.Hard).AUC, split+" rows, tuned policy (VM)")
	card("AUC soft", pick(o.Soft).AUC, split+" rows, trained graph")
	if info.Baseline != nil {
		card("AUC logistic regression", pick(*info.Baseline).AUC, fmt.Sprintf("%d numeric columns", info.BaselineColumns))
	}
	p.Summary = append(p.Summary,
		report.KV{Label: "Recall @ 1% FPR", Value: pct2(pick(o.Hard).RecallAtFPR1), Note: "before " + pct2(pick(o.Before).RecallAtFPR1)},
		report.KV{Label: "Recall @ 5% FPR", Value: pct2(pick(o.Hard).RecallAtFPR5), Note: "before " + pct2(pick(o.Before).RecallAtFPR5)},
	)

	var trainLoss, validLoss, validAUC []report.Point
	// Epoch 0 is the policy as written: a candidate too.
	validLoss = append(validLoss, report.Point{FPR: 0, TPR: o.Result.Start.ValidLogLoss})
	validAUC = append(validAUC, report.Point{FPR: 0, TPR: o.Result.Start.ValidAUC})
	for _, h := range o.Result.History {
		x := float64(h.Epoch)
		trainLoss = append(trainLoss, report.Point{FPR: x, TPR: h.TrainLoss})
		validLoss = append(validLoss, report.Point{FPR: x, TPR: h.ValidLogLoss})
		validAUC = append(validAUC, report.Point{FPR: x, TPR: h.ValidAUC})
	}
	p.Curves = append(p.Curves,
		report.Chart{Title: "Loss per epoch", XLabel: "epoch", YLabel: "loss",
			Series: []report.Series{{Name: "training loss (soft, with penalties)", Points: trainLoss}, {Name: "selection log loss (hard)", Points: validLoss}}},
		report.Chart{Title: "Selection AUC per epoch (hard)", XLabel: "epoch", YLabel: "AUC",
			Series: []report.Series{{Name: "selection AUC", Points: validAUC}}},
	)
	labelsOf := func(d []float64) ([]float64, []bool) {
		var s []float64
		var l []bool
		for _, r := range rows {
			if !math.IsNaN(o.Labels[r]) {
				s, l = append(s, d[r]), append(l, o.Labels[r] == 1)
			}
		}
		return s, l
	}
	bs, bl := labelsOf(o.BeforeDec.Scores)
	as, al := labelsOf(o.HardDec.Scores)
	p.Curves = append(p.Curves, report.Chart{Title: "ROC on the " + split + " rows", XLabel: "false-positive rate", YLabel: "true-positive rate (recall)", Diagonal: true,
		Series: []report.Series{
			{Name: "before (AUC " + fixed4(pick(o.Before).AUC) + ")", Points: report.ROC(bs, bl)},
			{Name: "after (AUC " + fixed4(pick(o.Hard).AUC) + ")", Points: report.ROC(as, al)},
		}})
	p.Histograms = append(p.Histograms, report.ScoreHistogram("Scores after training ("+split+" rows)", as, al))

	// Figures table.
	ft := report.Table{Title: "Figures", Columns: []string{"Policy", "Rows", "AUC", "KS", "Log loss", "Recall @ 1% FPR", "Recall @ 5% FPR"}}
	add := func(name string, fg Figures) {
		for _, sp := range []struct {
			n string
			s report.Summary
		}{{"fit", fg.Train}, {"selection", fg.Valid}, {"test", fg.Test}} {
			if sp.s.Rows == 0 {
				continue
			}
			ft.Rows = append(ft.Rows, []string{name, sp.n, fixed4(sp.s.AUC), fixed4(sp.s.KS), fixed4(sp.s.LogLoss), pct2(sp.s.RecallAtFPR1), pct2(sp.s.RecallAtFPR5)})
		}
	}
	add("before", o.Before)
	add("after (soft)", o.Soft)
	add("after (hard)", o.Hard)
	if info.Baseline != nil {
		add("logistic regression", *info.Baseline)
	}

	// Per-rule table, on the chosen split.
	rt := report.Table{Title: "Rules (" + split + " rows)", Columns: []string{"Rule", "Parameters (old → new)", "Hits before", "Hits after", "Bad rate before", "Bad rate after"}}
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
	rate := func(b, h int) string {
		if h == 0 {
			return report.Undefined
		}
		return fmt.Sprintf("%.1f%%", 100*float64(b)/float64(h))
	}
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
		rt.Rows = append(rt.Rows, []string{r.Name + " (" + what + ")", strings.Join(ps, "; "), strconv.Itoa(hb[i]), strconv.Itoa(ha[i]), rate(bb[i], hb[i]), rate(ba[i], ha[i])})
	}
	pt := report.Table{Title: "Parameters", Columns: []string{"Parameter", "Kind", "Old", "New", "Note"}}
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
		pt.Rows = append(pt.Rows, []string{c.Name, c.Kind.String(), c.Old, c.New, note})
	}
	p.Tables = append(p.Tables, ft, rt, pt)
	return p
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

func fixed4(f report.Float) string { return f.Fixed(4) }

func pct2(f report.Float) string { return f.Percent(2) }
