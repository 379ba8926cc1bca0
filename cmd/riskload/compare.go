package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// scenarios are the named workloads of compare --scenario: the policy
// (a directory under --examples) each one serves.
var scenarios = []struct{ name, dir, about string }{
	{"single-model", "loan_ml", "loan_ml: 22 rules, 3 windows, ONNX trees on every decision, a regression when they see a low risk"},
	{"three-model", "loan_pipeline", "loan_pipeline: 24 rules, 3 windows, three ONNX models in series on every decision"},
}

// Targets of the single-model scenario against the echo server in the
// same run (issue 17); the other scenarios are printed against them too.
const (
	targetThroughput = 0.70 // riskd / echo requests per second, at least
	targetCPU        = 1.8  // riskd / echo server CPU per request, at most
	targetP99        = 1.3  // riskd / echo p99, at most
	targetAudit      = 0.80 // riskd with an audit log / riskd requests per second, at least (issue 12)
)

// maxRounds bounds --rounds: each round is two full measurements.
const maxRounds = 100

// scenarioRun is one scenario under one key distribution: echo and a riskd
// driven with the same bodies, alternately, round after round.
type scenarioRun struct {
	scenario, dist, policy string
	bodies                 *bodySet
	rounds                 [][2]*result // echo, riskd
}

// compareFlags are compare's own flags, beside the shared loadFlags.
type compareFlags struct {
	riskd, riskdConfig, echoMode, scenarios, examples string
	auditSync                                         string
	auditInterval                                     time.Duration
	withRedis                                         bool
	rounds                                            int
	echoProcs                                         int  // the echo's GOMAXPROCS (0: inherited)
	echoProcsAsRiskd                                  bool // echoProcs is riskd's, not --echo-gomaxprocs
}

// plan is one policy compare serves, under its scenario name ("policy"
// for --policy).
type plan struct{ scenario, policy string }

// errRequestsFailed ends compare after failed requests were printed.
var errRequestsFailed = errors.New("requests failed")

func compareCmd(args []string, stdout, stderr io.Writer) int {
	var f loadFlags
	var c compareFlags
	fs := f.flagSet("riskload compare", stderr)
	fs.StringVar(&c.riskd, "riskd", "bin/riskd", "riskd `binary`")
	fs.StringVar(&c.riskdConfig, "riskd-config", "", "riskd config `file` for the plain and audited riskd (riskd serve --config; the scenario's --policy still replaces its policies), to compare settings such as models.coalesce")
	fs.StringVar(&c.echoMode, "echo-mode", "raw", "echo server mode: raw or json")
	fs.StringVar(&c.scenarios, "scenario", "", "comma-separated named `scenarios` instead of --policy: single-model (examples/loan_ml), three-model (examples/loan_pipeline), or all")
	fs.StringVar(&c.examples, "examples", "examples", "`directory` holding the scenarios' example policies")
	fs.StringVar(&c.auditSync, "audit", "", "also drive a riskd recording every decision in an audit log with this sync `policy` (always, batch, none) and print its throughput relative to riskd without it")
	fs.DurationVar(&c.auditInterval, "audit-batch-interval", 0, "riskd --audit-batch-interval for the audited run: shortest `time` between two syncs under the batch policy (0: riskd's default)")
	fs.BoolVar(&c.withRedis, "with-redis", false, "also drive riskd with its windows in Redis (starts redis-server on loopback) and compare it with the embedded store")
	fs.IntVar(&c.echoProcs, "echo-gomaxprocs", -1, "GOMAXPROCS of the echo server (-1: the same as riskd's runtime.gomaxprocs, from --riskd-config or riskd's default; 0: inherited from this environment)")
	fs.IntVar(&c.rounds, "rounds", 1, "measure the two servers of each comparison this many `times`, alternating which goes first, and judge the median of the per-round ratios (1: once each)")
	if fs.Parse(args) != nil {
		return 2
	}
	bad := func(err error) int {
		fmt.Fprintf(stderr, "riskload compare: %v\n", err)
		return 2
	}
	if err := f.checkWith(true); err != nil {
		return bad(err)
	}
	if c.rounds < 1 || c.rounds > maxRounds {
		return bad(fmt.Errorf("--rounds must be between 1 and %d", maxRounds))
	}
	plans, err := comparePlans(c, f)
	if err != nil {
		return bad(err)
	}
	if c.echoProcs < 0 {
		if c.echoProcs, err = riskdProcs(c.riskdConfig); err != nil {
			return bad(err)
		}
		c.echoProcsAsRiskd = true
	}
	if f.procs > 0 {
		runtime.GOMAXPROCS(f.procs)
	}
	switch err := compareAll(c, f, plans, stdout, stderr); {
	case errors.Is(err, errRequestsFailed):
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "riskload compare: %v\n", err)
		return 1
	}
	return 0
}

