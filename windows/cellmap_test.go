package windows

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/riskforge/riskforge/vm"
)

// chainKeys returns keys of window 0 that a test puts under one hash, as
// if their hashes collided (a seeded 64-bit hash makes a real collision
// too rare to test).
func chainKeys(n int) []ckey {
	keys := make([]ckey, n)
	for i := range keys {
		keys[i] = ckey{str: string(rune('a' + i))}
	}
	return keys
}

// held lists the keys cm holds, sorted.
func held(cm *cellMap) []string {
	var out []string
	cm.each(func(_ uint64, _ uint32, c *cell) bool {
		out = append(out, cm.keyStr(c))
		return true
	})
	slices.Sort(out)
	return out
}

// addCell adds a new cell, set up by init (nil: empty), as the cell of
// key k with hash h, and returns its index.
func addCell(cm *cellMap, h uint64, k ckey, init func(*cell)) uint32 {
	i, c := cm.newCell()
	if init != nil {
		init(c)
	}
	cm.add(h, k, i)
	return i
}

// delKey removes key k with hash h from cm, if held, and frees its cell.
func delKey(cm *cellMap, h uint64, k ckey) {
	if i, _ := cm.find(h, k); i != 0 {
		cm.unlink(h, i)
		cm.free(i)
	}
}

// sameKey reports whether a cellMap holding key a finds it as key b.
func sameKey(a, b ckey) bool {
	var cm cellMap
	addCell(&cm, 0, a, nil)
	return cm.get(0, b) != nil
}

// TestCellMapChains: keys sharing a hash each keep their own cell; any
// of them (head, middle, tail of the chain) can be found, replaced and
// removed without disturbing the others, and the count follows.
func TestCellMapChains(t *testing.T) {
	for _, drop := range []int{0, 1, 2} {
		var cm cellMap
		keys := chainKeys(3)
		cells := make([]*cell, len(keys))
		for i, k := range keys {
			cells[i] = cm.at(addCell(&cm, 7, k, func(c *cell) { c.n = uint8(i) }))
		}
		addCell(&cm, 8, ckey{str: "z"}, nil)
		for i, k := range keys {
			if c := cm.get(7, k); c != cells[i] || c.n != uint8(i) {
				t.Fatalf("get %q: %p, want %p", k.str, c, cells[i])
			}
		}
		if cm.get(7, ckey{str: "z"}) != nil || cm.get(8, keys[0]) != nil || cm.get(7, ckey{w: 1, str: "a"}) != nil {
			t.Fatal("a key found under another key's hash or window")
		}
		delKey(&cm, 7, keys[drop])
		delKey(&cm, 7, keys[drop]) // not held any more: no effect
		delKey(&cm, 7, ckey{str: "q"})
		if cm.len() != 3 || cm.get(7, keys[drop]) != nil || cm.cells.live() != 3 {
			t.Fatalf("after deleting %q: len %d, held %v", keys[drop].str, cm.len(), held(&cm))
		}
		for i, k := range keys {
			if i != drop && cm.get(7, k) != cells[i] {
				t.Fatalf("after deleting %q, %q lost", keys[drop].str, k.str)
			}
		}
		other := (drop + 1) % 3
		delKey(&cm, 7, keys[other])
		repl := cm.at(addCell(&cm, 7, keys[other], nil))
		if cm.get(7, keys[other]) != repl || cm.len() != 3 || !cm.holds(7) || !cm.holds(8) || cm.holds(9) || cm.cells.live() != 3 {
			t.Fatalf("replace %q: len %d, held %v", keys[other].str, cm.len(), held(&cm))
		}
	}
}

