package rules

import (
	"github.com/riskforge/riskforge/report"
	"github.com/riskforge/riskforge/vm"
)

// MetricsInfo names the files of a run for its metrics document.
type MetricsInfo struct {
	Policy, Tuned, Data, Test string
	Seed                      uint64
}

// Metrics is the --metrics-json document of a training run.
type Metrics struct {
	Policy       string                  `json:"policy"`
	Tuned        string                  `json:"tuned"`
	Data         string                  `json:"data"`
	Test         string                  `json:"test,omitempty"`
	Seed         uint64                  `json:"seed"`
	Rows         int                     `json:"rows"`
	FitRows      int                     `json:"fit_rows"`
	SelRows      int                     `json:"selection_rows"`
	TestRows     int                     `json:"test_rows"`
	Select       string                  `json:"select"`
	SelectBefore report.Float            `json:"select_before"`
	SelectAfter  report.Float            `json:"select_after"`
	Improved     bool                    `json:"improved"`
	Before       Figures                 `json:"before"`
	AfterSoft    Figures                 `json:"after_soft"`
	AfterHard    Figures                 `json:"after_hard"`
	Baseline     *Figures                `json:"baseline_logreg,omitempty"`
	BaselineCols []string                `json:"baseline_columns,omitempty"`
	Params       map[string]ParamMetrics `json:"params"`
	Start        EpochStats              `json:"epoch0"`
	Epochs       []EpochStats            `json:"epochs"`
	BestEpoch    int                     `json:"best_epoch"`
	Temperature  float64                 `json:"temperature"`
	StoppedEarly bool                    `json:"stopped_early"`
	SecPerEpoch  float64                 `json:"seconds_per_epoch"`
	RowsPerSec   float64                 `json:"rows_per_second"`
	Seconds      float64                 `json:"seconds"`
	Review       *ReviewCut              `json:"review,omitempty"`
	Support      []RuleSupport           `json:"support"`
	Signs        []SignChange            `json:"signs,omitempty"`
	Reasons      []ReasonNote            `json:"reasons,omitempty"`
	Suggestions  []Suggestion            `json:"suggestions,omitempty"`
	Decisions    map[string]ActionCounts `json:"decisions"`
}

// ParamMetrics is one parameter in the metrics document.
type ParamMetrics struct {
	Kind    string  `json:"kind"`
	Old     float64 `json:"old"`
	New     float64 `json:"new"`
	OldText string  `json:"old_text"`
	NewText string  `json:"new_text"`
	Trained bool    `json:"trained"`
	Frozen  string  `json:"frozen,omitempty"`
}

// ActionCounts are action counts before and after training.
type ActionCounts struct {
	Before map[string]int `json:"before"`
	After  map[string]int `json:"after"`
}

// Prog returns the policy's serving program.
func (r *RunResult) Prog() *vm.Program { return r.opts.Prog }

// Metrics returns the run's metrics document.
func (r *RunResult) Metrics(info MetricsInfo) Metrics {
	o := r.Outcome
	h := o.Result.History
	m := Metrics{Policy: info.Policy, Tuned: info.Tuned, Data: info.Data, Test: info.Test, Seed: info.Seed, Rows: o.Data.Rows,
		FitRows: len(o.Train), SelRows: len(o.Valid), TestRows: len(o.Test), Select: o.Select.String(),
		SelectBefore: report.Float(o.SelectBefore), SelectAfter: report.Float(o.SelectAfter), Improved: o.Improved,
		Before: o.Before, AfterSoft: o.Soft, AfterHard: o.Hard, Params: map[string]ParamMetrics{}, Start: o.Result.Start, Epochs: h,
		BestEpoch: o.Result.BestEpoch, Temperature: o.Result.BestTemp, StoppedEarly: o.Result.StoppedEarly,
		Seconds: r.Elapsed.Seconds(), Review: o.Review, Support: o.Support, Signs: o.Signs, Reasons: r.Reasons, Suggestions: r.Suggestions}
	m.SecPerEpoch = h[len(h)-1].Seconds / float64(len(h))
	m.RowsPerSec = float64(len(o.Train)) / m.SecPerEpoch
	if r.Baseline != nil {
		m.Baseline, m.BaselineCols = &r.Baseline.Fig, r.Baseline.Columns
	}
	for _, c := range r.Changes {
		_, why := o.Problem.Frozen(c.Param)
		m.Params[c.Name] = ParamMetrics{Kind: c.Kind.String(), Old: c.OldValue, New: c.NewValue, OldText: c.Old, NewText: c.New,
			Trained: o.Problem.Trainable(c.Param), Frozen: why}
	}
	m.Decisions = map[string]ActionCounts{}
	for split, rows := range map[string][]int{"fit": o.Train, "selection": o.Valid, "test": o.Test} {
		m.Decisions[split] = ActionCounts{Before: countActions(o.BeforeDec, rows), After: countActions(o.HardDec, rows)}
	}
	return m
}

func countActions(d *Decisions, rows []int) map[string]int {
	c := map[string]int{"approve": 0, "review": 0, "reject": 0}
	for _, r := range rows {
		c[d.Actions[r].String()]++
	}
	return c
}
