package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/riskforge/riskforge/report"
)

// Selection is the figure of the hard policy, on the selection rows, that
// chooses the epoch and decides whether training improved on the policy
// as written: log loss (the default: a proper score, and less noisy than
// AUC on a few hundred selection rows), AUC, or recall at a
// false-positive rate.
type Selection struct {
	Metric string  // "auc", "logloss" or "recall"
	FPR    float64 // for "recall"
}

// ParseSelection reads `auc`, `logloss`, `recall@fpr` (1%), `recall@5%` or
// `recall@0.05`.
func ParseSelection(s string) (Selection, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "auc":
		return Selection{Metric: "auc"}, nil
	case "", "logloss":
		return Selection{Metric: "logloss"}, nil
	case "recall", "recall@fpr":
		return Selection{Metric: "recall", FPR: 0.01}, nil
	}
	if rest, ok := strings.CutPrefix(s, "recall@"); ok {
		scale := 1.0
		if p, ok := strings.CutSuffix(rest, "%"); ok {
			rest, scale = p, 0.01
		}
		if v, err := strconv.ParseFloat(rest, 64); err == nil && v*scale > 0 && v*scale < 1 {
			return Selection{Metric: "recall", FPR: v * scale}, nil
		}
	}
	return Selection{}, fmt.Errorf("unknown selection %q: use auc, logloss or recall@fpr (recall@1%%, recall@0.05)", s)
}

func (s Selection) metric() string {
	if s.Metric == "" {
		return "logloss"
	}
	return s.Metric
}

// String names the selection as the flag reads it.
func (s Selection) String() string {
	if s.metric() == "recall" {
		return "recall@" + strconv.FormatFloat(100*s.FPR, 'g', 4, 64) + "%"
	}
	return s.metric()
}

// Better reports whether figure a beats b (by more than rounding noise);
// an undefined figure never does.
func (s Selection) Better(a, b float64) bool {
	if math.IsNaN(a) {
		return false
	}
	if math.IsNaN(b) {
		return true
	}
	if s.metric() == "logloss" {
		return a < b-1e-9
	}
	return a > b+1e-9
}

// figure computes the selection figure from the graph's hard outputs.
func (s Selection) figure(scores, probs []float64, labels []bool, st EpochStats) float64 {
	switch s.metric() {
	case "logloss":
		return st.ValidLogLoss
	case "recall":
		return report.RecallAtFPR(scores, labels, s.FPR)
	}
	return st.ValidAUC
}

// Of computes the selection figure of VM scores on rows (labelled ones),
// as riskc eval would: the log loss is that of the score.
func (s Selection) Of(scores, labels []float64, rows []int) float64 {
	sc, l := make([]float64, 0, len(rows)), make([]bool, 0, len(rows))
	for _, r := range rows {
		if !math.IsNaN(labels[r]) {
			sc, l = append(sc, scores[r]), append(l, labels[r] == 1)
		}
	}
	if len(sc) == 0 {
		return math.NaN()
	}
	switch s.metric() {
	case "logloss":
		return report.LogLoss(sc, l)
	case "recall":
		return report.RecallAtFPR(sc, l, s.FPR)
	}
	return report.AUC(sc, l)
}
