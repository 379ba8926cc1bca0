// Package backtest replays labelled history through a compiled policy
// (with package replay: in parallel, windows fed in input order), and
// accumulates the results into a report.Backtest and optionally writes
// them as JSON Lines, both in input order. An evaluation error stops the
// run and is returned.
package backtest

import (
	"encoding/json"
	"io"
	"time"

	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/replay"
	"github.com/riskforge/riskforge/report"
	"github.com/riskforge/riskforge/vm"
)

// Options tune a run.
type Options struct {
	Workers  int            // 0: one per CPU
	Out      io.Writer      // decisions as JSON Lines, in input order; nil for none
	Models   vm.ModelRunner // nil: every model call uses its on_error value
	Params   []float64      // parameter values to use instead of the program's
	Progress func(rows int) // called from time to time with rows done
	Windows  vm.WindowStore // nil: a fresh in-memory store
	// Prefetch, when set, is called with each batch of requests before it
	// is evaluated and returns the model runner for that batch: how eval
	// scores models in batches instead of one row at a time.
	Prefetch func(reqs []*vm.Request) (vm.ModelRunner, error)
}

// Stats describe a finished run.
type Stats struct {
	Rows       int
	Elapsed    time.Duration
	Workers    int
	Sequential bool // windows forced file order on one worker
	Replayed   bool // windows were fed in file order and replayed to parallel workers
}

// RowsPerSecond is the throughput of the run.
func (s Stats) RowsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Rows) / s.Elapsed.Seconds()
}

// results are a batch's figures, filled by a worker and accumulated in
// input order, so figures do not depend on the number of workers.
type results struct {
	scores  []float64
	actions []vm.Action
	fired   []int // rule indexes of all rows, row i's at firedAt[i]:firedAt[i+1]
	firedAt []int
	out     []byte
}

// Source yields rows: a dataset.Reader in file order, or a
// dataset.Ordered in event-time order.
type Source = replay.Source

// Run evaluates every row of r with prog.
func Run(prog *vm.Program, r Source, opts Options) (*report.Backtest, Stats, error) {
	start := time.Now()
	total := report.NewBacktest(ruleNames(prog), actionNames)
	rows := 0
	h := replay.Handler[results]{
		Row: func(b *replay.Batch[results], i int, _ *vm.Machine, d *vm.Decision) error {
			res := &b.Res
			if i == 0 {
				res.firedAt = append(res.firedAt, 0)
			}
			for _, f := range d.Fired {
				res.fired = append(res.fired, f.Rule)
			}
			res.scores, res.actions = append(res.scores, d.Score), append(res.actions, d.Action)
			res.firedAt = append(res.firedAt, len(res.fired))
			if opts.Out != nil {
				res.out = appendDecision(res.out, b.Lines[i], b.Reqs[i], d, b.Labels[i])
			}
			return nil
		},
		Done: func(b *replay.Batch[results]) error {
			res := &b.Res
			for i, label := range b.Labels {
				total.Add(res.scores[i], actionNames[res.actions[i]], res.fired[res.firedAt[i]:res.firedAt[i+1]], label)
			}
			var err error
			if opts.Out != nil {
				_, err = opts.Out.Write(res.out)
			}
			rows += len(b.Labels)
			if opts.Progress != nil {
				opts.Progress(rows)
			}
			*res = results{scores: res.scores[:0], actions: res.actions[:0], fired: res.fired[:0], firedAt: res.firedAt[:0], out: res.out[:0]}
			return err
		},
	}
	rs, err := replay.Run(prog, r, replay.Options{Workers: opts.Workers, Models: opts.Models, Params: opts.Params,
		Windows: opts.Windows, Prefetch: opts.Prefetch}, h)
	stats := Stats{Rows: rs.Rows, Elapsed: time.Since(start), Workers: rs.Workers, Sequential: rs.Sequential, Replayed: rs.Replayed}
	return total, stats, err
}

var actionNames = []string{"approve", "review", "reject"}

func ruleNames(prog *vm.Program) []string {
	names := make([]string, len(prog.Rules))
	for i, r := range prog.Rules {
		names[i] = r.Name
	}
	return names
}

// decisionLine is one row of the decisions file.
type decisionLine struct {
	Line      int         `json:"line"`
	RequestID string      `json:"request_id,omitempty"`
	Event     string      `json:"event,omitempty"`
	Decision  string      `json:"decision"`
	Score     float64     `json:"score"`
	Rules     []firedRule `json:"rules"`
	Degraded  bool        `json:"degraded,omitempty"`
	Label     *int        `json:"label,omitempty"`
}

type firedRule struct {
	Name   string  `json:"name"`
	Reason string  `json:"reason"`
	Weight float64 `json:"weight"`
}

func appendDecision(buf []byte, line int, req *vm.Request, d *vm.Decision, label int) []byte {
	dl := decisionLine{Line: line, RequestID: req.ID, Event: req.Event, Decision: d.Action.String(),
		Score: d.Score, Rules: make([]firedRule, 0, len(d.Fired)), Degraded: d.Degraded}
	for _, f := range d.Fired {
		dl.Rules = append(dl.Rules, firedRule{Name: f.Name, Reason: f.Reason, Weight: f.Weight})
	}
	if label != dataset.Unlabelled {
		dl.Label = &label
	}
	data, _ := json.Marshal(dl)
	return append(append(buf, data...), '\n')
}