// TestCellMapDropIdle: dropIdle removes exactly the idle cells of a
// chain, counts them, and reports whether any remain; the chain's hash is
// no longer held once all are gone.
func TestCellMapDropIdle(t *testing.T) {
	for _, idle := range [][]bool{{false, false, false}, {true, false, true}, {false, true, false}, {true, true, true}} {
		var cm cellMap
		keys := chainKeys(3)
		var want []string
		for i, k := range keys {
			addCell(&cm, 7, k, func(c *cell) { c.last = float64(i) })
			if !idle[i] {
				want = append(want, k.str)
			}
		}
		n, live := cm.dropIdle(7, func(c *cell) bool { return idle[int(c.last)] })
		if n != 3-len(want) || live != (len(want) > 0) || cm.len() != len(want) || !slices.Equal(held(&cm), want) || cm.holds(7) != live || cm.cells.live() != len(want) {
			t.Fatalf("idle %v: dropped %d, live %v, held %v", idle, n, live, held(&cm))
		}
	}
}

// TestCellMapEachStops: each stops at the first false.
func TestCellMapEachStops(t *testing.T) {
	var cm cellMap
	for i, k := range chainKeys(5) {
		addCell(&cm, uint64(i%2), k, nil)
	}
	n := 0
	cm.each(func(uint64, uint32, *cell) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatalf("each visited %d cells after the stop, want 3", n)
	}
}

// TestKeyHashAndEquality: 0 and -0 are one key, as are all NaNs; a key
// hashes alike in one store every time, and for windows of one block, and
// differently for a window of another block, a string or a number.
func TestKeyHashAndEquality(t *testing.T) {
	s := New(Config{})
	nan2 := math.Float64frombits(math.Float64bits(math.NaN()) ^ 1)
	for _, same := range [][2]ckey{
		{{num: 0}, {num: math.Copysign(0, -1)}},
		{{num: math.NaN()}, {num: nan2}},
		{{w: 3, str: "x", num: 1.5}, {w: 3, str: "x", num: 1.5}},
	} {
		if !sameKey(same[0], same[1]) || s.keyHash(same[0]) != s.keyHash(same[1]) {
			t.Errorf("%+v and %+v: sameKey %v, hashes %x %x", same[0], same[1], sameKey(same[0], same[1]), s.keyHash(same[0]), s.keyHash(same[1]))
		}
	}
	base := ckey{w: 1, str: "x", num: 2}
	for _, other := range []ckey{{w: 0, str: "x", num: 2}, {w: windowBlock - 1, str: "x", num: 2}} {
		if sameKey(base, other) || s.keyHash(base) != s.keyHash(other) {
			t.Errorf("%+v and %+v: windows of one block, want two keys of one hash", base, other)
		}
	}
	for _, other := range []ckey{{w: windowBlock, str: "x", num: 2}, {w: 1, str: "y", num: 2}, {w: 1, str: "x", num: 3}, {w: 1, str: "x", num: math.NaN()}} {
		if sameKey(base, other) || sameKey(other, base) || s.keyHash(base) == s.keyHash(other) {
			t.Errorf("%+v and %+v: one key", base, other)
		}
	}
	if New(Config{}).keyHash(base) == s.keyHash(base) {
		t.Error("two stores hash a key alike: the hash is not seeded per store")
	}
}

// TestNaNKeyOneCell: events under a NaN numeric key share one cell
// instead of each taking a new one.
func TestNaNKeyOneCell(t *testing.T) {
	m := testStore(Config{}, "count")
	for i := range 5 {
		if got := observe1(m, 0, vm.WindowKey{Num: math.NaN()}, float64(i), 1, ""); got != float64(i+1) {
			t.Fatalf("event %d under NaN: count %v", i, got)
		}
	}
	if m.Keys() != 1 {
		t.Fatalf("%d keys for one NaN key", m.Keys())
	}
}

