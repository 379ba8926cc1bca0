package report

import (
	"fmt"
	"path/filepath"
	"strconv"
)

// Training is what riskc train's report page shows, as package rules
// computes it: the page's layout lives here, next to the backtest page,
// and uses the same cards, charts, tables and number formats.
type Training struct {
	Policy, Version      string // the policy's name and version
	PolicyFile, DataFile string
	Seed                 uint64
	Fit, Selection, Test int    // rows per split
	Select               string // the selection figure
	BestEpoch, Epochs    int
	// Split names the rows the cards, ROC and rule table show: "test"
	// (which chose nothing), else "selection", else "fit".
	Split string
	// Before, Soft and Hard are the figures of the policy as written, the
	// trained graph and the tuned policy on the VM; Baseline, when set, a
	// reference model's (on BaselineColumns numeric columns).
	Before, Soft, Hard TrainingFigures
	Baseline           *TrainingFigures
	BaselineColumns    int
	// Start is epoch 0 (the policy as written), History the epochs.
	Start   TrainingEpoch
	History []TrainingEpoch
	// Scores before and after, and labels, of the labelled Split rows.
	BeforeScores, AfterScores []float64
	Labels                    []bool
	Rules                     []TrainingRule
	Params                    []TrainingParam
}

// TrainingFigures are a policy's figures on the fit, selection and test rows.
type TrainingFigures struct{ Fit, Selection, Test Summary }

// on returns the figures on the named split.
func (f TrainingFigures) on(split string) Summary {
	switch split {
	case "test":
		return f.Test
	case "selection":
		return f.Selection
	}
	return f.Fit
}

// TrainingEpoch is one epoch's figures.
type TrainingEpoch struct {
	Epoch                             int
	TrainLoss, ValidLogLoss, ValidAUC float64
}

// TrainingRule is a rule's line in the page's rule table.
type TrainingRule struct {
	Name, What            string // what: "score" or the forced action
	Params                string // "name: old → new; ..."
	HitsBefore, HitsAfter int
	BadsBefore, BadsAfter int
}

// TrainingParam is a parameter's line in the page's parameter table.
type TrainingParam struct{ Name, Kind, Old, New, Note string }

