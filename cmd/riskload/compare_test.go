package main

import (
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestServeArgs: --riskd-config reaches riskd serve as --config, after
// the scenario's policy; without it riskd gets no config at all.
func TestServeArgs(t *testing.T) {
	plain := compareFlags{}.serveArgs("examples/loan_ml")
	if want := []string{"--policy", "examples/loan_ml", "--watch", "false"}; !slices.Equal(plain, want) {
		t.Errorf("without --riskd-config: %q, want %q", plain, want)
	}
	withCfg := compareFlags{riskdConfig: "c.yaml"}.serveArgs("p")
	if want := []string{"--policy", "p", "--watch", "false", "--config", "c.yaml"}; !slices.Equal(withCfg, want) {
		t.Errorf("with --riskd-config: %q, want %q", withCfg, want)
	}
}

// TestProcessReads: this process's read calls are counted and grow with
// a read; a process that does not exist gives 0.
func TestProcessReads(t *testing.T) {
	before := processReads(os.Getpid())
	if _, err := os.ReadFile("/proc/self/stat"); err != nil {
		t.Fatal(err)
	}
	if after := processReads(os.Getpid()); before <= 0 || after <= before {
		t.Errorf("read calls %d then %d, want positive and growing", before, after)
	}
	if n := processReads(-1); n != 0 {
		t.Errorf("no such process: %d, want 0", n)
	}
}

// TestReadsPerReq: read calls over requests, 0 without requests.
func TestReadsPerReq(t *testing.T) {
	if got := (&result{requests: 4, reads: 10}).readsPerReq(); got != 2.5 {
		t.Errorf("10 reads over 4 requests: %v, want 2.5", got)
	}
	if got := (&result{reads: 10}).readsPerReq(); got != 0 {
		t.Errorf("no requests: %v, want 0", got)
	}
}

// TestEchoDebugAddr: --debug-addr serves pprof's index on loopback and
// refuses any other address.
func TestEchoDebugAddr(t *testing.T) {
	if err := serveEchoDebug("", io.Discard); err != nil {
		t.Errorf("no --debug-addr: %v", err)
	}
	if err := serveEchoDebug("0.0.0.0:0", io.Discard); err == nil {
		t.Error("0.0.0.0 was taken; want a refusal")
	}
	var out strings.Builder
	if err := serveEchoDebug("127.0.0.1:0", &out); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(out.String(), "pprof on "))
	resp, err := http.Get("http://" + addr + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/debug/pprof/: %d, want 200", resp.StatusCode)
	}
}

// TestABRefusesBadFlags: ab needs a base build, at least one round and a
// known scenario, and says which flag is wrong, before starting anything.
func TestABRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--base: the base riskd binary is required"},
		{[]string{"--base", "old", "--rounds", "0"}, "--rounds: 0, want at least 1"},
		{[]string{"--base", "old", "--scenario", "nope"}, `--scenario: unknown scenario "nope"`},
	} {
		var out, errOut strings.Builder
		if code := run(append([]string{"ab"}, tc.args...), &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("ab %q: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}
