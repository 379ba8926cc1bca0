// Command riskload is riskd's load generator: a closed-loop HTTP/1.1
// client (keep-alive connections, each sending its next request as soon
// as the previous answer is in) for loopback servers only, plus the
// minimal JSON echo server that serves as the machine's ceiling.
//
// Usage:
//
//	riskload compare --riskd bin/riskd --policy examples/loan [--duration 10s] [--conns 64] [--audit batch]
//	riskload drive --url http://127.0.0.1:8080/v1/decide --policy examples/loan [--duration 10s]
//	riskload echo [--addr 127.0.0.1:0] [--mode raw|json]
//	riskload otel --riskd bin/riskd --policy examples/loan [--ratios 0.01,1]
//	riskload kafka --riskd bin/riskd --policy examples/loan [--events 200000]
//	riskload cache --riskd bin/riskd [--keys 200000] [--entries 10000] [--zipf 1.1] [--in-process]
//
// compare starts riskd on the policy and the echo server, drives both
// with the same requests, and prints requests/s, p50/p95/p99 and the
// ratio riskd / echo (make load runs it).
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
	"runtime"
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
		if fs.Parse(args[1:]) != nil {
			return 2
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
	}
	fmt.Fprintf(stderr, "riskload: unknown command %q\n\n%s", args[0], usage)
	return 2
}

type loadFlags struct {
	policy           string
	duration, warmup time.Duration
	conns, bodies    int
	procs            int
}

func (f *loadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.policy, "policy", "", "policy `path` whose inputs the generated requests follow (.risk, .rbc or a directory)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured duration per target")
	fs.DurationVar(&f.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each measurement")
	fs.IntVar(&f.conns, "conns", 64, "concurrent keep-alive connections")
	fs.IntVar(&f.bodies, "requests", 65536, "distinct request bodies to cycle through")
	fs.IntVar(&f.procs, "procs", 0, "GOMAXPROCS of the load generator itself (0: all CPUs); the servers keep theirs")
}

