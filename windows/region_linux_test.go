package windows

import (
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/riskforge/riskforge/vm"
)

// The tests of regions, which only Linux builds have (region_linux.go);
// region_other_test.go checks that other systems keep pools in the heap.

// TestPoolLeavesRegion: a region that cannot grow hands its values to
// the heap, unmapped, and the pool goes on growing there.
func TestPoolLeavesRegion(t *testing.T) {
	defer func(f func(*region, uintptr) error) { growRegion = f }(growRegion)
	growRegion = func(*region, uintptr) error { return errors.New("no room") }
	before := mappedBytes.Load()
	var p pool[ring]
	first := regionFirstBytes / int(unsafe.Sizeof(ring{}))
	for i := range 3 * first {
		p.at(p.alloc()).width = float64(i + 1)
		if i == 0 && mappedBytes.Load()-before != regionFirstBytes {
			t.Fatalf("first alloc mapped %d bytes, want %d", mappedBytes.Load()-before, regionFirstBytes)
		}
	}
	if p.mem != nil || mappedBytes.Load() != before {
		t.Fatalf("region %v, %d bytes still mapped after it could not grow", p.mem, mappedBytes.Load()-before)
	}
	for i := range 3 * first {
		if got := p.at(uint32(i + 1)).width; got != float64(i+1) {
			t.Fatalf("index %d holds %v after leaving its region, want %d", i+1, got, i+1)
		}
	}
}

// TestStoreOutsideHeap: a store's cells, rings and sketches are not in
// the Go heap, so the collector's goal (and the garbage that piles up
// under it) does not grow with the store; and a store no longer
// referenced gives its regions back to the system.
func TestStoreOutsideHeap(t *testing.T) {
	heap0 := heapBytes()
	m := testStore(Config{}, "count", "count_distinct")
	obs := make([]vm.WindowObs, 2)
	out := make([]float64, 2)
	for i := range 20_000 {
		k := vm.WindowKey{Str: "user" + strconv.Itoa(i)}
		for j := range 12 { // a ring for the count, a sketch for count_distinct
			obs[0] = vm.WindowObs{Key: k, T: float64(i) + float64(j)/100, V: 1, Add: true}
			obs[1] = vm.WindowObs{Key: k, T: float64(i) + float64(j)/100, S: strconv.Itoa(j), Add: true}
			if err := m.Observe(obs, out); err != nil {
				t.Fatal(err)
			}
		}
	}
	st := m.st.Stats()
	heap, mapped := heapBytes()-heap0, storeMapped(m.st)
	t.Logf("%d keys, estimate %d MB; heap grew %d MB, regions %d MB", st.Keys, st.Bytes>>20, heap>>20, mapped>>20)
	if st.Keys != 40_000 || heap > int64(st.Bytes)/4 || mapped < int64(st.Bytes)/2 {
		t.Fatalf("%d keys estimated at %d bytes: the heap grew by %d bytes and %d are mapped", st.Keys, st.Bytes, heap, mapped)
	}
	// Other tests' stores are unmapped as collections find them: wait for
	// the count to settle, then for it to lose this store's regions.
	settled := settledMapped()
	runtime.KeepAlive(m)
	m = nil
	for deadline := time.Now().Add(5 * time.Second); mappedBytes.Load() > settled-mapped; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of the store's %d mapped bytes still mapped 5s after it went", mappedBytes.Load()-(settled-mapped), mapped)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// storeMapped is the size of s's regions.
func storeMapped(s *Store) int64 {
	n := int64(0)
	for i := range s.shards {
		cm := &s.shards[i].cells
		for _, r := range []*region{cm.cells.mem, cm.rings.mem, cm.sketches.mem} {
			if r != nil {
				n += int64(r.size)
			}
		}
	}
	return n
}

// settledMapped collects until mappedBytes is the same three times in a
// row, and returns it.
func settledMapped() int64 {
	last, same := int64(-1), 0
	for same < 3 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		if v := mappedBytes.Load(); v == last {
			same++
		} else {
			last, same = v, 0
		}
	}
	return last
}

// heapBytes is the heap's live objects after a collection.
func heapBytes() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestRegionLimit: no more than maxRegions regions are mapped at once;
// the one past them is refused (its pool then uses the heap), and
// releasing one makes room again.
func TestRegionLimit(t *testing.T) {
	settledMapped()
	var held []*region
	defer func() {
		for _, r := range held {
			r.release()
		}
	}()
	for liveRegions.Load() < maxRegions {
		r, err := newRegion(regionFirstBytes)
		if err != nil {
			t.Fatalf("region %d of %d refused: %v", liveRegions.Load()+1, maxRegions, err)
		}
		held = append(held, r)
	}
	if r, err := newRegion(regionFirstBytes); err != errTooManyRegions {
		t.Fatalf("region past the bound: %v, %v; want %v", r, err, errTooManyRegions)
	}
	held[0].release()
	r, err := newRegion(regionFirstBytes)
	if err != nil {
		t.Fatalf("region after one was released: %v", err)
	}
	held[0] = r
}

// TestRegionAccounting: mappedBytes and liveRegions follow a region
// through its mapping, growth and release, and a mapping the system
// refuses leaves both as they were.
func TestRegionAccounting(t *testing.T) {
	settledMapped()
	bytes0, live0 := mappedBytes.Load(), liveRegions.Load()
	if r, err := newRegion(1 << 62); err == nil || r != nil {
		t.Fatalf("a 4 EiB region: %v, %v", r, err)
	}
	check := func(what string, bytes, live int64) {
		t.Helper()
		if b, l := mappedBytes.Load()-bytes0, liveRegions.Load()-live0; b != bytes || l != live {
			t.Fatalf("%s: %d bytes in %d regions, want %d in %d", what, b, l, bytes, live)
		}
	}
	check("after a refused mapping", 0, 0)
	r, err := newRegion(regionFirstBytes)
	if err != nil {
		t.Fatal(err)
	}
	check("mapped", regionFirstBytes, 1)
	if err := r.grow(4 * regionFirstBytes); err != nil {
		t.Fatal(err)
	}
	check("grown", 4*regionFirstBytes, 1)
	r.release()
	r.release() // a second release does nothing
	check("released", 0, 0)
}
