package windows

import (
	"bytes"
	"testing"
	"time"

	"github.com/riskforge/riskforge/vm"
)

// TestSignature: a window's signature names everything that decides its
// contents, in a fixed form (snapshots and reloads find windows by it):
// name|aggregate|length|keys|events|where, lists comma-separated.
func TestSignature(t *testing.T) {
	p := &vm.Program{
		Events: []string{"pay", "refund", "login"},
		Inputs: []vm.Input{
			{Name: "user", Type: vm.TString, Slot: 0},
			{Name: "amount", Type: vm.TFloat, Slot: 0},
			{Name: "device", Type: vm.TString, Slot: 1},
		},
	}
	for _, c := range []struct {
		w    vm.Window
		want string
	}{
		{vm.Window{Name: "n", Agg: "count", OverSec: 3600, Keys: []vm.KeyPart{{Slot: 0, String: true}}}, "n|count|3600|user||"},
		{vm.Window{Name: "s", Agg: "sum", OverSec: 86400, Keys: []vm.KeyPart{{Slot: 0, String: true}, {Slot: 1, String: true}, {Slot: 0}},
			Events: []uint32{0, 2}, Where: "amount > 5"}, "s|sum|86400|user,device,amount|pay,login|amount > 5"},
		{vm.Window{Name: "x", Agg: "max", OverSec: 0.5, Keys: []vm.KeyPart{{Slot: 7}}, Events: []uint32{1}}, "x|max|0.5|slot7|refund|"},
		{vm.Window{Name: "y", Agg: "count", OverSec: 60, Keys: []vm.KeyPart{{Slot: 1, String: true}}, Events: []uint32{9, 0}}, "y|count|60|device|,pay|"},
		{vm.Window{Name: "z", Agg: "count", OverSec: 60, Keys: []vm.KeyPart{{Slot: 1, String: true}}, Events: []uint32{1, 3}}, "z|count|60|device|refund,|"}, // index 3 of 3 events
	} {
		if got := Signature(p, c.w); got != c.want {
			t.Errorf("Signature = %q, want %q", got, c.want)
		}
	}
}

// TestRegisterWindowLength: a window may be up to MaxTime seconds long.
func TestRegisterWindowLength(t *testing.T) {
	s := New(Config{})
	for _, c := range []struct {
		over float64
		ok   bool
	}{{MaxTime, true}, {MaxTime * (1 + 1e-15), false}, {1e-9, true}, {0, false}} {
		_, err := s.Register("w"+Signature(&vm.Program{}, vm.Window{OverSec: c.over}), "count", c.over)
		if (err == nil) != c.ok {
			t.Errorf("window of %g s: %v, want ok %v", c.over, err, c.ok)
		}
	}
}

// TestEvictsLeastRecentlyUsed: a full shard evicts the key used longest
// ago, not the one just used, whichever order the map yields them in
// (run 32 times: map iteration starts at a random place).
func TestEvictsLeastRecentlyUsed(t *testing.T) {
	for range 32 {
		m := testStore(Config{MaxKeys: 2 * numShards}, "count") // two keys per shard
		keys := sameShard(m, "k", 3)
		a, b, c := vm.WindowKey{Str: keys[0]}, vm.WindowKey{Str: keys[1]}, vm.WindowKey{Str: keys[2]}
		observe1(m, 0, a, 1, 1, "")
		observe1(m, 0, b, 2, 1, "")
		observe1(m, 0, a, 3, 1, "") // a is now the more recent
		observe1(m, 0, c, 4, 1, "") // full: b goes
		if ga, gb := read(m, 0, a, 4), read(m, 0, b, 4); ga != 2 || gb != 0 {
			t.Fatalf("after the eviction: a=%v b=%v, want 2 and 0 (b least recently used)", ga, gb)
		}
		checkPools(t, m.st)
	}
}

// oldestEvicted1 fills one shard of a fresh store, capped at perShard keys
// a shard, with perShard keys in turn, adds one more, and reports whether
// the oldest key was the one evicted.
func oldestEvicted1(perShard int) bool {
	m := testStore(Config{MaxKeys: perShard * numShards}, "count")
	keys := sameShard(m, "k", perShard+1)
	for i, k := range keys[:perShard] {
		observe1(m, 0, vm.WindowKey{Str: k}, float64(i), 1, "") // keys[0] is the oldest
	}
	observe1(m, 0, vm.WindowKey{Str: keys[perShard]}, float64(perShard), 1, "") // full: one goes
	return read(m, 0, vm.WindowKey{Str: keys[0]}, float64(perShard)) == 0
}