// TestWindowsOfOneKeyShareSlot: one key's cells of windows in one block
// share a map slot, one order entry and (a key too long to keep in the
// cell) one copy of the key string; a sweep that drops one of them keeps
// the other and the slot's entry, and a cell added to a held slot adds
// no entry.
func TestWindowsOfOneKeyShareSlot(t *testing.T) {
	m := testStore(Config{}, "count", "sum", "count")
	long := strings.Repeat("u", inlineKey+1)
	key := vm.WindowKey{Str: strings.Repeat("u", inlineKey+1)} // built at run time: its own copy
	observe1(m, 0, key, 0, 1, "")
	observe1(m, 1, vm.WindowKey{Str: strings.Repeat("u", inlineKey+1)}, 5000, 7, "")
	h := m.st.keyHash(ckey{w: m.ids[0], str: long})
	sh := &m.st.shards[h%numShards]
	var cells []*cell
	for i := sh.cells.m.get(h); i != 0; i = sh.cells.at(i).next {
		cells = append(cells, sh.cells.at(i))
	}
	if len(cells) != 2 || m.Keys() != 2 {
		t.Fatalf("%d cells in the key's slot, %d keys held; want 2 and 2", len(cells), m.Keys())
	}
	if unsafe.StringData(sh.cells.keyStr(cells[0])) != unsafe.StringData(sh.cells.keyStr(cells[1])) {
		t.Error("the two windows' cells hold two copies of the key string")
	}
	if n := countHash(sh.order, h); n != 1 {
		t.Fatalf("the slot has %d order entries, want 1", n)
	}
	if got := m.Sweep(5000); got != 1 {
		t.Fatalf("sweep dropped %d cells, want 1 (window 0's, idle since 0)", got)
	}
	checkPools(t, m.st) // window 0's long key string released, window 1's held
	if got := observe1(m, 1, key, 5001, 3, ""); got != 10 {
		t.Fatalf("window 1 after the sweep: %v, want 10", got)
	}
	if n := countHash(sh.order, h); n != 1 {
		t.Fatalf("after the sweep the slot has %d order entries, want 1", n)
	}
	if got := observe1(m, 0, key, 5002, 1, ""); got != 1 {
		t.Fatalf("window 0 added again: %v, want 1", got)
	}
	if n := countHash(sh.order, h); n != 1 || m.Keys() != 2 {
		t.Fatalf("window 0 added again to a held slot: %d order entries and %d keys, want 1 and 2", n, m.Keys())
	}
	checkPools(t, m.st)
}

func countHash(order []uint64, h uint64) int {
	n := 0
	for _, o := range order {
		if o == h {
			n++
		}
	}
	return n
}

// TestShortKeyInCell: a key of up to inlineKey bytes is kept in its cell
// (not in the caller's string, which the cell would otherwise hold on
// to), one byte more is not, and either way the cell is found by a key
// equal to it.
func TestShortKeyInCell(t *testing.T) {
	m := testStore(Config{}, "count")
	for _, n := range []int{1, inlineKey, inlineKey + 1} {
		caller := strings.Repeat("k", n) // built at run time: its own copy
		observe1(m, 0, vm.WindowKey{Str: caller}, 0, 1, "")
		k := ckey{w: m.ids[0], str: strings.Repeat("k", n)}
		h := m.st.keyHash(k)
		cm := &m.st.shards[h%numShards].cells
		c := cm.get(h, k)
		if c == nil {
			t.Fatalf("key of %d bytes not found", n)
		}
		str := cm.keyStr(c)
		data := uintptr(unsafe.Pointer(unsafe.StringData(str)))
		start := uintptr(unsafe.Pointer(c))
		inCell := data >= start && data < start+unsafe.Sizeof(*c)
		if inCell != (n <= inlineKey) || str != caller {
			t.Errorf("key of %d bytes: in the cell %v, %q; want in the cell %v", n, inCell, str, n <= inlineKey)
		}
		if got := observe1(m, 0, vm.WindowKey{Str: caller}, 1, 1, ""); got != 2 {
			t.Errorf("key of %d bytes, second event: count %v, want 2", n, got)
		}
	}
}

