package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// compareRedis drives riskd with its windows in Redis (a redis-server
// started here on a free loopback port) with run's bodies against riskd
// with the embedded store, alternately for c.rounds rounds (one round
// reuses run's riskd measurement), and prints the ratios of throughput,
// p99 and CPU per request.
func compareRedis(w, stderr io.Writer, c compareFlags, f loadFlags, run scenarioRun) error {
	_, addr, stop, err := startRedisServer()
	if err != nil {
		return err
	}
	defer stop()
	dir, err := os.MkdirTemp("", "riskload-redis-cfg-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	abs, _ := filepath.Abs(run.policy)
	cfg := filepath.Join(dir, "riskd.yaml")
	yaml := fmt.Sprintf("policies:\n  - path: %s\nreload:\n  watch: false\nstate:\n  backend: redis\n  redis:\n    addr: %s\n    timeout: 1s\n", abs, addr)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return err
	}
	redisd := &process{bodies: run.bodies, f: f, start: func() (*exec.Cmd, target, error) {
		return startRiskd(c.riskd, "riskd+redis", []string{"--config", cfg}, nil, stderr)
	}}
	defer redisd.stop()
	base, stopBase := baseline(c, f, run, stderr)
	defer stopBase()
	fmt.Fprintln(w, "\nwindows in Redis (redis-server on loopback, same machine):")
	rounds, err := alternate(c.rounds, f.warmup, [2]measureFunc{base, redisd.measure}, func(round int, rs [2]*result) error {
		embedded, rr := rs[0], rs[1]
		roundHeading(w, c.rounds, round, [2]string{"riskd", "riskd+redis"})
		printTable(w, f, embedded, rr)
		tp, _, p99 := ratios(embedded, rr)
		fmt.Fprintf(w, "riskd+redis / riskd (embedded) throughput: %.2f; p99 %s vs %s (ratio %.2f); server CPU per request %s vs %s\n",
			tp, fmtDur(rr.pct(99)), fmtDur(embedded.pct(99)), p99, fmtDur(rr.cpuPerReq()), fmtDur(embedded.cpuPerReq()))
		if rr.errors > 0 {
			return fmt.Errorf("riskd+redis: %d errors (first: %s)", rr.errors, rr.firstErr)
		}
		if embedded.errors > 0 {
			return fmt.Errorf("riskd: %d errors (first: %s)", embedded.errors, embedded.firstErr)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if c.rounds > 1 {
		tp, cpu, p99 := ratioSpreads(rounds)
		fmt.Fprintf(w, "riskd+redis / riskd (embedded), median (range) of %d rounds: throughput %s, p99 %s, server CPU per request %s\n",
			c.rounds, tp.format("%.2f", ""), p99.format("%.2f", "x"), cpu.format("%.2f", "x"))
	}
	return nil
}
