// Command riskload is riskd's load generator: a closed-loop HTTP/1.1
// client (keep-alive connections, each sending its next request as soon
// as the previous answer is in) for loopback servers only, plus the
// minimal JSON echo server that serves as the machine's ceiling.
//
// Usage:
//
//	riskload compare --riskd bin/riskd --policy examples/loan [--duration 10s] [--conns 64] [--audit batch]
//	riskload compare --riskd bin/riskd --scenario single-model,three-model --dist both [--rounds 3]
//	riskload gc --riskd bin/riskd [--scenario single-model] [--gogc 100,200,400,800] [--gomemlimit 256MiB]
//	riskload drive --url http://127.0.0.1:8080/v1/decide --policy examples/loan [--duration 10s]
//	riskload echo [--addr 127.0.0.1:0] [--mode raw|json]
//	riskload otel --riskd bin/riskd --policy examples/loan [--ratios 0.01,1]
//	riskload kafka --riskd bin/riskd --policy examples/loan [--events 200000]
//	riskload cache --riskd bin/riskd [--keys 200000] [--entries 10000] [--zipf 1.1] [--in-process]
//
// compare starts the echo server and, for each named scenario (or the
// policy) and key distribution, a fresh riskd; it drives both with the
// same requests and prints requests/s, p50/p95/p99, server CPU per
// request and RSS, and riskd against the echo ceiling (make load runs
// it). With --rounds N it measures the two servers of each comparison
// alternately N times, the order swapped every round, and judges the
// median of the per-round ratios. gc compares GOGC values (make load-gc).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/riskforge/riskforge/api"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `riskload — load generator for riskd (loopback only)

Usage:
  riskload compare --riskd bin/riskd --policy PATH [--duration 10s] [--conns 64] [--audit always|batch|none]
  riskload compare --riskd bin/riskd --scenario single-model,three-model|all [--dist zipf|uniform|both] [--rounds N]
  riskload gc --riskd bin/riskd [--scenario single-model] [--gogc 100,200,400,800] [--gomemlimit 256MiB]
  riskload ab --riskd bin/riskd --base OLD_RISKD [--scenario single-model] [--rounds 3]   two riskd builds alternately
  riskload drive --url http://127.0.0.1:PORT/v1/decide --policy PATH [--duration 10s] [--conns 64]
  riskload echo [--addr 127.0.0.1:0] [--mode raw|json]
  riskload otel --riskd bin/riskd --policy PATH [--ratios 0.01,1]   tracing off vs sampled
  riskload kafka --riskd bin/riskd --policy PATH [--events 200000]  riskd consume vs HTTP decisions/s
  riskload cache --riskd bin/riskd [--keys 200000] [--entries 10000] [--zipf 1.1]   riskd with lookups vs echo
  riskload cache --in-process [--keys 200000] [--entries 20000]    the feature cache alone vs Redis direct
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "echo":
		fs := flag.NewFlagSet("riskload echo", flag.ContinueOnError)
		fs.SetOutput(stderr)
		addr := fs.String("addr", "127.0.0.1:0", "listen `address`")
		mode := fs.String("mode", "raw", "raw: write the request body back; json: parse and re-encode it")
		debug := fs.String("debug-addr", "", "also serve Go's /debug/pprof profiles on this loopback `address` (to profile the echo as riskd's server.debug_addr profiles riskd)")
		if fs.Parse(args[1:]) != nil {
			return 2
		}
		if err := serveEchoDebug(*debug, stderr); err != nil {
			fmt.Fprintf(stderr, "riskload echo: %v\n", err)
			return 1
		}
		if err := serveEcho(*addr, *mode, stdout); err != nil {
			fmt.Fprintf(stderr, "riskload echo: %v\n", err)
			return 1
		}
		return 0
	case "drive":
		return driveCmd(args[1:], stdout, stderr)
	case "compare":
		return compareCmd(args[1:], stdout, stderr)
	case "otel":
		return otelCmd(args[1:], stdout, stderr)
	case "kafka":
		return kafkaCmd(args[1:], stdout, stderr)
	case "cache":
		return cacheCmd(args[1:], stdout, stderr)
	case "gc":
		return gcCmd(args[1:], stdout, stderr)
	case "ab":
		return abCmd(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "riskload: unknown command %q\n\n%s", args[0], usage)
	return 2
}

type loadFlags struct {
	policy           string
	duration, warmup time.Duration
	conns, bodies    int
	procs            int
	dist             string
}

// flagSet makes the flag set of the subcommand called name, reporting to
// stderr, with the load flags every scenario shares bound to f.
func (f *loadFlags) flagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.policy, "policy", "", "policy `path` whose inputs the generated requests follow (.risk, .rbc or a directory)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured duration per target")
	fs.DurationVar(&f.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each measurement")
	fs.IntVar(&f.conns, "conns", 64, "concurrent keep-alive connections")
	fs.IntVar(&f.bodies, "requests", 65536, "distinct request bodies to cycle through (each sent with ts the current second and, for a new user, an id never sent before)")
	fs.IntVar(&f.procs, "procs", 0, "GOMAXPROCS of the load generator itself (0: all CPUs); the servers keep theirs")
	fs.StringVar(&f.dist, "dist", distZipf, "key distribution of the generated identifiers: zipf (popular devices, IPs, merchants and cards, 80% new users) or uniform"+
		" (compare also takes both)")
	return fs
}