// TestStatsBytesSharedSlot: one key's windows share one map entry in the
// memory estimate, and a long key's string counts once for the cells that
// share it (TestStatsBytes has the rest).
func TestStatsBytesSharedSlot(t *testing.T) {
	m := testStore(Config{}, "count", "sum", "max")
	short := vm.WindowKey{Str: strings.Repeat("s", inlineKey)} // the longest kept in the cell
	observe1(m, 0, short, 0, 1, "")
	observe1(m, 1, short, 0, 1, "")
	if got, want := m.st.Stats().Bytes, 2*cellSize+tableEntryBytes; got != want {
		t.Fatalf("two windows of a %d-byte key: %d bytes, want %d", inlineKey, got, want)
	}
	long := vm.WindowKey{Str: strings.Repeat("l", inlineKey+6)}
	for w := range 3 {
		observe1(m, w, long, 0, 1, "")
	}
	base := 5*cellSize + 2*tableEntryBytes + len(long.Str)
	if got := m.st.Stats().Bytes; got != base {
		t.Fatalf("and three of a long key: %d bytes, want %d", got, base)
	}
	for i := range exactEvents {
		observe1(m, 0, short, float64(i+1), 1, "")
	}
	if got, want := m.st.Stats().Bytes, base+ringSize; got != want {
		t.Fatalf("after the short key's count took a ring: %d bytes, want %d", got, want)
	}
}

// TestSampleFewerThanFive: a table holding fewer than evictSamples
// hashes is sampled whole, so the victim is its least recently used
// hash wherever the walk starts; an empty one has no victim.
func TestSampleFewerThanFive(t *testing.T) {
	var tb heads
	if _, ok := tb.sample(0, 1); ok {
		t.Fatal("an empty table gave a victim")
	}
	for i, tick := range []uint32{30, 10, 20} {
		tb.set(uint64(i)<<61, uint32(i+1), tick)
	}
	for near := range uint64(50) {
		if h, ok := tb.sample(near<<58, 100); !ok || h != 1<<61 {
			t.Fatalf("sample = %#x, %v; want %#x, the hash used at tick 10", h, ok, uint64(1)<<61)
		}
	}
	// Ages are differences of ticks: across the clock's wrap, the tick
	// just before it is older than one just after.
	var wrap heads
	wrap.set(1, 1, ^uint32(0)-5)
	wrap.set(2<<60, 2, 3)
	if h, _ := wrap.sample(0, 10); h != 1 {
		t.Fatalf("across the wrap: sample = %#x, want 1 (used before the wrap)", h)
	}
}

// TestSampleStartsNear: the sample is the five hashes from near's slot
// on, the page the caller's own lookup has just read: the oldest hash
// among them is the victim, and one further on is not seen.
func TestSampleStartsNear(t *testing.T) {
	var tb heads
	for i := range uint64(64) {
		tick := uint32(100)
		if i == 40 || i == 50 {
			tick = 1
		}
		tb.set(i<<58, uint32(i+1), tick) // homes in the order of i
	}
	for near, want := range map[uint64]uint64{36: 40, 38: 40, 46: 50, 10: 10} {
		if h, _ := tb.sample(near<<58, 200); h != want<<58 {
			t.Errorf("sample from hash %d's slot: victim %d, want %d", near, h>>58, want)
		}
	}
}

// TestSampleIsOldestOfFive: sample's victim is the least recently used
// of five held hashes from the slot of a random hash on. Over many samples of 1,000
// hashes used at ticks 1 to 1,000 (the ticks in no relation to where the
// hashes lie), the victim's tick averages 1001/6 (the expected minimum
// of five uniform draws): about 143 for six, 200 for four.
func TestSampleIsOldestOfFive(t *testing.T) {
	var tb heads
	r := rand.New(rand.NewPCG(3, 4))
	tickOf := map[uint64]uint32{}
	for i := range 1000 {
		h := r.Uint64()
		tb.set(h, uint32(i+1), uint32(i+1))
		tickOf[h] = uint32(i + 1)
	}
	const trials = 20000
	sum := 0.0
	for range trials {
		h, ok := tb.sample(r.Uint64(), 1001)
		if !ok {
			t.Fatal("a full table: no victim")
		}
		sum += float64(tickOf[h])
	}
	if mean := sum / trials; mean < 155 || mean > 180 {
		t.Fatalf("the victim's tick averages %.1f, want about %.1f (the oldest of %d)", mean, 1001.0/6, evictSamples)
	}
}