// TestEvictionSamples: eviction looks at evictSamples keys, not the whole
// shard (its cost stays constant however many keys a shard holds), so
// the oldest of 100 keys is evicted only when it is among them, about
// one time in twenty, where an exact LRU would evict it every time.
func TestEvictionSamples(t *testing.T) {
	const trials, perShard = 40, 100
	oldestEvicted := 0
	for range trials {
		if oldestEvicted1(perShard) {
			oldestEvicted++
		}
	}
	if oldestEvicted > trials/2 {
		t.Fatalf("the oldest key was evicted in %d of %d trials: eviction scans the shard", oldestEvicted, trials)
	}
}

// TestEvictionSamplesFive: with six keys in a full shard, eviction looks
// at five of them, so the oldest escapes when it is the one not looked at
// (about one time in six: iteration starts at a random place); looking at
// all six would evict it every time.
func TestEvictionSamplesFive(t *testing.T) {
	const trials, perShard = 300, evictSamples + 1
	escaped := 0
	for range trials {
		if !oldestEvicted1(perShard) {
			escaped++
		}
	}
	if escaped == 0 || escaped > trials/2 {
		t.Fatalf("the oldest of %d keys escaped eviction in %d of %d trials; want about one in six (%d of %d keys sampled)", perShard, escaped, trials, evictSamples, perShard)
	}
}

// TestObserveTimeLimit: event times up to ±MaxTime are taken, beyond it
// refused.
func TestObserveTimeLimit(t *testing.T) {
	m := testStore(Config{}, "count")
	for _, c := range []struct {
		t  float64
		ok bool
	}{{MaxTime, true}, {-MaxTime, true}, {MaxTime * (1 + 1e-15), false}, {-MaxTime * (1 + 1e-15), false}} {
		out := []float64{0}
		err := m.Observe([]vm.WindowObs{{Key: vm.WindowKey{Str: "k"}, T: c.t, V: 1, Add: true}}, out)
		if (err == nil) != c.ok {
			t.Errorf("t=%g: %v, want ok %v", c.t, err, c.ok)
		}
	}
}

// TestNewMemory: the store replay and tests use binds the program's
// windows and counts.
func TestNewMemory(t *testing.T) {
	p := &vm.Program{Inputs: []vm.Input{{Name: "k", Type: vm.TString}}, Windows: []vm.Window{
		{Name: "n", Agg: "count", OverSec: 60, Keys: []vm.KeyPart{{String: true}}},
		{Name: "s", Agg: "sum", OverSec: 60, Keys: []vm.KeyPart{{String: true}}},
	}}
	m := NewMemory(p, 0)
	out := make([]float64, 2)
	obs := []vm.WindowObs{{Key: vm.WindowKey{Str: "a"}, T: 1, V: 5, Add: true}, {Key: vm.WindowKey{Str: "a"}, T: 1, V: 5, Add: true}}
	if err := m.Observe(obs, out); err != nil || out[0] != 1 || out[1] != 5 || m.Keys() != 2 {
		t.Fatalf("NewMemory store: %v, %v, %d keys", out, err, m.Keys())
	}
}

// TestEvictionKeepsOrderBounded: evictions leave stale entries in a
// shard's key order, which is compacted once it is more than twice the
// shard's keys (plus 64), so its length stays bounded however many keys
// pass through.
func TestEvictionKeepsOrderBounded(t *testing.T) {
	m := testStore(Config{MaxKeys: 4 * numShards}, "count")
	for i := range 200 * numShards {
		observe1(m, 0, vm.WindowKey{Num: float64(i)}, 1, 1, "")
	}
	for i := range m.st.shards {
		sh := &m.st.shards[i]
		if limit := 2*m.st.maxPerShard + 64 + 1; len(sh.order) > limit {
			t.Fatalf("shard %d: order of %d entries for %d keys (limit %d)", i, len(sh.order), sh.cells.len(), limit)
		}
	}
}

// TestStatsBytes: the memory estimate adds, per key, the cell, its ring
// or sketch when it has one, and a map entry.
func TestStatsBytes(t *testing.T) {
	m := testStore(Config{}, "count", "count_distinct")
	observe1(m, 0, vm.WindowKey{Str: "plain"}, 1, 1, "")
	if b := m.st.Stats().Bytes; b != cellSize+tableEntryBytes {
		t.Errorf("one plain key: %d bytes, want %d", b, cellSize+tableEntryBytes)
	}
	for i := range 9 {
		observe1(m, 0, vm.WindowKey{Str: "ring"}, float64(i), 1, "")
		observe1(m, 1, vm.WindowKey{Str: "sketch"}, float64(i), 0, string(rune('a'+i)))
	}
	want := 3*(cellSize+tableEntryBytes) + ringSize + sketchSize
	if b := m.st.Stats().Bytes; b != want {
		t.Errorf("a plain, a ring and a sketch key: %d bytes, want %d", b, want)
	}
}

