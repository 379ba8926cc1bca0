package windows

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/riskforge/riskforge/vm"
)

// logged is one store call as the audit log keeps it.
type logged struct {
	gen uint64
	obs []vm.WindowObs
}

// callLog is an in-memory stand-in for the audit log: an append-only
// list of store calls, each appended while its generation is held.
type callLog struct {
	mu  sync.Mutex
	ops []logged
}

func (l *callLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ops)
}

// call does what riskd does for one request: hold a generation, observe,
// append the record, release.
func (l *callLog) call(m *Memory, obs []vm.WindowObs) {
	out := make([]float64, len(obs))
	g := m.Hold()
	if err := m.ObserveAt(g, obs, out); err != nil {
		panic(err)
	}
	l.mu.Lock()
	l.ops = append(l.ops, logged{g, obs})
	l.mu.Unlock()
	m.Release(g)
}

var cutAggs = []string{"count", "sum", "max", "count_distinct"}

// cutObs is event i of key: every window counts it except max on odd i
// (a read-only observation), values vary, times rise per key.
func cutObs(key string, i int) []vm.WindowObs {
	obs := make([]vm.WindowObs, len(cutAggs))
	for w := range obs {
		obs[w] = vm.WindowObs{Key: vm.WindowKey{Str: key}, T: 1000 + float64(i)*7, V: float64(i % 13), S: fmt.Sprint("v", i%29), Add: w != 2 || i%2 == 0}
	}
	return obs
}

// replayInto restores snap into a fresh store and re-applies the logged
// calls from position on whose generation the snapshot does not hold
// (all of them when filter is off).
func replayInto(t *testing.T, snap []byte, ops []logged, filter bool) *Memory {
	fresh := testStore(Config{}, cutAggs...)
	info, err := fresh.st.RestoreSnapshot(bytes.NewReader(snap))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(cutAggs))
	for _, op := range ops[info.Position:] {
		if filter && op.gen <= info.Gen {
			continue
		}
		if err := fresh.Observe(op.obs, out); err != nil {
			t.Fatal(err)
		}
	}
	return fresh
}

// differences reads every key's windows at a late time in both stores.
func differences(a, b *Memory, keys []string) []string {
	var diffs []string
	for _, k := range keys {
		obs := make([]vm.WindowObs, len(cutAggs))
		for w := range obs {
			obs[w] = vm.WindowObs{Key: vm.WindowKey{Str: k}, T: 2000} // after every event, within the hour
		}
		oa, ob := make([]float64, len(obs)), make([]float64, len(obs))
		a.Observe(obs, oa)
		b.Observe(obs, ob)
		for w := range oa {
			if oa[w] != ob[w] {
				diffs = append(diffs, fmt.Sprintf("%s %s: live %v, snapshot+replay %v", k, cutAggs[w], oa[w], ob[w]))
			}
		}
	}
	return diffs
}

// TestCutSnapshotPlusReplayIsExact: four writers keep calling the store
// (each on its own keys, many of which switch to buckets and sketches)
// while a snapshot is cut and written; one straggler holds the cut's
// generation across the cut and touches a key a later call already
// changed. Restoring the snapshot and re-applying the logged calls after
// its position whose generation it does not hold gives exactly the live
// store; re-applying them without the generation filter does not.
func TestCutSnapshotPlusReplayIsExact(t *testing.T) {
	live := testStore(Config{}, cutAggs...)
	var log callLog
	var keys []string
	for w := 0; w < 4; w++ {
		for k := 0; k < 40; k++ {
			keys = append(keys, fmt.Sprintf("w%d-k%d", w, k))
		}
	}
	keys = append(keys, "straggler")
	for i := 0; i < 30; i++ {
		log.call(live, cutObs("straggler", i))
	}

	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			<-start
			for i := 0; i < 1500; i++ {
				log.call(live, cutObs(fmt.Sprintf("w%d-k%d", w, i%40), i/40+i%3))
				if i%50 == 0 {
					runtime.Gosched()
				}
			}
		}(w)
	}
	close(start)
	for log.len() < 2000 {
		runtime.Gosched()
	}

	// The straggler holds the current generation before the cut...
	straggler := cutObs("straggler", 30)
	g := live.Hold()
	pos := uint64(log.len())
	cutc := make(chan *Cut)
	go func() {
		c, err := live.st.BeginCut(CutWait)
		if err != nil {
			panic(err)
		}
		cutc <- c
	}()
	for live.st.Generation() == g {
		runtime.Gosched()
	}
	// ...a call of the next generation changes its key first...
	log.call(live, cutObs("straggler", 31))
	// ...then the straggler's call lands and is logged after the cut's
	// position, and only then can the cut finish.
	out := make([]float64, len(cutAggs))
	if err := live.ObserveAt(g, straggler, out); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	log.ops = append(log.ops, logged{g, straggler})
	log.mu.Unlock()
	live.Release(g)
	cut := <-cutc
	if cut.Gen != g {
		t.Fatalf("cut closed generation %d, want %d", cut.Gen, g)
	}
	var snap bytes.Buffer
	if _, err := cut.Write(&yieldWriter{&snap}, pos); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	log.mu.Lock()
	ops := log.ops
	log.mu.Unlock()
	after, held := 0, 0
	for _, op := range ops[pos:] {
		if op.gen <= cut.Gen {
			held++
		} else {
			after++
		}
	}
	t.Logf("%d calls logged; %d after the cut's position, %d of them already in the snapshot", len(ops), after+held, held)
	if after == 0 || held == 0 {
		t.Fatalf("the test did not exercise the cut: %d later calls, %d held ones", after, held)
	}
	if d := differences(live, replayInto(t, snap.Bytes(), ops, true), keys); len(d) > 0 {
		t.Fatalf("snapshot + replay differs from the live store in %d values, e.g. %s", len(d), d[0])
	}
	if d := differences(live, replayInto(t, snap.Bytes(), ops, false), keys); len(d) == 0 {
		t.Fatal("replaying without the generation filter gave the same values: the test cannot see double counting")
	}
	checkPools(t, live.st)
}

// yieldWriter yields on every write, so writers run while the snapshot
// is being written and the copy on write is exercised.
type yieldWriter struct{ b *bytes.Buffer }

func (y *yieldWriter) Write(p []byte) (int, error) {
	runtime.Gosched()
	return y.b.Write(p)
}

// TestCutStuckHolder: a generation held and never released makes the cut
// fail after its wait instead of hanging, and leaves no shard copying.
func TestCutStuckHolder(t *testing.T) {
	m := testStore(Config{}, cutAggs...)
	g := m.Hold()
	if _, err := m.st.BeginCut(20 * time.Millisecond); !errors.Is(err, ErrCutStuck) {
		t.Fatalf("cut with a stuck holder: %v", err)
	}
	for i := range m.st.shards {
		if m.st.shards[i].cut != 0 {
			t.Fatalf("shard %d still copying after the failed cut", i)
		}
	}
	m.Release(g)
	c, err := m.st.BeginCut(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(io.Discard, 0); err != nil {
		t.Fatal(err)
	}
}
