package windows

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/vm"
)

// The documented bound (docs/STATE.md): the process's resident memory
// stays under a fixed base plus floodPerKey bytes per allowed key (about
// 350 B live; the store is outside the heap, so the collector's headroom
// does not double it), whatever the number of distinct keys sent.
const (
	floodBase   = 96 << 20
	floodPerKey = 400
)

// TestFloodStaysBounded reproduces the review's flood (1M requests with
// distinct ids grew the old store to 3M keys and 1.5 GB): 2 million
// distinct keys into a window of a store capped at 2^18 keys. The
// store holds at most the cap, counts the evictions, and the process's
// RSS stays under the documented bound.
func TestFloodStaysBounded(t *testing.T) {
	const maxKeys = 1 << 18
	m := testStore(Config{MaxKeys: maxKeys}, "count")
	obs := make([]vm.WindowObs, 1)
	out := make([]float64, 1)
	for i := 0; i < 2_000_000; i++ {
		k := vm.WindowKey{Str: "id" + strconv.Itoa(i)}
		for w := range obs {
			obs[w] = vm.WindowObs{Key: k, T: float64(i) / 1000, V: 1, S: "x", Add: true}
		}
		if err := m.Observe(obs, out); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	st := m.st.Stats()
	if st.Keys > maxKeys || st.Evicted < 2_000_000-maxKeys {
		t.Fatalf("keys %d (cap %d), evicted %d", st.Keys, maxKeys, st.Evicted)
	}
	rss := vmRSS(t)
	bound := floodBase + maxKeys*floodPerKey
	t.Logf("keys %d, store estimate %d MB (%d B/key), RSS %d MB, bound %d MB", st.Keys, st.Bytes>>20, st.Bytes/st.Keys, rss>>20, bound>>20)
	if rss > bound {
		t.Fatalf("RSS %d MB exceeds the documented bound %d MB", rss>>20, bound>>20)
	}
}

func vmRSS(t *testing.T) int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
