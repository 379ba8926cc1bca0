package main

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	mrand "math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cacheCmd is the feature-cache scenario through riskd's HTTP path:
// riskd serves examples/datastack/loan_profile.risk, whose profile lookup
// reads a real redis-server holding more profiles than the cache may
// keep, and whose device lookup reads a reputation service riskload runs;
// users and devices are drawn from Zipf distributions. The echo server
// takes the same load in the same run, the machine's ceiling. Hit rates
// and degraded decisions come from riskd's own metrics over the measured
// interval. With --in-process it measures the cache alone instead.
func cacheCmd(args []string, stdout, stderr io.Writer) int {
	if slices.Contains(args, "--in-process") || slices.Contains(args, "-in-process") {
		return cacheInProcessCmd(slices.DeleteFunc(slices.Clone(args), func(a string) bool { return strings.TrimLeft(a, "-") == "in-process" }), stdout, stderr)
	}
	var f loadFlags
	fs := f.flagSet("riskload cache", stderr)
	// A cache scenario needs longer to warm than the others: the cache
	// fills from cold while the load runs.
	fs.Lookup("requests").DefValue, f.bodies = "200000", 200000
	fs.Lookup("warmup").DefValue, f.warmup = "5s", 5*time.Second
	riskd := fs.String("riskd", "bin/riskd", "riskd `binary`")
	keys := fs.Int("keys", 200000, "profiles stored in Redis (the key space of users)")
	devices := fs.Int("devices", 100000, "devices the reputation service knows (9 in 10 of the device key space)")
	entries := fs.Int("entries", 10000, "riskd's profile cache bound in entries (lookups.profile.max_entries)")
	skew := fs.Float64("zipf", 1.1, "Zipf exponent s (> 1) of users and devices")
	if f.policy == "" {
		f.policy = "examples/datastack/loan_profile.risk"
	}
	if fs.Parse(args) != nil {
		return 2
	}
	if err := f.check(); err != nil || *keys < *entries || *entries < 1 || *devices < 1 || *skew <= 1 {
		fmt.Fprintf(stderr, "riskload cache: %v; need --keys >= --entries >= 1, --devices >= 1, --zipf > 1\n", err)
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "riskload cache: %v\n", err); return 1 }

	rc, addr, stop, err := startRedisServer()
	if err != nil {
		return fail(err)
	}
	defer stop()
	err = loadProfiles(rc, *keys, func(i int) (string, []any) {
		return fmt.Sprintf("profile:u%06d", i), []any{"segment", []string{"gold", "silver", "bronze"}[i%3],
			"credit_limit", strconv.Itoa(1000 + i%20000), "missed_payments", strconv.Itoa(i % 7 / 5)}
	})
	if err != nil {
		return fail(err)
	}

	// The device-reputation service: a record for 9 devices in 10, 404
	// for the others, as the policy's http lookup expects.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	devSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := fnv.New32a()
		io.WriteString(h, r.URL.Path)
		if v := h.Sum32(); v%10 != 0 {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"reputation":%.2f}`, float64(v%100)/100)
			return
		}
		http.NotFound(w, r)
	})}
	go devSrv.Serve(ln)
	defer devSrv.Close()

	dir, err := os.MkdirTemp("", "riskload-cache-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	src, err := os.ReadFile(f.policy)
	if err != nil {
		return fail(err)
	}
	pol := strings.ReplaceAll(string(src), "http://127.0.0.1:9090", "http://"+ln.Addr().String())
	policy := filepath.Join(dir, filepath.Base(f.policy))
	cfg := filepath.Join(dir, "riskd.yaml")
	yaml := fmt.Sprintf("policies:\n  - path: %s\nreload:\n  watch: false\nlookups:\n  profile:\n    redis:\n      addr: %s\n    max_entries: %d\n", policy, addr, *entries)
	if err := os.WriteFile(policy, []byte(pol), 0o600); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return fail(err)
	}
	prog, err := loadPolicy(policy)
	if err != nil {
		return fail(err)
	}
	bodies := plainBodies(cacheBodies(f.bodies, *keys, *devices*10/9, *skew))

	self, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	procs, err := riskdProcs(cfg)
	if err != nil {
		return fail(err)
	}
	echo := echoCommand(self, "raw", procs)
	echoAddr, err := startChild(echo, false, stderr)
	if err != nil {
		return fail(fmt.Errorf("echo server: %w", err))
	}
	defer stopChild(echo)
	rd := exec.Command(*riskd, "serve", "--config", cfg, "--addr", "127.0.0.1:0", "--log-format", "json", "--log-level", "info")
	rdAddr, err := startChild(rd, true, stderr)
	if err != nil {
		return fail(fmt.Errorf("riskd: %w", err))
	}
	defer stopChild(rd)

	fmt.Fprintf(stdout, "riskload cache: riskd on %s (%s); profile lookup: %d profiles in redis-server, cache bounded at %d entries; device lookup: an HTTP service (%d of %d devices known); users and devices Zipf s=%g; %d request bodies, %d connections, closed loop on loopback\n",
		prog, f.policy, *keys, *entries, *devices, *devices*10/9, *skew, bodies.len(), f.conns)
	fmt.Fprintf(stdout, "load average before: %s; warm-up %s, measured %s per target; %s\n\n", loadAvg(), f.warmup, f.duration, procsNote(rdAddr, procs))
	et, _ := parseTarget("echo", "http://"+echoAddr+"/echo")
	rt, _ := parseTarget("riskd+cache", "http://"+rdAddr+"/v1/decide")
	er, err := driveMeasured(et, echo.Process.Pid, bodies, f)
	if err != nil {
		return fail(err)
	}
	var m0, m1 map[string]float64
	metricsURL := "http://" + rdAddr + "/metrics"
	t0 := time.AfterFunc(f.warmup, func() { m0 = scrape(metricsURL) })
	t1 := time.AfterFunc(f.warmup+f.duration, func() { m1 = scrape(metricsURL) })
	rr, err := driveMeasured(rt, rd.Process.Pid, bodies, f)
	t0.Stop()
	t1.Stop()
	if err != nil {
		return fail(err)
	}
	printTable(stdout, f, er, rr)
	fmt.Fprintf(stdout, "\nserver CPU per request: echo %s, riskd %s; riskd RSS %s\n", fmtDur(er.cpuPerReq()), fmtDur(rr.cpuPerReq()), rss(rd.Process.Pid))
	fmt.Fprintf(stdout, "riskd+cache / echo throughput: %.2f; p99 %s vs %s\n", rr.rate()/er.rate(), fmtDur(rr.pct(99)), fmtDur(er.pct(99)))
	if m0 == nil || m1 == nil {
		return fail(fmt.Errorf("could not read riskd's metrics"))
	}
	d := func(name string) float64 { return m1[name] - m0[name] }
	for _, l := range []string{"profile", "device"} {
		hits, misses := d("riskforge_lookup_hits_total|"+l), d("riskforge_lookup_misses_total|"+l)
		fmt.Fprintf(stdout, "lookup %-8s hit rate %.3f (%.0f hits, %.0f misses), %.0f fetches, %.0f fetch errors, %.0f evictions; %.0f entries at the end\n",
			l, hits/max(hits+misses, 1), hits, misses, d("riskforge_lookup_fetches_total|"+l), d("riskforge_lookup_fetch_errors_total|"+l),
			d("riskforge_lookup_evictions_total|"+l), m1["riskforge_lookup_cache_entries|"+l])
	}
	decided := d("riskforge_decisions_total|")
	fmt.Fprintf(stdout, "degraded decisions (a lookup failed or timed out: %s): %.0f of %.0f (%.2f%%)\n",
		"the policy's timeouts are 10ms and 20ms", d("riskforge_degraded_decisions_total|"), decided, 100*d("riskforge_degraded_decisions_total|")/max(decided, 1))
	fmt.Fprintf(stdout, "load average after: %s (other processes on the machine share its CPUs and skew the figures)\n", loadAvg())
	if rr.errors > 0 || er.errors > 0 {
		fmt.Fprintf(stdout, "errors: riskd %d (first: %s), echo %d (first: %s)\n", rr.errors, rr.firstErr, er.errors, er.firstErr)
		return 1
	}
	return 0
}

// cacheBodies makes n loan applications whose users (of keys) and
// devices (of devices) are Zipf-distributed: a few customers and devices
// come back often, most rarely, so a cache smaller than the key space
// still answers most lookups.
func cacheBodies(n, keys, devices int, s float64) [][]byte {
	rng := mrand.New(mrand.NewSource(1))
	zu := mrand.NewZipf(rng, s, 1, uint64(keys-1))
	zd := mrand.NewZipf(rng, s, 1, uint64(devices-1))
	// Zipf rank 0 is the most frequent; scatter the ranks over the ids so
	// popularity does not follow the insertion order.
	perm := rng.Perm(keys)
	dperm := rng.Perm(devices)
	ts := time.Now().UTC().Format(time.RFC3339)
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"event":"loan_apply","request_id":"cache-%d","features":{"user_id":"u%06d","device_id":"d%06d","amount":%d,"income":%d,"ts":%q}}`,
			i, perm[zu.Uint64()], dperm[zd.Uint64()], 100+rng.Intn(20000), 500+rng.Intn(5000), ts)
	}
	return out
}

// scrape reads riskd's /metrics (text format) into sums by
// "NAME|LOOKUP" (the lookup label's value, "" for other series).
func scrape(url string) map[string]float64 {
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		name, labels, _ := strings.Cut(line[:sp], "{")
		l := ""
		if _, rest, ok := strings.Cut(labels, `lookup="`); ok {
			l, _, _ = strings.Cut(rest, `"`)
		}
		m[name+"|"+l] += v
	}
	return m
}

// rss is a process's resident memory (Linux /proc), "?" when unknown.
func rss(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return fmt.Sprintf("%d MB", kb/1024)
		}
	}
	return "?"
}
