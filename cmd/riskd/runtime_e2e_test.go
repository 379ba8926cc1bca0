package main

import (
	"encoding/json"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/server/config"
)

// TestGOMAXPROCS starts riskd and reads the GOMAXPROCS it runs with from
// /metrics (go_sched_gomaxprocs_threads) and from its "go runtime" log
// line: the automatic default, runtime.gomaxprocs from the config, and
// the GOMAXPROCS environment variable winning over the config. Not
// parallel: it sets the environment riskd inherits.
func TestGOMAXPROCS(t *testing.T) {
	// This test binary's GOMAXPROCS is Go's default as riskd sees it too
	// (go test changes it only under -cpu), unless the environment sets it.
	auto := config.Runtime{}.Procs(runtime.GOMAXPROCS(0), runtime.NumCPU())
	if env := os.Getenv("GOMAXPROCS"); env != "" {
		auto, _ = strconv.Atoi(env)
	}
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "policies:\n  - path: "+policyDir(t, "loan.risk")+"\nruntime:\n  gomaxprocs: 3\n")
	for _, c := range []struct {
		name string
		env  string
		args []string
		want int
	}{
		{"automatic", "", []string{"--policy", policyDir(t, "loan.risk")}, auto},
		{"config", "", []string{"--config", cfg}, 3},
		{"environment over config", "1", []string{"--config", cfg}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.env != "" {
				t.Setenv("GOMAXPROCS", c.env)
			}
			p := startRiskd(t, c.args...)
			if got := metric(t, p, "go_sched_gomaxprocs_threads"); got != float64(c.want) {
				t.Errorf("go_sched_gomaxprocs_threads %g, want %d", got, c.want)
			}
			if got := loggedProcs(t, p.logs.String()); got != c.want {
				t.Errorf(`"go runtime" log line: gomaxprocs %d, want %d`, got, c.want)
			}
		})
	}
}

// loggedProcs is the gomaxprocs of riskd's "go runtime" log line.
func loggedProcs(t *testing.T, logs string) int {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var rec struct {
			Msg        string
			GOMAXPROCS int `json:"gomaxprocs"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "go runtime" {
			return rec.GOMAXPROCS
		}
	}
	t.Fatalf(`no "go runtime" line in riskd's log:\n%s`, logs)
	return 0
}
