package main

import (
	"fmt"
	"io"
	"math"
	"os/exec"
	"slices"
	"time"
)

// On a shared 2-core machine one measurement of two servers, one after
// the other, moves the ratio between them by ±0.06–0.15 from run to run.
// compare --rounds therefore measures the two arms of each comparison
// alternately, several times, and judges the median of the per-round
// ratios.

// laterWarmup is the longest warm-up before a target's later measurements
// in one comparison: the server is warm by then (heap grown, pools filled,
// windows populated); only the new connections need to settle.
const laterWarmup = time.Second

// warmupFor returns the warm-up before an arm's measurement in round
// (0-based): the full --warmup before the first one, at most laterWarmup
// before the later ones.
func warmupFor(round int, first time.Duration) time.Duration {
	if round == 0 {
		return first
	}
	return min(first, laterWarmup)
}

// roundOrder returns the order in which the two arms of a comparison are
// measured in round (0-based): the baseline (0) first in even rounds, the
// other arm (1) first in odd ones, so A B, B A, A B, …: a drift of the
// machine over the run weighs on both arms alike, and round 0 keeps the
// order compare has always used.
func roundOrder(round int) [2]int {
	if round%2 == 0 {
		return [2]int{0, 1}
	}
	return [2]int{1, 0}
}

// measureFunc measures one arm of a comparison after the given warm-up.
type measureFunc func(warmup time.Duration) (*result, error)

// alternate measures the two arms rounds times in roundOrder, the first
// round after warmup and the later ones after warmupFor's shorter one. It
// calls report after each round with that round's results (baseline
// first) and returns all rounds; an error from an arm or from report ends
// it.
func alternate(rounds int, warmup time.Duration, arms [2]measureFunc, report func(round int, rs [2]*result) error) ([][2]*result, error) {
	var all [][2]*result
	for round := range rounds {
		var rs [2]*result
		for _, i := range roundOrder(round) {
			r, err := arms[i](warmupFor(round, warmup))
			if err != nil {
				return all, err
			}
			rs[i] = r
		}
		all = append(all, rs)
		if err := report(round, rs); err != nil {
			return all, err
		}
	}
	return all, nil
}

// roundHeading prints which round follows, which arm went first and the
// load average; nothing with a single round, whose output keeps the shape
// it had before rounds existed.
func roundHeading(w io.Writer, rounds, round int, names [2]string) {
	if rounds <= 1 {
		return
	}
	fmt.Fprintf(w, "round %d of %d (%s first; load average %s):\n", round+1, rounds, names[roundOrder(round)[0]], loadAvg())
}

// spread is the median and the range (lowest, highest) of one figure over
// the rounds.
type spread struct{ median, lo, hi float64 }

// spreadOf returns the median (the mean of the two middle values for an
// even count) and range of xs. With no values, or a NaN among them, every
// field is NaN: a verdict on it is then never "met".
func spreadOf(xs []float64) spread {
	nan := math.NaN()
	if len(xs) == 0 || slices.ContainsFunc(xs, math.IsNaN) {
		return spread{nan, nan, nan}
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	m := s[n/2]
	if n%2 == 0 {
		m = (s[n/2-1] + s[n/2]) / 2
	}
	return spread{median: m, lo: s[0], hi: s[n-1]}
}

// atLeast and atMost are the verdicts on the median; false for NaN.
func (s spread) atLeast(x float64) bool { return s.median >= x }
func (s spread) atMost(x float64) bool  { return s.median <= x }

// format prints the median and range with the given verb and unit suffix,
// e.g. "0.64 (0.60-0.68)" or "1.92x (1.80-2.10)".
func (s spread) format(verb, unit string) string {
	return fmt.Sprintf(verb+unit+" ("+verb+"-"+verb+")", s.median, s.lo, s.hi)
}

// ratioSpreads returns the spreads over rounds of other / baseline
// throughput, CPU per request and p99 (ratios of each round's pair).
func ratioSpreads(rounds [][2]*result) (throughput, cpu, p99 spread) {
	var tp, c, p []float64
	for _, rs := range rounds {
		a, b, d := ratios(rs[0], rs[1])
		tp, c, p = append(tp, a), append(c, b), append(p, d)
	}
	return spreadOf(tp), spreadOf(c), spreadOf(p)
}

// armSpread returns the spread over rounds of one arm's figure.
func armSpread(rounds [][2]*result, arm int, figure func(*result) float64) spread {
	xs := make([]float64, len(rounds))
	for i, rs := range rounds {
		xs[i] = figure(rs[arm])
	}
	return spreadOf(xs)
}

// scenarioVerdicts are the scenario targets judged on the medians of the
// per-round riskd / echo ratios.
func scenarioVerdicts(throughput, cpu, p99 spread) (okThroughput, okCPU, okP99 bool) {
	return throughput.atLeast(targetThroughput), cpu.atMost(targetCPU), p99.atMost(targetP99)
}

// process is a server measured repeatedly in one comparison: started by
// its first measurement (so a single round starts the processes in the
// order compare always has) and kept for the later ones.
type process struct {
	start  func() (*exec.Cmd, target, error)
	bodies *bodySet
	f      loadFlags
	cmd    *exec.Cmd
	t      target
}

// measure drives the server (starting it first if need be) after warmup.
func (p *process) measure(warmup time.Duration) (*result, error) {
	if p.cmd == nil {
		cmd, t, err := p.start()
		if err != nil {
			return nil, err
		}
		p.cmd, p.t = cmd, t
	}
	f := p.f
	f.warmup = warmup
	return driveMeasured(p.t, p.cmd.Process.Pid, p.bodies, f)
}

// stop stops the server if it was started.
func (p *process) stop() {
	if p.cmd != nil {
		stopChild(p.cmd)
		p.cmd = nil
	}
}

// recorded is an arm that was measured before the comparison: with a
// single round, the audit and Redis comparisons reuse the scenario's riskd
// run as they always have.
func recorded(r *result) measureFunc {
	return func(time.Duration) (*result, error) { return r, nil }
}
