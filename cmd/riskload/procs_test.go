package main

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/server/config"
)

// TestEchoProcs checks that compare's echo gets the GOMAXPROCS riskd
// resolves: from --riskd-config, from riskd's default, and nothing of its
// own when GOMAXPROCS is in the environment both inherit.
func TestEchoProcs(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "riskd.yaml")
	if err := os.WriteFile(cfg, []byte("runtime:\n  gomaxprocs: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := riskdProcs(cfg); err != nil || n != 5 {
		t.Errorf("riskdProcs(gomaxprocs: 5) = %d, %v; want 5", n, err)
	}
	want := config.Runtime{}.Procs(goDefaultProcs, runtime.NumCPU())
	if os.Getenv("GOMAXPROCS") == "" {
		if n, err := riskdProcs(""); err != nil || n != want {
			t.Errorf("riskdProcs(default) = %d, %v; want %d", n, err, want)
		}
	}
	if _, err := riskdProcs(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "--riskd-config") {
		t.Errorf("a missing config: %v", err)
	}
	if env := echoCommand("riskload", "raw", 5).Env; !slices.Contains(env, "GOMAXPROCS=5") {
		t.Errorf("echo environment without GOMAXPROCS=5: %v", env)
	}
	if env := echoCommand("riskload", "raw", 0).Env; env != nil {
		t.Errorf("echo with procs 0 got an environment of its own: %v", env)
	}
	t.Setenv("GOMAXPROCS", "3")
	if n, err := riskdProcs(cfg); err != nil || n != 0 {
		t.Errorf("riskdProcs with GOMAXPROCS in the environment = %d, %v; want 0 (inherited)", n, err)
	}
}
