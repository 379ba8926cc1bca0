package windows

import (
	"errors"
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/riskforge/riskforge/vm"
)

// TestPoolReuse: indexes start at 1 and keep their values as the pool
// grows (which moves them), come back zeroed after a release and are
// reused last-in first-out; live counts what is held. Rings have no
// pointers, so on Linux their slice is a region outside the heap; the
// same holds of a pool in the heap (TestPoolInHeap).
func TestPoolReuse(t *testing.T) {
	var p pool[ring]
	first := poolFirstBytes / int(unsafe.Sizeof(ring{}))
	if runtime.GOOS == "linux" {
		first = regionFirstBytes / int(unsafe.Sizeof(ring{}))
	}
	checkReuse(t, &p, first, func(r *ring) *float64 { return &r.width })
	if (p.mem != nil) != (runtime.GOOS == "linux") {
		t.Errorf("pool of rings in a region: %v, on %s", p.mem != nil, runtime.GOOS)
	}
}

// TestPoolInHeap: a pool of values with pointers, or one whose region
// cannot be mapped, keeps them in the heap and behaves alike.
func TestPoolInHeap(t *testing.T) {
	t.Run("pointers", func(t *testing.T) {
		var p pool[struct {
			s string
			f float64
		}]
		checkReuse(t, &p, poolFirstBytes/24, func(v *struct {
			s string
			f float64
		}) *float64 {
			return &v.f
		})
		if p.mem != nil {
			t.Error("a pool of values with pointers has a region")
		}
	})
	t.Run("refused", func(t *testing.T) {
		defer func(f func(uintptr) (*region, error)) { mapRegion = f }(mapRegion)
		mapRegion = func(uintptr) (*region, error) { return nil, errors.New("refused") }
		var p pool[ring]
		checkReuse(t, &p, poolFirstBytes/int(unsafe.Sizeof(ring{})), func(r *ring) *float64 { return &r.width })
		if p.mem != nil {
			t.Error("a pool whose mapping was refused has a region")
		}
	})
}

// TestPoolLeavesRegion: a region that cannot grow hands its values to
// the heap, unmapped, and the pool goes on growing there.
func TestPoolLeavesRegion(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("regions are Linux's") // the heap path is TestPoolInHeap's
	}
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

// checkReuse is TestPoolReuse's sequence on p, whose first slice holds
// first values; val is the field it writes.
func checkReuse[T any](t *testing.T, p *pool[T], first int, val func(*T) *float64) {
	t.Helper()
	n := 4*first + 1 // the first slice grown at least twice
	var got []uint32
	for i := range n {
		j := p.alloc()
		if j != uint32(i+1) {
			t.Fatalf("alloc %d: index %d, want %d", i, j, i+1)
		}
		*val(p.at(j)) = float64(j)
		got = append(got, j)
		if i == 0 && cap(p.vals) != first {
			t.Fatalf("first slice of %d values, want %d", cap(p.vals), first)
		}
	}
	if cap(p.vals) <= n || p.live() != n {
		t.Fatalf("capacity %d and %d live after %d allocs", cap(p.vals), p.live(), n)
	}
	for _, j := range got {
		if *val(p.at(j)) != float64(j) {
			t.Fatalf("index %d holds %v after growing", j, *val(p.at(j)))
		}
	}
	p.release(0) // none: no effect
	p.release(got[3])
	p.release(got[2*first])
	if p.live() != n-2 {
		t.Fatalf("live %d after two releases, want %d", p.live(), n-2)
	}
	for _, want := range []uint32{got[2*first], got[3], uint32(n + 1)} {
		j := p.alloc()
		if j != want || *val(p.at(j)) != 0 {
			t.Fatalf("alloc after release: index %d holding %v, want %d zeroed", j, *val(p.at(j)), want)
		}
	}
}

// TestStoreStateHasNoPointers: the types the store keeps in its pools
// hold no pointers, so the collector marks each block without reading
// it. A pointer field added to any of them would bring back the marking
// cost the pools removed (docs/OPERATIONS.md §15), silently.
func TestStoreStateHasNoPointers(t *testing.T) {
	for _, v := range []any{cell{}, ring{}, sketch{}} {
		if typ := reflect.TypeOf(v); hasPointers(typ) {
			t.Errorf("%v holds pointers", typ)
		}
	}
}