// comparePlans returns the policies --scenario or --policy name.
func comparePlans(c compareFlags, f loadFlags) ([]plan, error) {
	switch {
	case c.scenarios != "" && f.policy != "":
		return nil, errors.New("give --scenario or --policy, not both")
	case c.scenarios == "" && f.policy == "":
		return nil, errors.New("--policy or --scenario is required")
	case c.scenarios == "":
		return []plan{{"policy", f.policy}}, nil
	}
	var plans []plan
	for _, name := range strings.Split(c.scenarios, ",") {
		found := false
		for _, sc := range scenarios {
			if name == "all" || name == sc.name {
				plans = append(plans, plan{sc.name, filepath.Join(c.examples, sc.dir)})
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("--scenario: unknown scenario %q (single-model, three-model, all)", name)
		}
	}
	return plans, nil
}

// compareAll starts the echo server, runs every plan under every key
// distribution against it, prints the summary, then the audit and Redis
// comparisons on the first run's policy and bodies.
func compareAll(c compareFlags, f loadFlags, plans []plan, stdout, stderr io.Writer) error {
	dists := []string{f.dist}
	if f.dist == "both" {
		dists = []string{distZipf, distUniform}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	echo := echoCommand(self, c.echoMode, c.echoProcs)
	echoAddr, err := startChild(echo, false, stderr)
	if err != nil {
		return fmt.Errorf("echo server: %w", err)
	}
	defer stopChild(echo)
	et, _ := parseTarget("echo ("+c.echoMode+")", "http://"+echoAddr+"/echo")
	printCompareHeader(stdout, c, f)
	var runs []scenarioRun
	for _, p := range plans {
		prog, err := loadPolicy(p.policy)
		if err != nil {
			return err
		}
		for _, dist := range dists {
			bodies := genBodies(prog, f.bodies, 1, dist)
			fmt.Fprintf(stdout, "\n== %s, %s keys: %s (%s); load average %s\n", p.scenario, dist, prog, p.policy, loadAvg())
			for _, sc := range scenarios {
				if sc.name == p.scenario {
					fmt.Fprintf(stdout, "   %s\n", sc.about)
				}
			}
			echoArm := &process{cmd: echo, t: et, bodies: bodies, f: f} // shared by all runs, stopped above
			run := scenarioRun{scenario: p.scenario, dist: dist, policy: p.policy, bodies: bodies}
			if run.rounds, err = runScenario(stdout, stderr, c, f, run, echoArm); err != nil {
				return err
			}
			runs = append(runs, run)
		}
	}
	printSummary(stdout, runs, c.rounds)
	f.policy = runs[0].policy
	if c.auditSync != "" {
		if err := compareAudit(stdout, stderr, c, f, runs[0]); err != nil {
			return err
		}
	}
	if c.withRedis {
		return compareRedis(stdout, stderr, c, f, runs[0])
	}
	return nil
}

// printCompareHeader describes the run: connections, machine, warm-ups and
// (with more than one) the rounds.
func printCompareHeader(w io.Writer, c compareFlags, f loadFlags) {
	how := "echo and a fresh riskd driven one after the other with the same bodies"
	if c.rounds > 1 {
		how = fmt.Sprintf("echo and a fresh riskd driven with the same bodies, alternately for %d rounds (echo first in rounds 1, 3, ..., riskd in rounds 2, 4, ...)", c.rounds)
	}
	fmt.Fprintf(w, "riskload compare: %d connections, closed loop on loopback, %d request bodies per run; %s\n", f.conns, f.bodies, how)
	fmt.Fprintf(w, "machine: %d CPUs (generator GOMAXPROCS %d), %s/%s, load average %s before; warm-up %s, measured %s per target\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, loadAvg(), f.warmup, f.duration)
	switch {
	case c.echoProcs > 0 && c.echoProcsAsRiskd:
		fmt.Fprintf(w, "servers: the echo runs with GOMAXPROCS %d, the value riskd's runtime.gomaxprocs gives here (--echo-gomaxprocs to change it)\n", c.echoProcs)
	case c.echoProcs > 0:
		fmt.Fprintf(w, "servers: the echo runs with GOMAXPROCS %d (--echo-gomaxprocs)\n", c.echoProcs)
	}
	if c.rounds > 1 {
		fmt.Fprintf(w, "rounds: warm-up %s before each server's first measurement, %s before its later ones; verdicts on the median of the per-round ratios\n",
			f.warmup, warmupFor(1, f.warmup))
	}
}

// runScenario measures echo and a fresh riskd on run's policy and bodies,
// alternately for c.rounds rounds, printing each round and, with more than
// one, the medians.
func runScenario(w, stderr io.Writer, c compareFlags, f loadFlags, run scenarioRun, echo *process) ([][2]*result, error) {
	var note string
	rd := &process{bodies: run.bodies, f: f, start: func() (*exec.Cmd, target, error) {
		cmd, t, err := startRiskd(c.riskd, "riskd", c.serveArgs(run.policy), nil, stderr)
		if err == nil {
			note = readyNote("http://"+t.host+"/readyz") + "; " + procsNote(t.host, c.echoProcs)
		}
		return cmd, t, err
	}}
	defer rd.stop()
	rounds, err := alternate(c.rounds, f.warmup, [2]measureFunc{echo.measure, rd.measure}, func(round int, rs [2]*result) error {
		er, rr := rs[0], rs[1]
		if round == 0 {
			fmt.Fprintf(w, "   riskd %s\n", note)
		}
		roundHeading(w, c.rounds, round, [2]string{"echo", "riskd"})
		printTable(w, f, er, rr)
		printRatios(w, er, rr)
		if rr.errors > 0 || er.errors > 0 {
			fmt.Fprintf(w, "errors: riskd %d (first: %s), echo %d (first: %s)\n", rr.errors, rr.firstErr, er.errors, er.firstErr)
			return errRequestsFailed
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if c.rounds > 1 {
		tp, cpu, p99 := ratioSpreads(rounds)
		okTP, okCPU, okP99 := scenarioVerdicts(tp, cpu, p99)
		fmt.Fprintf(w, "riskd / echo, median (range) of %d rounds: throughput %s (>= %.2f: %s), server CPU per request %s (<= %.1fx: %s), p99 %s (<= %.1fx: %s)\n",
			c.rounds, tp.format("%.2f", ""), targetThroughput, verdict(okTP), cpu.format("%.2f", "x"), targetCPU, verdict(okCPU),
			p99.format("%.2f", "x"), targetP99, verdict(okP99))
	}
	return rounds, nil
}

// printSummary closes the scenario runs with one line each: with one round
// the figures of that round, with more the medians and ranges of the
// per-round ratios, judged on the medians.
func printSummary(w io.Writer, runs []scenarioRun, rounds int) {
	if rounds <= 1 {
		fmt.Fprintf(w, "\nsummary (targets, single-model: throughput >= %.2f of echo, CPU per request <= %.1fx echo, p99 <= %.1fx echo; load average now %s):\n",
			targetThroughput, targetCPU, targetP99, loadAvg())
		fmt.Fprintf(w, "%-14s %-8s %9s %9s %11s %10s %10s %11s %11s %9s\n", "scenario", "keys", "echo/s", "riskd/s", "throughput", "CPU/req", "p99", "echo CPU", "riskd CPU", "riskd RSS")
		for _, r := range runs {
			er, rr := r.rounds[0][0], r.rounds[0][1]
			tp, cpu, p99 := ratios(er, rr)
			fmt.Fprintf(w, "%-14s %-8s %9.0f %9.0f %6.2f %-4s %5.2fx %-4s %5.2fx %-4s %10s %11s %9s\n", r.scenario, r.dist, er.rate(), rr.rate(),
				tp, mark(tp >= targetThroughput), cpu, mark(cpu <= targetCPU), p99, mark(p99 <= targetP99),
				fmtDur(er.cpuPerReq()), fmtDur(rr.cpuPerReq()), fmtMB(rr.rss))
		}
		return
	}
	fmt.Fprintf(w, "\nsummary, median (range) of %d rounds; the verdicts on the medians (targets, single-model: throughput >= %.2f of echo, CPU per request <= %.1fx echo, p99 <= %.1fx echo; load average now %s):\n",
		rounds, targetThroughput, targetCPU, targetP99, loadAvg())
	fmt.Fprintf(w, "%-14s %-8s %9s %9s %-21s %-25s %-25s %10s %11s %9s\n", "scenario", "keys", "echo/s", "riskd/s", "throughput", "CPU/req", "p99", "echo CPU", "riskd CPU", "riskd RSS")
	rate := func(r *result) float64 { return r.rate() }
	cpuPerReq := func(r *result) float64 { return float64(r.cpuPerReq()) }
	for _, r := range runs {
		tp, cpu, p99 := ratioSpreads(r.rounds)
		okTP, okCPU, okP99 := scenarioVerdicts(tp, cpu, p99)
		last := r.rounds[len(r.rounds)-1][1]
		fmt.Fprintf(w, "%-14s %-8s %9.0f %9.0f %-21s %-25s %-25s %10s %11s %9s\n", r.scenario, r.dist,
			armSpread(r.rounds, 0, rate).median, armSpread(r.rounds, 1, rate).median,
			tp.format("%.2f", "")+" "+mark(okTP), cpu.format("%.2f", "x")+" "+mark(okCPU), p99.format("%.2f", "x")+" "+mark(okP99),
			fmtDur(time.Duration(armSpread(r.rounds, 0, cpuPerReq).median)), fmtDur(time.Duration(armSpread(r.rounds, 1, cpuPerReq).median)), fmtMB(last.rss))
	}
}

// baseline is the plain-riskd arm of the audit and Redis comparisons: with
// one round the scenario run's own measurement, as compare always had;
// with more a fresh riskd, so that both arms have served the same rounds
// when they are compared. The returned func stops it.
func baseline(c compareFlags, f loadFlags, run scenarioRun, stderr io.Writer) (measureFunc, func()) {
	if c.rounds <= 1 {
		return recorded(run.rounds[0][1]), func() {}
	}
	p := &process{bodies: run.bodies, f: f, start: func() (*exec.Cmd, target, error) {
		return startRiskd(c.riskd, "riskd", c.serveArgs(run.policy), nil, stderr)
	}}
	return p.measure, p.stop
}

// serveArgs are the riskd serve arguments of the plain and audited riskd
// on policy: the scenario's policy, no file watching, and --riskd-config.
func (c compareFlags) serveArgs(policy string) []string {
	args := []string{"--policy", policy, "--watch", "false"}
	if c.riskdConfig != "" {
		args = append(args, "--config", c.riskdConfig)
	}
	return args
}

// compareAudit drives riskd with an audit log (c.auditSync, in a
// temporary directory) against riskd without one, on run's policy and
// bodies, alternately for c.rounds rounds.
func compareAudit(w, stderr io.Writer, c compareFlags, f loadFlags, run scenarioRun) error {
	dir, err := os.MkdirTemp("", "riskload-audit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	args := append(c.serveArgs(run.policy), "--audit-dir", dir, "--audit-sync", c.auditSync)
	if c.auditInterval != 0 {
		args = append(args, "--audit-batch-interval", c.auditInterval.String())
	}
	audited := &process{bodies: run.bodies, f: f, start: func() (*exec.Cmd, target, error) {
		return startRiskd(c.riskd, "riskd+audit", args, nil, stderr)
	}}
	defer audited.stop()
	base, stopBase := baseline(c, f, run, stderr)
	defer stopBase()
	fmt.Fprintf(w, "\naudit log (%s, %s keys):\n", run.scenario, run.dist)
	rounds, err := alternate(c.rounds, f.warmup, [2]measureFunc{base, audited.measure}, func(round int, rs [2]*result) error {
		rr, ar := rs[0], rs[1]
		roundHeading(w, c.rounds, round, [2]string{"riskd", "riskd+audit"})
		printTable(w, f, rr, ar)
		ratio, _, _ := ratios(rr, ar)
		fmt.Fprintf(w, "riskd audit(%s) / riskd: %.2f throughput, p99 %s vs %s (target >= %.2f: %s); load average %s\n",
			c.auditSync, ratio, fmtDur(ar.pct(99)), fmtDur(rr.pct(99)), targetAudit, verdict(ratio >= targetAudit), loadAvg())
		if ar.errors > 0 {
			fmt.Fprintf(w, "errors: riskd with audit %d (first: %s)\n", ar.errors, ar.firstErr)
		}
		if rr.errors > 0 {
			fmt.Fprintf(w, "errors: riskd %d (first: %s)\n", rr.errors, rr.firstErr)
		}
		if ar.errors > 0 || rr.errors > 0 {
			return errRequestsFailed
		}
		return nil
	})
	if err != nil {
		return err
	}
	if c.rounds > 1 {
		tp, cpu, p99 := ratioSpreads(rounds)
		fmt.Fprintf(w, "riskd audit(%s) / riskd, median (range) of %d rounds: throughput %s (target >= %.2f: %s), server CPU per request %s, p99 %s\n",
			c.auditSync, c.rounds, tp.format("%.2f", ""), targetAudit, verdict(tp.atLeast(targetAudit)), cpu.format("%.2f", "x"), p99.format("%.2f", "x"))
	}
	return nil
}

// ratios returns riskd / echo (or any other arm / its baseline) for
// throughput, CPU per request and p99.
func ratios(echo, riskd *result) (throughput, cpu, p99 float64) {
	return riskd.rate() / echo.rate(),
		float64(riskd.cpuPerReq()) / float64(max(echo.cpuPerReq(), 1)),
		float64(riskd.pct(99)) / float64(max(echo.pct(99), 1))
}

// printRatios prints riskd against the echo ceiling with the targets.
func printRatios(w io.Writer, echo, riskd *result) {
	tp, cpu, p99 := ratios(echo, riskd)
	fmt.Fprintf(w, "riskd / echo: throughput %.2f (>= %.2f: %s), server CPU per request %s / %s = %.2fx (<= %.1fx: %s), p99 %s / %s = %.2fx (<= %.1fx: %s); riskd RSS %s (peak %s)\n",
		tp, targetThroughput, verdict(tp >= targetThroughput),
		fmtDur(riskd.cpuPerReq()), fmtDur(echo.cpuPerReq()), cpu, targetCPU, verdict(cpu <= targetCPU),
		fmtDur(riskd.pct(99)), fmtDur(echo.pct(99)), p99, targetP99, verdict(p99 <= targetP99),
		fmtMB(riskd.rss), fmtMB(riskd.peakRSS))
	if riskd.reads > 0 && echo.reads > 0 {
		fmt.Fprintf(w, "read system calls per request: riskd %.2f, echo %.2f\n", riskd.readsPerReq(), echo.readsPerReq())
	}
}

func mark(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISS"
}

// fmtMB prints a byte count in MB, "-" when unknown.
func fmtMB(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MB", float64(b)/(1<<20))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
