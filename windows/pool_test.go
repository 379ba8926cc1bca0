package windows

import (
	"reflect"
	"testing"
	"unsafe"
)

// TestPoolReuse: indexes start at 1 and keep their values as the pool
// grows (which moves them), come back zeroed after a release and are
// reused last-in first-out; live counts what is held.
func TestPoolReuse(t *testing.T) {
	var p pool[ring]
	first := poolFirstBytes / int(unsafe.Sizeof(ring{}))
	n := 4*first + 1 // the first slice grown at least twice
	var got []uint32
	for i := range n {
		j := p.alloc()
		if j != uint32(i+1) {
			t.Fatalf("alloc %d: index %d, want %d", i, j, i+1)
		}
		p.at(j).width = float64(j)
		got = append(got, j)
		if i == 0 && cap(p.vals) != first {
			t.Fatalf("first slice of %d rings, want %d (%d bytes)", cap(p.vals), first, poolFirstBytes)
		}
	}
	if cap(p.vals) <= n || p.live() != n {
		t.Fatalf("capacity %d and %d live after %d allocs", cap(p.vals), p.live(), n)
	}
	for _, j := range got {
		if p.at(j).width != float64(j) {
			t.Fatalf("index %d holds %v after growing", j, p.at(j).width)
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
		if j != want || p.at(j).width != 0 {
			t.Fatalf("alloc after release: index %d holding %v, want %d zeroed", j, p.at(j).width, want)
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

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	}
	return true
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