// checkPools fails t unless every shard's pools hold exactly what its
// chains refer to: no cell, ring, sketch or long key leaked (a cut's
// images freed once its shard is written) or freed while still in use.
func checkPools(t *testing.T, s *Store) {
	t.Helper()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		cm := &sh.cells
		cells, rings, sketches, long := 0, 0, 0, 0
		seen := map[uint32]bool{}
		for _, hs := range cm.m.slots {
			for j := hs.i; j != 0; j = cm.at(j).next {
				if seen[j] {
					t.Fatalf("shard %d: cell %d in two chains or twice in one", i, j)
				}
				seen[j] = true
				c := cm.at(j)
				cells++
				rings += b2i(c.ring != 0)
				sketches += b2i(c.sketch != 0)
				long += b2i(c.long != 0)
			}
		}
		for _, j := range sh.cow {
			if j != 0 {
				c := cm.at(j)
				cells++
				rings += b2i(c.ring != 0)
				sketches += b2i(c.sketch != 0)
				long += b2i(c.long != 0)
			}
		}
		live := [4]int{cm.cells.live(), cm.rings.live(), cm.sketches.live(), cm.long.live()}
		want := [4]int{cells, rings, sketches, long}
		sh.mu.Unlock()
		if live != want || cm.len() != len(seen) {
			t.Fatalf("shard %d: pools hold %v cells/rings/sketches/long keys, chains and images use %v (len %d)", i, live, want, cm.len())
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestFreedCellIsEmpty: a cell freed with every field set comes back
// from newCell as a zeroed cell would read: every field but the events
// zero (they are read only below n, which is). A field added to cell and
// not to clear fails here.
func TestFreedCellIsEmpty(t *testing.T) {
	var cm cellMap
	i, c := cm.newCell()
	raw := unsafe.Slice((*byte)(unsafe.Pointer(c)), unsafe.Sizeof(*c))
	for k := range raw {
		raw[k] = 0x7f // every field not zero
	}
	c.ring, c.sketch, c.long = cm.rings.alloc(), cm.sketches.alloc(), cm.long.alloc()
	cm.free(i)
	if cm.cells.live()+cm.rings.live()+cm.sketches.live()+cm.long.live() != 0 {
		t.Fatalf("a cell, ring, sketch or key still live after free")
	}
	j, c := cm.newCell()
	if j != i {
		t.Fatalf("newCell after free: index %d, want %d again", j, i)
	}
	v := reflect.ValueOf(c).Elem()
	for f := range v.NumField() {
		if name := v.Type().Field(f).Name; name != "ev" && !v.Field(f).IsZero() {
			t.Errorf("field %s of a reused cell is %v, want zero", name, v.Field(f))
		}
	}
	if c.n != 0 || c.observe(&cm, spec{agg: aggCount, over: 10}, 5, 1, false) != 0 {
		t.Errorf("a reused cell reads %v events", c.n)
	}
}

// TestStoreOutsideHeap: a store's cells, rings and sketches are not in
// the Go heap, so the collector's goal (and the garbage that piles up
// under it) does not grow with the store; and a store no longer
// referenced gives its regions back to the system.
func TestStoreOutsideHeap(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("regions are Linux's") // elsewhere the pools are in the heap
	}
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
	if runtime.GOOS != "linux" {
		t.Skip("regions are Linux's")
	}
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

// TestHasPointers: which types a pool may keep outside the heap.
func TestHasPointers(t *testing.T) {
	for _, c := range []struct {
		v    any
		want bool
	}{
		{int64(0), false}, {float32(0), false}, {[3]byte{}, false}, {[0]*int{}, false},
		{[2]*int{}, true}, {"", true}, {[]int(nil), true}, {map[int]int(nil), true},
		{struct{ a [2]string }{}, true}, {struct {
			a [4]uint32
			b float64
		}{}, false},
		{cell{}, false}, {ring{}, false}, {sketch{}, false},
	} {
		if got := hasPointers(reflect.TypeOf(c.v)); got != c.want {
			t.Errorf("hasPointers(%T) = %v, want %v", c.v, got, c.want)
		}
	}
}

// TestRegionAccounting: mappedBytes and liveRegions follow a region
// through its mapping, growth and release, and a mapping the system
// refuses leaves both as they were.
func TestRegionAccounting(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("regions are Linux's")
	}
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