func (f *loadFlags) check() error {
	return f.checkWith(false)
}

// scenarioFlags adds --scenario (one named scenario) and --examples to
// fs, for the subcommands that serve a single policy; the returned func,
// called after parsing, resolves them (resolveScenario).
func (f *loadFlags) scenarioFlags(fs *flag.FlagSet) func() error {
	scenario := fs.String("scenario", "single-model", "named `scenario` to serve when --policy is not given (single-model, three-model)")
	examples := fs.String("examples", "examples", "`directory` holding the scenarios' example policies")
	return func() error { return f.resolveScenario(*scenario, *examples) }
}

// resolveScenario sets f.policy to the named scenario's example policy
// when --policy is not given, then checks the flags.
func (f *loadFlags) resolveScenario(scenario, examples string) error {
	if f.policy == "" {
		for _, sc := range scenarios {
			if sc.name == scenario {
				f.policy = filepath.Join(examples, sc.dir)
			}
		}
		if f.policy == "" {
			return fmt.Errorf("--scenario: unknown scenario %q", scenario)
		}
	}
	return f.check()
}

// checkWith checks the flags; scenarios says whether --scenario may
// stand in for --policy and --dist may be "both" (compare).
func (f *loadFlags) checkWith(scenarios bool) error {
	switch {
	case f.dist != distZipf && f.dist != distUniform && !(scenarios && f.dist == "both"):
		if scenarios {
			return fmt.Errorf("--dist %q: want zipf, uniform or both", f.dist)
		}
		return fmt.Errorf("--dist %q: want zipf or uniform", f.dist)
	case f.policy == "" && !scenarios:
		return errors.New("--policy is required")
	case f.duration <= 0 || f.duration > 10*time.Minute:
		return errors.New("--duration must be between 0 and 10m")
	case f.warmup < 0 || f.warmup > time.Minute:
		return errors.New("--warmup must be between 0 and 1m")
	case f.conns < 1 || f.conns > 4096:
		return errors.New("--conns must be between 1 and 4096")
	case f.bodies < 1:
		return errors.New("--requests must be at least 1")
	}
	return nil
}

func driveCmd(args []string, stdout, stderr io.Writer) int {
	var f loadFlags
	fs := f.flagSet("riskload drive", stderr)
	rawURL := fs.String("url", "", "`URL` to POST to (http, loopback)")
	if fs.Parse(args) != nil {
		return 2
	}
	if err := f.check(); err != nil {
		fmt.Fprintf(stderr, "riskload drive: %v\n", err)
		return 2
	}
	t, err := parseTarget("target", *rawURL)
	if err != nil {
		fmt.Fprintf(stderr, "riskload drive: %v\n", err)
		return 2
	}
	prog, err := loadPolicy(f.policy)
	if err != nil {
		fmt.Fprintf(stderr, "riskload drive: %v\n", err)
		return 1
	}
	r, err := drive(t, genBodies(prog, f.bodies, 1, f.dist), f.conns, f.warmup, f.duration)
	if err != nil {
		fmt.Fprintf(stderr, "riskload drive: %v\n", err)
		return 1
	}
	printTable(stdout, f, r)
	if r.errors > 0 {
		fmt.Fprintf(stderr, "riskload drive: %d errors (first: %s)\n", r.errors, r.firstErr)
		return 1
	}
	return 0
}

// startRiskd starts `riskd serve` with args and extra environment (JSON
// logs at info, so startChild finds the address) and returns it with its
// decide endpoint, named name in the tables.
func startRiskd(bin, name string, args, env []string, stderr io.Writer) (*exec.Cmd, target, error) {
	rd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json", "--log-level", "info"}, args...)...)
	rd.Env = append(os.Environ(), env...)
	addr, err := startChild(rd, true, stderr)
	if err != nil {
		return nil, target{}, fmt.Errorf("%s: %w", name, err)
	}
	t, err := parseTarget(name, "http://"+addr+"/v1/decide")
	if err != nil {
		stopChild(rd)
		return nil, target{}, fmt.Errorf("%s: %w", name, err)
	}
	return rd, t, nil
}

// driveServe starts riskd serve on f.policy with extra environment,
// drives it like any target and stops it; it also returns riskd's
// readiness summary (the models it loaded).
func driveServe(bin string, f loadFlags, bodies *bodySet, name string, env []string, stderr io.Writer) (*result, string, error) {
	rd, t, err := startRiskd(bin, name, []string{"--policy", f.policy, "--watch", "false"}, env, stderr)
	if err != nil {
		return nil, "", err
	}
	defer stopChild(rd)
	note := readyNote("http://" + t.host + "/readyz")
	r, err := driveMeasured(t, rd.Process.Pid, bodies, f)
	return r, note, err
}

