package report

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// TestTrainingPage checks the training page's layout: cards on the chosen
// split (with the baseline's when given), epoch 0 leading the curves, and
// the rule table marking the bad rate of a rule that never fired with
// Undefined; and that it renders.
func TestTrainingPage(t *testing.T) {
	sum := func(auc float64) Summary {
		return Summary{Rows: 10, AUC: Float(auc), KS: 0.5, LogLoss: 0.4, RecallAtFPR1: Float(math.NaN()), RecallAtFPR5: 0.25}
	}
	tr := Training{Policy: "p", Version: "1", PolicyFile: "a/p.risk", DataFile: "b/d.csv", Seed: 3,
		Fit: 10, Selection: 10, Test: 0, Select: "logloss", BestEpoch: 2, Epochs: 3, Split: "selection",
		Before: TrainingFigures{Fit: sum(0.6), Selection: sum(0.61)}, Soft: TrainingFigures{Selection: sum(0.7)},
		Hard: TrainingFigures{Fit: sum(0.68), Selection: sum(0.69)}, Baseline: &TrainingFigures{Selection: sum(0.75)}, BaselineColumns: 4,
		Start:        TrainingEpoch{ValidLogLoss: 0.7, ValidAUC: 0.61},
		History:      []TrainingEpoch{{Epoch: 1, TrainLoss: 0.6, ValidLogLoss: 0.65, ValidAUC: 0.66}},
		BeforeScores: []float64{0.1, 0.9}, AfterScores: []float64{0.2, 0.8}, Labels: []bool{false, true},
		Rules:  []TrainingRule{{Name: "r", What: "score", HitsBefore: 4, BadsBefore: 1}},
		Params: []TrainingParam{{Name: "r.x", Kind: "threshold", Old: "1", New: "2"}},
	}
	p := TrainingPage(tr)
	if p.Title != "Training of p 1" || !strings.HasPrefix(p.Subtitle, "p.risk on d.csv · 10 fit rows") {
		t.Errorf("title %q, subtitle %q", p.Title, p.Subtitle)
	}
	var cards []string
	for _, kv := range p.Summary {
		cards = append(cards, kv.Label+"="+kv.Value)
	}
	if got := strings.Join(cards, ", "); got != "AUC before=0.6100, AUC after=0.6900, AUC soft=0.7000, AUC logistic regression=0.7500, Recall @ 1% FPR=—, Recall @ 5% FPR=25.00%" {
		t.Errorf("cards: %s", got)
	}
	if pts := p.Curves[1].Series[0].Points; len(pts) != 2 || pts[0].FPR != 0 || pts[0].TPR != 0.61 {
		t.Errorf("selection AUC curve %v: epoch 0 first", pts)
	}
	if len(p.Tables) != 3 || len(p.Tables[0].Rows) != 6 {
		t.Fatalf("tables %d, figures rows %v", len(p.Tables), p.Tables[0].Rows)
	}
	if row := p.Tables[1].Rows[0]; row[0] != "r (score)" || row[4] != "25.0%" || row[5] != Undefined {
		t.Errorf("rule row %q", row)
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, p); err != nil || !strings.Contains(b.String(), "Selection AUC per epoch") {
		t.Errorf("render: %v", err)
	}
}
