package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/riskforge/riskforge/report"
	"github.com/riskforge/riskforge/rules"
	"github.com/riskforge/riskforge/vm"
)

// printTrain prints a training run: parameters, reasons, signs, support,
// the figures per role of rows, suggestions and timing.
func printTrain(w io.Writer, res *rules.RunResult, sel rules.Selection) {
	printChanges(w, res.Outcome, res.Changes)
	for _, n := range res.Reasons {
		if n.Rewritten {
			fmt.Fprintf(w, "  reason of %s (line %d): %q → %q\n", n.Rule, n.Line, n.Old, n.New)
		}
		if n.Note != "" {
			fmt.Fprintf(w, "  warning: reason of %s (line %d) %q %s\n", n.Rule, n.Line, n.Old, n.Note)
		}
	}
	for _, s := range res.Signs {
		if s.Held {
			fmt.Fprintf(w, "  warning: %s.weight held at %s: the data pulls it across 0 (sign flip refused; --allow-flip %s lets it)\n", s.Rule, s.New, s.Rule)
		} else {
			fmt.Fprintf(w, "  note: %s.weight changed sign %s → %s (allowed by --allow-flip)\n", s.Rule, s.Old, s.New)
		}
	}
	for _, s := range res.Support {
		if s.Flag != "" {
			fmt.Fprintf(w, "  warning: rule %s %s; before training %.2f%%\n", s.Rule, s.Flag, 100*s.Before)
		}
	}
	printFigures(w, res)
	if res.Review != nil {
		printReview(w, res.Review)
	}
	if len(res.Suggestions) > 0 {
		fmt.Fprintf(w, "\nsuggested rules (commented out at the end of the tuned policy; figures on the selection rows):\n")
		fmt.Fprintf(w, "  %-13s %8s %9s %6s %9s  %s\n", "rule", "hit rate", "bad rate", "lift", "gain", "condition")
		for _, s := range res.Suggestions {
			fmt.Fprintf(w, "  %-13s %8s %9s %6.2f %9.4f  %s (score %.2f)\n", s.Name, fmtPct(report.Float(s.HitRate)), fmtPct(report.Float(s.BadRate)), s.Lift, s.Gain, s.Cond, s.Weight)
		}
	}
	r := res.Result
	epochs := len(r.History)
	perEpoch := r.History[epochs-1].Seconds / float64(epochs)
	best := fmt.Sprintf("best %d", r.BestEpoch)
	if r.BestEpoch == 0 {
		best = "best 0: the policy as written"
	}
	fmt.Fprintf(w, "\nselected by %s on the selection rows: %s → %s\n", sel, fmtFloat(report.Float(res.SelectBefore)), fmtFloat(report.Float(res.SelectAfter)))
	fmt.Fprintf(w, "%d epochs (%s, temperature %.3g%s), %.3fs per epoch, %.0f rows/s; %.1fs in all\n",
		epochs, best, r.BestTemp, map[bool]string{true: ", stopped early", false: ""}[r.StoppedEarly],
		perEpoch, float64(len(res.Train))/perEpoch, res.Elapsed.Seconds())
}

func printChanges(w io.Writer, o *rules.Outcome, changes []rules.Change) {
	width := 0
	for _, c := range changes {
		width = max(width, len(c.Name))
	}
	fmt.Fprintln(w, "parameters:")
	for _, c := range changes {
		note := ""
		switch frozen, why := o.Problem.Frozen(c.Param); {
		case frozen:
			note = "  (kept: " + why + ")"
		case c.Kind == vm.Cutoff && !c.Moved():
			note = "  (cut-off: not trained)"
		case !c.Moved():
			note = "  (unchanged)"
		}
		fmt.Fprintf(w, "  %-*s  %s → %s%s\n", width+1, c.Name+":", c.Old, c.New, note)
	}
}

func fmtSummaryRow(w io.Writer, name string, s report.Summary) {
	fmt.Fprintf(w, "  %-18s %7s %7s %8s %10s %10s\n", name, fmtFloat(s.AUC), fmtFloat(s.KS), fmtFloat(s.LogLoss), fmtPct(s.RecallAtFPR1), fmtPct(s.RecallAtFPR5))
}