// TestEvictionDrawsOldKeys: in a large full shard (eviction draws cells
// from the pool), evictions take keys from the older half: a victim is
// the oldest of five drawn, so it is from the newer half only when all
// five are (about one time in twenty here), where a draw that ignored
// the age would be half the time.
func TestEvictionDrawsOldKeys(t *testing.T) {
	const perShard, evictions = 1000, 50
	m := testStore(Config{MaxKeys: perShard * numShards}, "count")
	keys := sameShard(m, "k", perShard+evictions)
	observeEach(m, keys[:perShard], 0)
	observeEach(m, keys[perShard:], perShard)
	young := 0
	for _, k := range keys[perShard/2 : perShard] {
		if read(m, 0, vm.WindowKey{Str: k}, perShard+evictions) == 0 {
			young++
		}
	}
	if young > 10 {
		t.Fatalf("%d of %d evictions took a key of the newer half", young, evictions)
	}
	if st := m.st.Stats(); st.Evicted != evictions || st.Keys != perShard {
		t.Fatalf("%+v: want %d evictions, %d keys", st, evictions, perShard)
	}
	checkPools(t, m.st)
}

// TestEvictionDuringCutSkipsImages: while a cut is open, the pool holds
// its images of the keys it holds as they were, in no chain. Eviction
// draws from a pool half of which is images here, and never takes one
// (unlinking a cell that is in no chain would corrupt the shard): the
// live store keeps its bound and the snapshot the cut's view.
func TestEvictionDuringCutSkipsImages(t *testing.T) {
	const perShard, later = 30, 300
	m := testStore(Config{MaxKeys: perShard * numShards}, "count")
	keys := sameShard(m, "k", perShard+later)
	observeEach(m, keys[:perShard], 0)
	c, err := m.st.BeginCut(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	observeEach(m, keys[:perShard], perShard)   // the cut keeps a copy as it was
	observeEach(m, keys[perShard:], 2*perShard) // evicts
	if st := m.st.Stats(); st.Evicted != later || st.Keys != perShard {
		t.Fatalf("%+v: want %d evictions, %d keys", st, later, perShard)
	}
	checkPools(t, m.st)
	var buf bytes.Buffer
	if info, err := c.Write(&buf, 0); err != nil || info.Cells != perShard {
		t.Fatalf("snapshot: %+v, %v; want the cut's %d cells", info, err, perShard)
	}
	r := testStore(Config{}, "count")
	if _, err := r.st.RestoreSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys[:perShard] {
		if got := read(r, 0, vm.WindowKey{Str: k}, 2*perShard+later); got != 1 {
			t.Fatalf("restored %s: %v, want 1 (the cut's view)", k, got)
		}
	}
	checkPools(t, m.st)
}

// observeEach feeds window 0 one event for each key, the i-th at time
// from+i.
func observeEach(m *Memory, keys []string, from float64) {
	for i, k := range keys {
		observe1(m, 0, vm.WindowKey{Str: k}, from+float64(i), 1, "")
	}
}

// TestEvictionTakesAKeysWindows: a key's cells of windows in one block
// share a hash, and an eviction drops them together: after new keys
// push old ones out of a full shard, every old key has either both its
// windows or neither, and each eviction counted both cells.
func TestEvictionTakesAKeysWindows(t *testing.T) {
	const perShard, newKeys = 1000, 10
	m := testStore(Config{MaxKeys: perShard * numShards}, "count", "sum")
	keys := sameShard(m, "k", perShard/2+newKeys)
	both := func(k string, at float64) {
		obs := []vm.WindowObs{{Key: vm.WindowKey{Str: k}, T: at, V: 1, Add: true}, {Key: vm.WindowKey{Str: k}, T: at, V: 1, Add: true}}
		if err := m.Observe(obs, make([]float64, 2)); err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range keys {
		both(k, float64(i))
	}
	end := float64(len(keys))
	gone := 0
	for _, k := range keys[:perShard/2] {
		count, sum := read(m, 0, vm.WindowKey{Str: k}, end), read(m, 1, vm.WindowKey{Str: k}, end)
		if (count == 0) != (sum == 0) {
			t.Fatalf("key %s kept one window of two: count %v, sum %v", k, count, sum)
		}
		if count == 0 {
			gone++
		}
	}
	if st := m.st.Stats(); gone != newKeys || st.Evicted != 2*newKeys || st.Keys != perShard {
		t.Fatalf("%d keys gone, %+v: want %d keys gone, %d cells evicted, %d held", gone, st, newKeys, 2*newKeys, perShard)
	}
	checkPools(t, m.st)
}
