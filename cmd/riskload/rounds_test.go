package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// fake is a result of rate requests over one second, cpu of server CPU
// per request and every latency equal to p99.
func fake(rate int, cpu, p99 time.Duration) *result {
	lat := make([]time.Duration, rate)
	for i := range lat {
		lat[i] = p99
	}
	return &result{requests: rate, elapsed: time.Second, cpu: cpu * time.Duration(rate), latencies: lat}
}

func TestSpreadOf(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name   string
		xs     []float64
		median float64
		lo, hi float64
	}{
		{"one", []float64{0.7}, 0.7, 0.7, 0.7},
		{"odd, unsorted", []float64{0.72, 0.65, 0.75}, 0.72, 0.65, 0.75},
		{"even: mean of the middle two", []float64{0.6, 0.9, 0.8, 0.7}, 0.75, 0.6, 0.9},
		{"ties", []float64{1.2, 1.2, 3}, 1.2, 1.2, 3},
		{"infinite ratio", []float64{1, math.Inf(1), 2}, 2, 1, math.Inf(1)},
		{"empty", nil, nan, nan, nan},
		{"NaN among them", []float64{0.7, nan, 0.8}, nan, nan, nan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.xs)
			s := spreadOf(tc.xs)
			same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
			if !same(s.median, tc.median) || !same(s.lo, tc.lo) || !same(s.hi, tc.hi) {
				t.Errorf("spreadOf(%v) = %+v, want median %v range %v-%v", tc.xs, s, tc.median, tc.lo, tc.hi)
			}
			if !slices.EqualFunc(in, tc.xs, same) {
				t.Errorf("spreadOf reordered its input: %v, was %v", tc.xs, in)
			}
		})
	}
}

// TestVerdictsOnMedianOfRoundRatios: the targets are judged on the median
// of each round's ratio, met at the boundary, and not on a single round,
// the range or the ratio of the medians.
func TestVerdictsOnMedianOfRoundRatios(t *testing.T) {
	us, ms := time.Microsecond, time.Millisecond
	for _, tc := range []struct {
		name                string
		rounds              [][2]*result
		wantTP, wantCPU, wP bool
		tp                  spread
	}{
		{"one round, at the targets", [][2]*result{
			{fake(1000, 10*us, 10*ms), fake(700, 18*us, 13*ms)},
		}, true, true, true, spread{0.7, 0.7, 0.7}},
		{"one round, just past the targets", [][2]*result{
			{fake(1000, 10*us, 10*ms), fake(699, 19*us, 14*ms)},
		}, false, false, false, spread{0.699, 0.699, 0.699}},
		{"median met, one round missed", [][2]*result{
			{fake(1000, 10*us, 10*ms), fake(650, 19*us, 14*ms)},
			{fake(1000, 10*us, 10*ms), fake(720, 17*us, 12*ms)},
			{fake(1000, 10*us, 10*ms), fake(750, 17*us, 11*ms)},
		}, true, true, true, spread{0.72, 0.65, 0.75}},
		{"median missed, one round met", [][2]*result{
			{fake(1000, 10*us, 10*ms), fake(600, 19*us, 14*ms)},
			{fake(1000, 10*us, 10*ms), fake(690, 17*us, 15*ms)},
			{fake(1000, 10*us, 10*ms), fake(800, 20*us, 12*ms)},
		}, false, false, false, spread{0.69, 0.6, 0.8}},
		{"median of ratios, not ratio of medians", [][2]*result{
			// medians 1200 echo/s and 900 riskd/s would give 0.75
			{fake(1000, 10*us, 10*ms), fake(900, 10*us, 10*ms)},
			{fake(2000, 10*us, 10*ms), fake(1300, 10*us, 10*ms)},
			{fake(1200, 10*us, 10*ms), fake(700, 10*us, 10*ms)},
		}, false, true, true, spread{0.65, 700.0 / 1200, 0.9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, cpu, p99 := ratioSpreads(tc.rounds)
			okTP, okCPU, okP99 := scenarioVerdicts(tp, cpu, p99)
			if okTP != tc.wantTP || okCPU != tc.wantCPU || okP99 != tc.wP {
				t.Errorf("verdicts %v %v %v, want %v %v %v (throughput %+v, CPU %+v, p99 %+v)", okTP, okCPU, okP99, tc.wantTP, tc.wantCPU, tc.wP, tp, cpu, p99)
			}
			if math.Abs(tp.median-tc.tp.median) > 1e-9 || math.Abs(tp.lo-tc.tp.lo) > 1e-9 || math.Abs(tp.hi-tc.tp.hi) > 1e-9 {
				t.Errorf("throughput %+v, want %+v", tp, tc.tp)
			}
		})
	}
	nan := spreadOf(nil)
	if ok1, ok2, ok3 := scenarioVerdicts(nan, nan, nan); ok1 || ok2 || ok3 {
		t.Errorf("verdicts on no rounds: %v %v %v, want all missed", ok1, ok2, ok3)
	}
}