// printFigures prints the figures of each role of rows: fit (trained
// on), selection (chose the epoch) and test (chose nothing: the hold-out).
func printFigures(w io.Writer, res *rules.RunResult) {
	fmt.Fprintf(w, "\n%-20s %7s %7s %8s %10s %10s\n", "", "auc", "ks", "logloss", "recall@1%", "recall@5%")
	roles := []struct {
		name string
		rows []int
		pick func(rules.Figures) report.Summary
	}{
		{"fit", res.Train, func(f rules.Figures) report.Summary { return f.Train }},
		{"selection", res.Valid, func(f rules.Figures) report.Summary { return f.Valid }},
		{"test (hold-out)", res.Test, func(f rules.Figures) report.Summary { return f.Test }},
	}
	for _, role := range roles {
		if len(role.rows) == 0 {
			fmt.Fprintf(w, "%s: no rows\n", role.name)
			continue
		}
		fmt.Fprintf(w, "%s (%d rows)\n", role.name, len(role.rows))
		fmtSummaryRow(w, "before", role.pick(res.Before))
		fmtSummaryRow(w, "after (soft)", role.pick(res.Soft))
		fmtSummaryRow(w, "after (hard)", role.pick(res.Hard))
		if res.Baseline != nil {
			fmtSummaryRow(w, "logistic regr.", role.pick(res.Baseline.Fig))
		}
	}
	gap := func(s, h report.Summary) string {
		return fmt.Sprintf("auc %+.4f, logloss %+.4f", float64(h.AUC-s.AUC), float64(h.LogLoss-s.LogLoss))
	}
	var gaps []string
	for _, role := range roles[1:] {
		if len(role.rows) > 0 {
			gaps = append(gaps, strings.TrimSuffix(role.name, " (hold-out)")+" "+gap(role.pick(res.Soft), role.pick(res.Hard)))
		}
	}
	if len(gaps) > 0 {
		fmt.Fprintf(w, "soft–hard gap (hard minus soft): %s\n", strings.Join(gaps, "; "))
	}
	if len(res.Valid) == 0 {
		fmt.Fprintln(w, "warning: no selection rows (--valid-frac 0): the epoch and the check against the policy as written use the fit rows")
	}
	if len(res.Test) == 0 {
		fmt.Fprintln(w, "warning: no test rows (--test-frac 0 and no --test): every figure above comes from rows that trained or chose the epoch")
	}
	if res.Baseline != nil {
		fmt.Fprintf(w, "logistic regression on %s\n", res.Baseline.Describe())
	}
}

func printReview(w io.Writer, rc *rules.ReviewCut) {
	fmt.Fprintf(w, "\nreview rate on the fit rows: %.2f%% → %.2f%%", 100*rc.RateOld, 100*rc.RateNew)
	if rc.Param >= 0 && rc.New != rc.Old {
		fmt.Fprintf(w, " (review cut-off %g → %g)", rc.Old, rc.New)
	}
	if !rc.Satisfied {
		fmt.Fprintf(w, "; the limit is not met: %s", rc.Note)
	}
	fmt.Fprintln(w)
}

func printReproduce(w io.Writer, f trainFlags, res *rules.RunResult) {
	extra := " --label " + f.label
	if f.positive != "" {
		extra += " --positive " + f.positive
	}
	if f.event != "" {
		extra += " --event " + f.event
	}
	if len(f.na) > 0 {
		extra += " --na '" + strings.Join(f.na, ",") + "'"
	}
	extra += f.lookups.args()
	windows := len(res.Prog().Windows) > 0
	fmt.Fprintf(w, "\nreproduce with the VM:\n")
	if f.test == "" {
		fmt.Fprintf(w, "  riskc eval --policy %s --data %s%s   # auc %s: after (hard) on every labelled row\n", f.out, f.data, extra, fmtFloat(res.Hard.All.AUC))
	}
	test := ""
	switch {
	case f.test != "":
		test = f.test
	case f.holdoutOut != "" && len(res.Test) > 0:
		test = f.holdoutOut
	}
	if test != "" {
		note := "after (hard) on test"
		if windows {
			note = "differs from test: the policy's windows see only these rows there"
		}
		fmt.Fprintf(w, "  riskc eval --policy %s --data %s%s   # auc %s: %s\n", f.out, test, extra, fmtFloat(res.Hard.Test.AUC), note)
	}
}
