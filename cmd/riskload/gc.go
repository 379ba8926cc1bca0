package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// gcCmd drives riskd once per GOGC value (and optionally a GOMEMLIMIT),
// the same bodies each time, and prints throughput, p99, CPU per request
// and RSS side by side: what runtime.gc_percent trades (make load-gc).
func gcCmd(args []string, stdout, stderr io.Writer) int {
	var f loadFlags
	fs := f.flagSet("riskload gc", stderr)
	riskd := fs.String("riskd", "bin/riskd", "riskd `binary`")
	resolveScenario := f.scenarioFlags(fs)
	gogc := fs.String("gogc", "100,200,400,800", "comma-separated GOGC `values` (each a positive integer or off)")
	memLimit := fs.String("gomemlimit", "", "GOMEMLIMIT for every run (e.g. 256MiB); empty: none")
	if fs.Parse(args) != nil {
		return 2
	}
	bad := func(err error) int {
		fmt.Fprintf(stderr, "riskload gc: %v\n", err)
		return 2
	}
	if err := resolveScenario(); err != nil {
		return bad(err)
	}
	var values []string
	for _, v := range strings.Split(*gogc, ",") {
		v = strings.TrimSpace(v)
		if n, err := strconv.Atoi(v); (err != nil || n <= 0) && v != "off" {
			return bad(fmt.Errorf("--gogc: %q is not a positive integer or off", v))
		}
		if v == "off" && *memLimit == "" {
			return bad(errors.New("--gogc off needs --gomemlimit"))
		}
		values = append(values, v)
	}
	prog, err := loadPolicy(f.policy)
	if err != nil {
		fmt.Fprintf(stderr, "riskload gc: %v\n", err)
		return 1
	}
	bodies := genBodies(prog, f.bodies, 1, f.dist)
	fmt.Fprintf(stdout, "riskload gc: %s (%s), %s keys, %d connections; a fresh riskd per GOGC value (the environment wins over runtime.gc_percent); load average %s before\n\n",
		prog, f.policy, f.dist, f.conns, loadAvg())
	var rs []*result
	for _, v := range values {
		env := []string{"GOGC=" + v}
		name := "GOGC=" + v
		if *memLimit != "" {
			env = append(env, "GOMEMLIMIT="+*memLimit)
		}
		r, _, err := driveServe(*riskd, f, bodies, name, env, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "riskload gc: %v\n", err)
			return 1
		}
		if r.errors > 0 {
			fmt.Fprintf(stderr, "riskload gc: %s: %d errors (first: %s)\n", name, r.errors, r.firstErr)
			return 1
		}
		rs = append(rs, r)
	}
	fmt.Fprintf(stdout, "%-12s %10s %9s %9s %9s %9s %9s\n", "riskd", "req/s", "p50", "p99", "CPU/req", "RSS", "peak RSS")
	for _, r := range rs {
		fmt.Fprintf(stdout, "%-12s %10.0f %9s %9s %9s %9s %9s\n", r.name, r.rate(), fmtDur(r.pct(50)), fmtDur(r.pct(99)),
			fmtDur(r.cpuPerReq()), fmtMB(r.rss), fmtMB(r.peakRSS))
	}
	fmt.Fprintf(stdout, "load average after: %s (CPU per request is the robust figure on a shared machine)\n", loadAvg())
	return 0
}
