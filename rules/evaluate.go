package rules

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/riskforge/riskforge/replay"
	"github.com/riskforge/riskforge/report"
	"github.com/riskforge/riskforge/vm"
)

// Decisions are the VM's decisions on every row of a data set.
type Decisions struct {
	Scores  []float64
	Actions []vm.Action
	Forced  []int8    // strongest override (emit ACTION), -1 when none fired
	Floor   []int8    // strongest floor (emit at_least ACTION), -1 when none fired
	Fired   [][]int32 // fired rules per row
}

// EvalVM evaluates every request with the serving VM and the given
// parameter values (nil: the program's own), exactly as `riskc eval` does
// (package replay: in parallel, windows fed in the order of reqs through a
// fresh window store).
func EvalVM(prog *vm.Program, params []float64, reqs []*vm.Request, models vm.ModelRunner) (*Decisions, error) {
	n := len(reqs)
	d := &Decisions{Scores: make([]float64, n), Actions: make([]vm.Action, n), Forced: make([]int8, n), Floor: make([]int8, n), Fired: make([][]int32, n)}
	_, err := replay.Rows(prog, reqs, replay.Options{Models: models, Params: params}, replay.Handler[struct{}]{
		Row: func(b *replay.Batch[struct{}], i int, _ *vm.Machine, dec *vm.Decision) error {
			r := b.Start + i
			d.Scores[r], d.Actions[r], d.Forced[r], d.Floor[r] = dec.Score, dec.Action, -1, -1
			fired := make([]int32, 0, len(dec.Fired))
			for _, f := range dec.Fired {
				fired = append(fired, int32(f.Rule))
				switch {
				case f.Forced && f.AtLeast:
					d.Floor[r] = max(d.Floor[r], int8(f.Action))
				case f.Forced:
					d.Forced[r] = max(d.Forced[r], int8(f.Action))
				}
			}
			d.Fired[r] = fired
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Summary returns the score figures of the labelled rows among rows.
func Summary(scores []float64, labels []float64, rows []int) report.Summary {
	s, l := make([]float64, 0, len(rows)), make([]bool, 0, len(rows))
	for _, r := range rows {
		if math.IsNaN(labels[r]) {
			continue
		}
		s, l = append(s, scores[r]), append(l, labels[r] == 1)
	}
	return report.Summarize(s, l)
}

// ActionRate returns the share of rows that get action a, given the
// parameter values (which hold the decide block's cut-offs).
func ActionRate(prog *vm.Program, params []float64, d *Decisions, rows []int, a vm.Action) float64 {
	if len(rows) == 0 {
		return 0
	}
	n := 0
	for _, r := range rows {
		if action(prog, params, d.Scores[r], d.Forced[r], d.Floor[r]) == a {
			n++
		}
	}
	return float64(n) / float64(len(rows))
}

// action is the VM's choice of action (vm.Decide.Choose) for a row's
// score, strongest override and floor (-1: none).
func action(prog *vm.Program, params []float64, score float64, forced, floor int8) vm.Action {
	return prog.Decide.Choose(score, params, vm.Action(max(forced, 0)), forced >= 0, vm.Action(max(floor, 0)))
}

// ReviewCut is the outcome of LimitReview.
type ReviewCut struct {
	Param     int     // the review cut-off's parameter, -1 when there is none to move
	Old, New  float64 // cut-off values
	Text      string  // literal of New
	RateOld   float64 // review rate on the rows before
	RateNew   float64 // and after
	Satisfied bool
	Note      string
}

// LimitReview raises the decide block's review cut-off, if needed, so that
// at most maxRate of rows get review (on the given rows, with the VM's
// decisions d). The new cut-off is the smallest number with three
// decimals that meets the limit, kept below the cut-offs above it.
func LimitReview(prog *vm.Program, params []float64, d *Decisions, rows []int, maxRate float64) ReviewCut {
	dc := &prog.Decide
	cuts := cutValues(prog, params)
	ri := -1
	for i, c := range dc.Cuts {
		if c.Action == vm.Review {
			ri = i
		}
	}
	// ps are the parameter values with the review cut-off as it moves.
	ps := append([]float64(nil), params...)
	setCut := func(v float64) { cuts[ri], ps[dc.Cuts[ri].Param] = v, v }
	res := ReviewCut{Param: -1}
	res.RateOld = ActionRate(prog, ps, d, rows, vm.Review)
	res.RateNew = res.RateOld
	if res.RateOld <= maxRate {
		res.Satisfied = true
		res.Note = "already within the limit"
		if ri >= 0 {
			res.Old, res.New = cuts[ri], cuts[ri]
		}
		return res
	}
	if ri < 0 {
		res.Note = "the decide block has no review line; only forced rules give review" + forcedReviewers(prog, ps, d, rows)
		return res
	}
	res.Old = cuts[ri]
	if dc.Cuts[ri].Param < 0 {
		res.Note = "the review cut-off is fixed"
		return res
	}
	res.Param = int(dc.Cuts[ri].Param)
	ceiling := 1.0
	if ri > 0 {
		ceiling = cuts[ri-1] - 0.001 // strictly below the line above
	}
	// Candidate cut-offs: the scores of the rows, rounded up to 3 decimals.
	var cands []float64
	for _, r := range rows {
		if s := d.Scores[r]; s > res.Old {
			cands = append(cands, math.Ceil(s*1000-1e-9)/1000)
		}
	}
	cands = append(cands, ceiling)
	sort.Float64s(cands)
	uniq := cands[:0]
	for _, c := range cands {
		if c > res.Old && c <= ceiling && (len(uniq) == 0 || c != uniq[len(uniq)-1]) {
			uniq = append(uniq, c)
		}
	}
	// The review rate only falls as the cut-off rises: bisect.
	best := math.NaN()
	i := sort.Search(len(uniq), func(k int) bool {
		setCut(uniq[k])
		return ActionRate(prog, ps, d, rows, vm.Review) <= maxRate
	})
	if i < len(uniq) {
		best = uniq[i]
	}
	if math.IsNaN(best) {
		best = math.Max(res.Old, math.Floor(ceiling*1000)/1000)
		res.Note = "even the highest review cut-off leaves too many reviews" + forcedReviewers(prog, ps, d, rows)
	} else {
		res.Satisfied = true
	}
	setCut(best)
	res.New = best
	res.Text = snapFloat(best, 0.1)
	if v, ok := literalValue(res.Text, ""); ok {
		res.New = v
		setCut(v)
	}
	res.RateNew = ActionRate(prog, ps, d, rows, vm.Review)
	return res
}

// forcedReviewers names the forced review rules (overrides and floors)
// that give review to rows whatever the cut-off, with how many rows each
// fired on and the share of rows they review together: what makes a
// review limit unreachable.
func forcedReviewers(prog *vm.Program, params []float64, d *Decisions, rows []int) string {
	counts := make([]int, len(prog.Rules))
	reviewed := 0
	for _, r := range rows {
		byRule := d.Forced[r] == int8(vm.Review) || (d.Forced[r] < 0 && d.Floor[r] == int8(vm.Review))
		if !byRule || action(prog, params, d.Scores[r], d.Forced[r], d.Floor[r]) != vm.Review {
			continue // no forced review, or a reject wins
		}
		reviewed++
		for _, ru := range d.Fired[r] {
			if rule := &prog.Rules[ru]; rule.Forces && rule.Action == vm.Review {
				counts[ru]++
			}
		}
	}
	var parts []string
	for ru, n := range counts {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s (%d rows)", prog.Rules[ru].Name, n))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf(": forced review rules review %.1f%% of the rows whatever the cut-off: %s", 100*float64(reviewed)/float64(max(len(rows), 1)), strings.Join(parts, ", "))
}