// TestAlternate: the arms go A B, B A, A B, B A; the first round after the
// full warm-up, later ones after at most a second; results come back
// baseline first whatever the order.
func TestAlternate(t *testing.T) {
	for _, tc := range []struct {
		rounds int
		warmup time.Duration
		want   []string
	}{
		{1, 2 * time.Second, []string{"echo@2s", "riskd@2s"}},
		{4, 2 * time.Second, []string{"echo@2s", "riskd@2s", "riskd@1s", "echo@1s", "echo@1s", "riskd@1s", "riskd@1s", "echo@1s"}},
		{3, 500 * time.Millisecond, []string{"echo@500ms", "riskd@500ms", "riskd@500ms", "echo@500ms", "echo@500ms", "riskd@500ms"}},
		{2, 0, []string{"echo@0s", "riskd@0s", "riskd@0s", "echo@0s"}},
	} {
		var calls []string
		arm := func(name string) measureFunc {
			return func(w time.Duration) (*result, error) {
				calls = append(calls, fmt.Sprintf("%s@%s", name, w))
				return &result{name: name}, nil
			}
		}
		var reported []int
		all, err := alternate(tc.rounds, tc.warmup, [2]measureFunc{arm("echo"), arm("riskd")}, func(round int, rs [2]*result) error {
			reported = append(reported, round)
			if rs[0].name != "echo" || rs[1].name != "riskd" {
				t.Errorf("round %d reported %s, %s; want echo, riskd", round, rs[0].name, rs[1].name)
			}
			return nil
		})
		if err != nil || len(all) != tc.rounds || len(reported) != tc.rounds {
			t.Errorf("%d rounds: %d results, %d reports, err %v", tc.rounds, len(all), len(reported), err)
		}
		if !slices.Equal(calls, tc.want) {
			t.Errorf("%d rounds, warm-up %s: calls %v, want %v", tc.rounds, tc.warmup, calls, tc.want)
		}
	}
}

// TestAlternateStops: an arm's error or report's ends the rounds there.
func TestAlternateStops(t *testing.T) {
	boom := errors.New("boom")
	n := 0
	ok := func(time.Duration) (*result, error) { n++; return &result{}, nil }
	failSecond := func(time.Duration) (*result, error) {
		n++
		if n > 2 {
			return nil, boom
		}
		return &result{}, nil
	}
	all, err := alternate(5, time.Second, [2]measureFunc{ok, failSecond}, func(int, [2]*result) error { return nil })
	if !errors.Is(err, boom) || len(all) != 1 || n != 3 {
		t.Errorf("arm error: %d rounds kept, %d calls, err %v; want 1 round, 3 calls, boom", len(all), n, err)
	}
	n = 0
	all, err = alternate(5, time.Second, [2]measureFunc{ok, ok}, func(round int, _ [2]*result) error {
		if round == 1 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || len(all) != 2 || n != 4 {
		t.Errorf("report error: %d rounds kept, %d calls, err %v; want 2 rounds, 4 calls, boom", len(all), n, err)
	}
}

// TestSummary: one round keeps the summary row compare printed before
// rounds existed; several print the medians with their ranges.
func TestSummary(t *testing.T) {
	us, ms := time.Microsecond, time.Millisecond
	one := []scenarioRun{{scenario: "single-model", dist: "zipf", rounds: [][2]*result{
		{fake(1000, 30*us, 10*ms), fake(650, 60*us, 12*ms)},
	}}}
	var b bytes.Buffer
	printSummary(&b, one, 1)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	wantHead := "scenario       keys        echo/s   riskd/s  throughput    CPU/req        p99    echo CPU   riskd CPU riskd RSS"
	wantRow := "single-model   zipf          1000       650   0.65 MISS  2.00x MISS  1.20x ok         30µs        60µs         -"
	if len(lines) != 3 || lines[1] != wantHead || lines[2] != wantRow {
		t.Errorf("one round:\n%s\nwant rows\n%s\n%s", b.String(), wantHead, wantRow)
	}
	three := []scenarioRun{{scenario: "single-model", dist: "uniform", rounds: [][2]*result{
		{fake(1000, 30*us, 10*ms), fake(650, 60*us, 12*ms)},
		{fake(2000, 20*us, 10*ms), fake(1500, 30*us, 14*ms)},
		{fake(1000, 25*us, 10*ms), fake(720, 40*us, 11*ms)},
	}}}
	b.Reset()
	printSummary(&b, three, 3)
	out := b.String()
	for _, want := range []string{"median (range) of 3 rounds", "0.72 (0.65-0.75) ok", "1.60x (1.50-2.00) ok", "1.20x (1.10-1.40) ok", "25µs", "40µs"} {
		if !strings.Contains(out, want) {
			t.Errorf("three rounds: no %q in\n%s", want, out)
		}
	}
}