// TrainingPage is the --report page of a training run: summary cards, loss
// and selection AUC per epoch (from epoch 0, the policy as written), ROC
// before and after, the score distribution after, and the figures,
// per-rule and parameter tables.
func TrainingPage(t Training) Page {
	split := t.Split
	p := Page{
		Title: fmt.Sprintf("Training of %s %s", t.Policy, t.Version),
		Subtitle: fmt.Sprintf("%s on %s · %d fit rows, %d selection rows, %d test rows · seed %d · selected by %s: epoch %d of %d",
			filepath.Base(t.PolicyFile), filepath.Base(t.DataFile), t.Fit, t.Selection, t.Test, t.Seed, t.Select, t.BestEpoch, t.Epochs),
	}
	card := func(label string, s Float, note string) {
		p.Summary = append(p.Summary, KV{Label: label, Value: s.Fixed(4), Note: note})
	}
	card("AUC before", t.Before.on(split).AUC, split+" rows, as written")
	card("AUC after", t.Hard.on(split).AUC, split+" rows, tuned policy (VM)")
	card("AUC soft", t.Soft.on(split).AUC, split+" rows, trained graph")
	if t.Baseline != nil {
		card("AUC logistic regression", t.Baseline.on(split).AUC, fmt.Sprintf("%d numeric columns", t.BaselineColumns))
	}
	before, after := t.Before.on(split), t.Hard.on(split)
	p.Summary = append(p.Summary,
		KV{Label: "Recall @ 1% FPR", Value: after.RecallAtFPR1.Percent(2), Note: "before " + before.RecallAtFPR1.Percent(2)},
		KV{Label: "Recall @ 5% FPR", Value: after.RecallAtFPR5.Percent(2), Note: "before " + before.RecallAtFPR5.Percent(2)},
	)

	var trainLoss, validLoss, validAUC []Point
	// Epoch 0 is the policy as written: a candidate too.
	validLoss = append(validLoss, Point{FPR: 0, TPR: t.Start.ValidLogLoss})
	validAUC = append(validAUC, Point{FPR: 0, TPR: t.Start.ValidAUC})
	for _, h := range t.History {
		x := float64(h.Epoch)
		trainLoss = append(trainLoss, Point{FPR: x, TPR: h.TrainLoss})
		validLoss = append(validLoss, Point{FPR: x, TPR: h.ValidLogLoss})
		validAUC = append(validAUC, Point{FPR: x, TPR: h.ValidAUC})
	}
	p.Curves = append(p.Curves,
		Chart{Title: "Loss per epoch", XLabel: "epoch", YLabel: "loss",
			Series: []Series{{Name: "training loss (soft, with penalties)", Points: trainLoss}, {Name: "selection log loss (hard)", Points: validLoss}}},
		Chart{Title: "Selection AUC per epoch (hard)", XLabel: "epoch", YLabel: "AUC",
			Series: []Series{{Name: "selection AUC", Points: validAUC}}},
	)
	p.Curves = append(p.Curves, Chart{Title: "ROC on the " + split + " rows", XLabel: "false-positive rate", YLabel: "true-positive rate (recall)", Diagonal: true,
		Series: []Series{
			{Name: "before (AUC " + before.AUC.Fixed(4) + ")", Points: ROC(t.BeforeScores, t.Labels)},
			{Name: "after (AUC " + after.AUC.Fixed(4) + ")", Points: ROC(t.AfterScores, t.Labels)},
		}})
	p.Histograms = append(p.Histograms, ScoreHistogram("Scores after training ("+split+" rows)", t.AfterScores, t.Labels))

	// Figures table.
	ft := Table{Title: "Figures", Columns: []string{"Policy", "Rows", "AUC", "KS", "Log loss", "Recall @ 1% FPR", "Recall @ 5% FPR"}}
	add := func(name string, fg TrainingFigures) {
		for _, sp := range []struct {
			n string
			s Summary
		}{{"fit", fg.Fit}, {"selection", fg.Selection}, {"test", fg.Test}} {
			if sp.s.Rows == 0 {
				continue
			}
			ft.Rows = append(ft.Rows, []string{name, sp.n, sp.s.AUC.Fixed(4), sp.s.KS.Fixed(4), sp.s.LogLoss.Fixed(4), sp.s.RecallAtFPR1.Percent(2), sp.s.RecallAtFPR5.Percent(2)})
		}
	}
	add("before", t.Before)
	add("after (soft)", t.Soft)
	add("after (hard)", t.Hard)
	if t.Baseline != nil {
		add("logistic regression", *t.Baseline)
	}

	// Per-rule table, on the chosen split.
	rt := Table{Title: "Rules (" + split + " rows)", Columns: []string{"Rule", "Parameters (old → new)", "Hits before", "Hits after", "Bad rate before", "Bad rate after"}}
	rate := func(b, h int) string {
		if h == 0 {
			return Undefined
		}
		return fmt.Sprintf("%.1f%%", 100*float64(b)/float64(h))
	}
	for _, r := range t.Rules {
		rt.Rows = append(rt.Rows, []string{r.Name + " (" + r.What + ")", r.Params, strconv.Itoa(r.HitsBefore), strconv.Itoa(r.HitsAfter), rate(r.BadsBefore, r.HitsBefore), rate(r.BadsAfter, r.HitsAfter)})
	}
	pt := Table{Title: "Parameters", Columns: []string{"Parameter", "Kind", "Old", "New", "Note"}}
	for _, c := range t.Params {
		pt.Rows = append(pt.Rows, []string{c.Name, c.Kind, c.Old, c.New, c.Note})
	}
	p.Tables = append(p.Tables, ft, rt, pt)
	return p
}