func (f *loadFlags) check() error {
	switch {
	case f.policy == "":
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
	fs := flag.NewFlagSet("riskload drive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f loadFlags
	f.register(fs)
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
	r, err := drive(t, genBodies(prog, f.bodies, 1), f.conns, f.warmup, f.duration)
	if err != nil {
		fmt.Fprintf(stderr, "riskload drive: %v\n", err)
		return 1
	}
	printTable(stdout, f, r)
	if r.errors > 0 {
		return 1
	}
	return 0
}

func compareCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("riskload compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f loadFlags
	f.register(fs)
	riskd := fs.String("riskd", "bin/riskd", "riskd `binary`")
	echoMode := fs.String("echo-mode", "raw", "echo server mode: raw or json")
	auditSync := fs.String("audit", "", "also drive a riskd recording every decision in an audit log with this sync `policy` (always, batch, none) and print its throughput relative to riskd without it")
	withRedis := fs.Bool("with-redis", false, "also drive riskd with its windows in Redis (starts redis-server on loopback) and compare it with the embedded store")
	if fs.Parse(args) != nil {
		return 2
	}
	if err := f.check(); err != nil {
		fmt.Fprintf(stderr, "riskload compare: %v\n", err)
		return 2
	}
	if f.procs > 0 {
		runtime.GOMAXPROCS(f.procs)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "riskload compare: %v\n", err)
		return 1
	}
	prog, err := loadPolicy(f.policy)
	if err != nil {
		return fail(err)
	}
	bodies := genBodies(prog, f.bodies, 1)
	self, err := os.Executable()
	if err != nil {
		return fail(err)
	}

	echo := exec.Command(self, "echo", "--addr", "127.0.0.1:0", "--mode", *echoMode)
	echoAddr, err := startChild(echo, false, stderr)
	if err != nil {
		return fail(fmt.Errorf("echo server: %w", err))
	}
	defer stopChild(echo)
	rd := exec.Command(*riskd, "serve", "--policy", f.policy, "--addr", "127.0.0.1:0", "--log-format", "json", "--log-level", "info", "--watch", "false")
	rdAddr, err := startChild(rd, true, stderr)
	if err != nil {
		return fail(fmt.Errorf("riskd: %w", err))
	}
	defer stopChild(rd)
	ready := readyNote("http://" + rdAddr + "/readyz")

	fmt.Fprintf(stdout, "riskload: %s (%s), %d request bodies, %d connections, closed loop on loopback\n", prog, f.policy, len(bodies), f.conns)
	fmt.Fprintf(stdout, "machine: %d CPUs (generator GOMAXPROCS %d), %s/%s, load average %s before; warm-up %s, measured %s per target; riskd %s\n\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, loadAvg(), f.warmup, f.duration, ready)
	et, _ := parseTarget("echo ("+*echoMode+")", "http://"+echoAddr+"/echo")
	rt, _ := parseTarget("riskd", "http://"+rdAddr+"/v1/decide")
	er, err := driveMeasured(et, echo.Process.Pid, bodies, f)
	if err != nil {
		return fail(err)
	}
	rr, err := driveMeasured(rt, rd.Process.Pid, bodies, f)
	if err != nil {
		return fail(err)
	}
	printTable(stdout, f, er, rr)
	fmt.Fprintf(stdout, "\nload average after: %s (other processes on the machine share its CPUs and skew the figures)", loadAvg())
	fmt.Fprintf(stdout, "\nserver CPU per request: echo %s, riskd %s (user+system time of the server process over the measured interval)\n", fmtDur(er.cpuPerReq()), fmtDur(rr.cpuPerReq()))
	ratio := rr.rate() / er.rate()
	fmt.Fprintf(stdout, "riskd / echo throughput: %.2f (target >= 0.50: %s)\n", ratio, verdict(ratio >= 0.5))
	fmt.Fprintf(stdout, "riskd p99: %s (target < 10ms: %s)\n", fmtDur(rr.pct(99)), verdict(rr.pct(99) < 10*time.Millisecond))
	if *auditSync != "" {
		ar, err := driveAudited(*riskd, *auditSync, bodies, f, stderr)
		if err != nil {
			return fail(err)
		}
		printTable(stdout, f, rr, ar)
		ratio := ar.rate() / rr.rate()
		fmt.Fprintf(stdout, "server CPU per request: riskd %s, riskd with audit %s\n", fmtDur(rr.cpuPerReq()), fmtDur(ar.cpuPerReq()))
		fmt.Fprintf(stdout, "riskd audit(%s) / riskd: %.2f throughput, p99 %s vs %s (target >= 0.80: %s); load average %s\n",
			*auditSync, ratio, fmtDur(ar.pct(99)), fmtDur(rr.pct(99)), verdict(ratio >= 0.8), loadAvg())
		if ar.errors > 0 {
			fmt.Fprintf(stdout, "errors: riskd with audit %d (first: %s)\n", ar.errors, ar.firstErr)
			return 1
		}
	}
	if rr.errors > 0 || er.errors > 0 {
		fmt.Fprintf(stdout, "errors: riskd %d (first: %s), echo %d (first: %s)\n", rr.errors, rr.firstErr, er.errors, er.firstErr)
		return 1
	}
	if *withRedis {
		if err := compareRedis(*riskd, f.policy, bodies, f, rr, stdout, stderr); err != nil {
			return fail(err)
		}
	}
	return 0
}

// driveAudited starts riskd with an audit log in a temporary directory
// and drives it like the plain one.
func driveAudited(riskd, sync string, bodies [][]byte, f loadFlags, stderr io.Writer) (*result, error) {
	dir, err := os.MkdirTemp("", "riskload-audit-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	rd := exec.Command(riskd, "serve", "--policy", f.policy, "--addr", "127.0.0.1:0", "--log-format", "json", "--log-level", "info", "--watch", "false",
		"--audit-dir", dir, "--audit-sync", sync)
	addr, err := startChild(rd, true, stderr)
	if err != nil {
		return nil, fmt.Errorf("riskd with audit: %w", err)
	}
	defer stopChild(rd)
	t, _ := parseTarget("riskd+audit", "http://"+addr+"/v1/decide")
	return driveMeasured(t, rd.Process.Pid, bodies, f)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func printTable(w io.Writer, f loadFlags, rs ...*result) {
	fmt.Fprintf(w, "%-12s %10s %8s %10s %9s %9s %9s %9s\n", "target", "requests", "errors", "req/s", "p50", "p95", "p99", "max")
	for _, r := range rs {
		fmt.Fprintf(w, "%-12s %10d %8d %10.0f %9s %9s %9s %9s\n", r.name, r.requests, r.errors, r.rate(),
			fmtDur(r.pct(50)), fmtDur(r.pct(95)), fmtDur(r.pct(99)), fmtDur(r.pct(100)))
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
func driveMeasured(t target, pid int, bodies [][]byte, f loadFlags) (*result, error) {
	var cpu0, cpu1 time.Duration
	start := time.AfterFunc(f.warmup, func() { cpu0 = processCPU(pid) })
	end := time.AfterFunc(f.warmup+f.duration, func() { cpu1 = processCPU(pid) })
	r, err := drive(t, bodies, f.conns, f.warmup, f.duration)
	start.Stop()
	end.Stop()
	if err == nil && cpu1 > cpu0 {
		r.cpu = cpu1 - cpu0
	}
	return r, err
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
