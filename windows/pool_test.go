package windows

import (
	"errors"
	"reflect"
	"runtime"
	"testing"
	"unsafe"
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
