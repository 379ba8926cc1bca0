package state

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskforge/riskforge/server/config"
	"github.com/riskforge/riskforge/vm"
)

func testProg() *vm.Program {
	return &vm.Program{Inputs: []vm.Input{{Name: "card", Type: vm.TString}},
		Windows: []vm.Window{{Name: "c", Agg: "count", OverSec: 3600, Keys: []vm.KeyPart{{String: true}}}}}
}

func observe(t *testing.T, ws vm.WindowStore, key string, ts float64) float64 {
	out := []float64{0}
	if err := ws.Observe([]vm.WindowObs{{Key: vm.WindowKey{Str: key}, T: ts, V: 1, Add: true}}, out); err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func memoryConfig(path string) config.State {
	return config.State{Backend: "memory", MaxKeys: 1000, SweepInterval: config.Duration(time.Minute),
		Snapshot: config.Snapshot{Path: path, Interval: config.Duration(time.Minute)}}
}

// TestSnapshotCycle: Close writes the snapshot atomically (no temporary
// file left), a new backend bound to the same windows restores it, and a
// damaged file is counted and skipped.
func TestSnapshotCycle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.snap")
	b, err := Open(memoryConfig(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := b.Bind(testProg(), "lane|")
	for i := 0; i < 3; i++ {
		observe(t, ws, "card1", 1000+float64(i))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("directory holds %d files after a snapshot, want only the snapshot", len(entries))
	}
	b2, _ := Open(memoryConfig(path), nil)
	ws2, _ := b2.Bind(testProg(), "lane|")
	b2.Restore(nil)
	if got := observe(t, ws2, "card1", 1003); got != 4 {
		t.Fatalf("count after restore = %v, want 4", got)
	}
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 1
	os.WriteFile(path, data, 0o644)
	b3, _ := Open(memoryConfig(path), nil)
	ws3, _ := b3.Bind(testProg(), "lane|")
	b3.Restore(nil)
	st := b3.Status()
	if st.RestoreFailures != 1 || st.Keys != 0 {
		t.Fatalf("damaged snapshot: %+v", st)
	}
	if got := observe(t, ws3, "card1", 1003); got != 1 {
		t.Fatalf("count after a skipped snapshot = %v, want 1", got)
	}
}
