package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// compareRedis drives riskd with its windows in Redis (a redis-server
// started here on a free loopback port) with the same bodies, and prints
// it next to the embedded-store run: the ratio of throughput and p99.
func compareRedis(riskd, policy string, bodies [][]byte, f loadFlags, embedded *result, stdout, stderr io.Writer) error {
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
	abs, _ := filepath.Abs(policy)
	cfg := filepath.Join(dir, "riskd.yaml")
	yaml := fmt.Sprintf("policies:\n  - path: %s\nreload:\n  watch: false\nstate:\n  backend: redis\n  redis:\n    addr: %s\n    timeout: 1s\n", abs, addr)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return err
	}
	rd := exec.Command(riskd, "serve", "--config", cfg, "--addr", "127.0.0.1:0", "--log-format", "json", "--log-level", "info")
	rdAddr, err := startChild(rd, true, stderr)
	if err != nil {
		return fmt.Errorf("riskd (redis): %w", err)
	}
	defer stopChild(rd)
	rt, _ := parseTarget("riskd+redis", "http://"+rdAddr+"/v1/decide")
	rr, err := driveMeasured(rt, rd.Process.Pid, bodies, f)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\nwindows in Redis (redis-server on loopback, same machine):")
	printTable(stdout, f, embedded, rr)
	fmt.Fprintf(stdout, "riskd+redis / riskd (embedded) throughput: %.2f; p99 %s vs %s (ratio %.2f); server CPU per request %s vs %s\n",
		rr.rate()/embedded.rate(), fmtDur(rr.pct(99)), fmtDur(embedded.pct(99)),
		float64(rr.pct(99))/float64(max(embedded.pct(99), 1)), fmtDur(rr.cpuPerReq()), fmtDur(embedded.cpuPerReq()))
	if rr.errors > 0 {
		return fmt.Errorf("riskd+redis: %d errors (first: %s)", rr.errors, rr.firstErr)
	}
	return nil
}