func printTable(w io.Writer, f loadFlags, rs ...*result) {
	fmt.Fprintf(w, "%-12s %10s %8s %10s %9s %9s %9s %9s %9s %8s\n", "target", "requests", "errors", "req/s", "p50", "p95", "p99", "max", "CPU/req", "RSS")
	for _, r := range rs {
		cpu := "-"
		if r.cpu > 0 {
			cpu = fmtDur(r.cpuPerReq())
		}
		fmt.Fprintf(w, "%-12s %10d %8d %10.0f %9s %9s %9s %9s %9s %8s\n", r.name, r.requests, r.errors, r.rate(),
			fmtDur(r.pct(50)), fmtDur(r.pct(95)), fmtDur(r.pct(99)), fmtDur(r.pct(100)), cpu, fmtMB(r.rss))
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	default:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
}

// startChild starts a server and returns the address it reports: the
// echo server prints "listening ADDR" on stdout, riskd logs a JSON line
// with "msg":"listening" on stderr. riskd's warnings and errors are
// passed on.
func startChild(cmd *exec.Cmd, isRiskd bool, stderr io.Writer) (string, error) {
	var pipe io.ReadCloser
	var err error
	if isRiskd {
		pipe, err = cmd.StderrPipe()
	} else {
		cmd.Stderr = stderr
		pipe, err = cmd.StdoutPipe()
	}
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if !isRiskd {
				if a, ok := strings.CutPrefix(line, "listening "); ok && !sent {
					addrc <- a
					sent = true
				}
				continue
			}
			var rec struct {
				Level string `json:"level"`
				Msg   string `json:"msg"`
				Addr  string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) != nil {
				fmt.Fprintln(stderr, "riskd:", line)
				continue
			}
			if rec.Msg == "listening" && !sent {
				addrc <- rec.Addr
				sent = true
			}
			if rec.Level == "WARN" || rec.Level == "ERROR" {
				fmt.Fprintln(stderr, "riskd:", line)
			}
		}
		if !sent {
			close(addrc)
		}
	}()
	select {
	case a, ok := <-addrc:
		if !ok {
			cmd.Wait()
			return "", errors.New("exited before listening")
		}
		return a, nil
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		return "", errors.New("did not start listening within 60s")
	}
}

func stopChild(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// readyNote asks riskd's /readyz and summarises it for the header line.
func readyNote(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return "readiness unknown: " + err.Error()
	}
	defer resp.Body.Close()
	var rep api.ReadyReport
	if json.NewDecoder(resp.Body).Decode(&rep) != nil {
		return fmt.Sprintf("readyz %d", resp.StatusCode)
	}
	var parts []string
	for _, c := range rep.Checks {
		if c.Name == "models" || !c.OK {
			parts = append(parts, c.Name+": "+c.Detail)
		}
	}
	state := "ready"
	if !rep.Ready {
		state = "NOT ready"
	}
	return state + " (" + strings.Join(parts, "; ") + ")"
}

// driveMeasured drives t and reads the server process's CPU time over the
// measured interval.
func driveMeasured(t target, pid int, bodies *bodySet, f loadFlags) (*result, error) {
	var cpu0, cpu1 time.Duration
	var rss, peak, reads0, reads1 int64
	start := time.AfterFunc(f.warmup, func() { cpu0, reads0 = processCPU(pid), processReads(pid) })
	end := time.AfterFunc(f.warmup+f.duration, func() {
		cpu1, reads1 = processCPU(pid), processReads(pid)
		rss, peak = processRSS(pid)
	})
	r, err := drive(t, bodies, f.conns, f.warmup, f.duration)
	start.Stop()
	end.Stop()
	if err == nil && cpu1 > cpu0 {
		r.cpu = cpu1 - cpu0
	}
	if err == nil && reads0 > 0 && reads1 > reads0 {
		r.reads = reads1 - reads0
	}
	if err == nil {
		r.rss, r.peakRSS = rss, peak
	}
	return r, err
}

// processRSS returns a process's resident set size now and its peak
// (VmRSS and VmHWM of Linux /proc/PID/status), or zeros.
func processRSS(pid int) (rss, peak int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		fields := strings.Fields(v) // "12345 kB"
		if len(fields) == 0 {
			continue
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak
}

// processCPU returns user+system CPU time of a process (Linux /proc), or 0.
func processCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which is in parentheses and may hold spaces).
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// processReads returns a process's read system calls so far (syscr of
// Linux /proc/PID/io), 0 when unknown. Per request it shows how often
// net/http's reads find no data and park (docs/OPERATIONS.md §15).
func processReads(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// loadAvg returns the 1-minute load average, "?" when unknown.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(data)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
