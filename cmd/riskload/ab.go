package main

import (
	"fmt"
	"io"
	"os/exec"
)

// abCmd compares two riskd builds on the same scenario and bodies: each
// started once, measured alternately for --rounds rounds (the order
// swapped every round), then the medians of the per-round ratios of the
// new build over the base. It is how a change to riskd is judged on a
// machine whose noise moves one build's absolute figures by more than the
// change: both builds see the same drift.
func abCmd(args []string, stdout, stderr io.Writer) int {
	var f loadFlags
	fs := f.flagSet("riskload ab", stderr)
	riskd := fs.String("riskd", "bin/riskd", "the new riskd `binary`")
	base := fs.String("base", "", "the base riskd `binary` to compare it with (required)")
	rounds := fs.Int("rounds", 3, "measure the two builds this many `times`, alternating which goes first")
	resolveScenario := f.scenarioFlags(fs)
	if fs.Parse(args) != nil {
		return 2
	}
	bad := func(err error) int {
		fmt.Fprintf(stderr, "riskload ab: %v\n", err)
		return 2
	}
	if *base == "" {
		return bad(fmt.Errorf("--base: the base riskd binary is required"))
	}
	if *rounds < 1 {
		return bad(fmt.Errorf("--rounds: %d, want at least 1", *rounds))
	}
	if err := resolveScenario(); err != nil {
		return bad(err)
	}
	prog, err := loadPolicy(f.policy)
	if err != nil {
		fmt.Fprintf(stderr, "riskload ab: %v\n", err)
		return 1
	}
	bodies := genBodies(prog, f.bodies, 1, f.dist)
	fmt.Fprintf(stdout, "riskload ab: %s against %s on %s (%s), %s keys, %d connections, %d rounds; load average %s\n",
		*riskd, *base, prog, f.policy, f.dist, f.conns, *rounds, loadAvg())
	arm := func(bin, name string) *process {
		return &process{bodies: bodies, f: f, start: func() (*exec.Cmd, target, error) {
			return startRiskd(bin, name, []string{"--policy", f.policy, "--watch", "false"}, nil, stderr)
		}}
	}
	arms := [2]*process{arm(*base, "base"), arm(*riskd, "new")}
	defer arms[0].stop()
	defer arms[1].stop()
	all, err := alternate(*rounds, f.warmup, [2]measureFunc{arms[0].measure, arms[1].measure}, func(round int, rs [2]*result) error {
		roundHeading(stdout, *rounds, round, [2]string{"base", "new"})
		printTable(stdout, f, rs[0], rs[1])
		for _, r := range rs {
			if r.errors > 0 {
				return fmt.Errorf("%s: %d errors (first: %s)", r.name, r.errors, r.firstErr)
			}
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(stderr, "riskload ab: %v\n", err)
		return 1
	}
	tp, cpu, p99 := ratioSpreads(all)
	fmt.Fprintf(stdout, "new / base, median (range) of %d rounds: throughput %s, server CPU per request %s, p99 %s; load average %s\n",
		len(all), tp.format("%.2f", ""), cpu.format("%.2f", "x"), p99.format("%.2f", "x"), loadAvg())
	return 0
}
