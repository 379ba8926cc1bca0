package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	"github.com/riskforge/riskforge/server/config"
)

// goDefaultProcs is Go's GOMAXPROCS for this process as it started,
// before --procs changes it: what a child started without GOMAXPROCS in
// its environment gets too.
var goDefaultProcs = runtime.GOMAXPROCS(0)

// riskdProcs is the GOMAXPROCS a riskd started by riskload runs with: its
// config's runtime.gomaxprocs (configPath, or the defaults when empty)
// resolved as riskd resolves it, or 0 when GOMAXPROCS is set in this
// environment, which riskd and the echo inherit alike.
func riskdProcs(configPath string) (int, error) {
	if os.Getenv("GOMAXPROCS") != "" {
		return 0, nil
	}
	cfg := config.Default()
	if configPath != "" {
		c, err := config.Load(configPath)
		if err != nil {
			return 0, fmt.Errorf("--riskd-config: %w", err)
		}
		cfg = c
	}
	return cfg.Runtime.Procs(goDefaultProcs, runtime.NumCPU()), nil
}

// echoCommand is the echo server child in mode with procs as its
// GOMAXPROCS (0: inherited), so that the ceiling riskd is compared with
// runs with riskd's setting: a Go server with more threads than cores
// takes a larger share of cores it shares with the load generator, and
// loses less to a thread the kernel preempts (docs/OPERATIONS.md §15).
func echoCommand(self, mode string, procs int) *exec.Cmd {
	cmd := exec.Command(self, "echo", "--addr", "127.0.0.1:0", "--mode", mode)
	if procs > 0 {
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
	}
	return cmd
}

// procsNote says which GOMAXPROCS riskd reports on its metrics (host:port)
// next to the echo's, for the scenario heading.
func procsNote(host string, echoProcs int) string {
	got, ok := scrape("http://" + host + "/metrics")["go_sched_gomaxprocs_threads|"]
	if !ok {
		return "GOMAXPROCS unknown (no go_sched_gomaxprocs_threads on /metrics)"
	}
	echo := "inherited"
	if echoProcs > 0 {
		echo = strconv.Itoa(echoProcs)
	}
	note := fmt.Sprintf("GOMAXPROCS %d, the echo's %s", int(got), echo)
	if echoProcs > 0 && int(got) != echoProcs {
		note += " (NOT the same: the ratios compare unlike servers)"
	}
	return note
}
