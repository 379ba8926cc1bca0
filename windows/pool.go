package windows

import (
	"reflect"
	"slices"
	"unsafe"
)

// pool holds values of type T in one slice, addressed by a 32-bit index
// (0: none); its zero value is an empty pool. The store keeps its cells,
// rings and sketches in pools rather than as objects of their own: a
// slice without pointers is one object the collector marks without
// reading it, where hundreds of thousands of cells linked by pointers
// were each read on every collection cycle (and the reading evicted the
// decision path's own data from the caches). Cells, rings and sketches
// hold no pointers (TestStoreStateHasNoPointers); the pool of long keys'
// strings, which few keys need, is the one the collector reads.
//
// One slice rather than blocks: following a chain of cells is a series
// of dependent loads, and with the slice's base in the shard's cache
// lines an index costs one multiply more than a pointer did, where
// finding a block first cost a dozen cycles a step (BenchmarkWindow3).
//
// A pool of values without pointers keeps its slice in a region of its
// own outside the Go heap (see region), which grows by remapping: its
// values are not copied and its address space doubles, while only the
// pages in use take memory. Elsewhere (a type with pointers, a system
// without mremap, a mapping refused) the slice is in the heap and grows
// as append does, copying the values. Either way growing may move the
// values: a pointer from at is valid until the next alloc from the same
// pool. A pool's region is unmapped by drop or once the pool is
// unreachable.
type pool[T any] struct {
	vals []T      // vals[0] is never handed out
	free []uint32 // released indexes, reused last-in first-out
	mem  *region  // where vals is when outside the Go heap; nil: in the heap
}

// poolFirstBytes is the first slice's size in the heap: the 64 shards of
// a store holding a handful of keys (tests, a backtest's replay) stay
// small.
const poolFirstBytes = 4 << 10

// regionFirstBytes is a region's first size: address space, of which a
// store holding a handful of keys touches a page a pool.
const regionFirstBytes = 64 << 10

// alloc returns the index of a zeroed value (or, when index was freed by
// recycle, of a value as its user left it); it may move every value of
// the pool (see pool).
func (p *pool[T]) alloc() uint32 {
	if n := len(p.free); n > 0 {
		i := p.free[n-1]
		p.free = p.free[:n-1]
		return i // zeroed by release, or left to its user by recycle
	}
	if len(p.vals) == cap(p.vals) {
		p.grow()
	}
	if len(p.vals) == 0 {
		p.vals = p.vals[:1] // index 0 is none
	}
	p.vals = p.vals[:len(p.vals)+1]
	return uint32(len(p.vals) - 1)
}

// grow makes room for one more value at least: in the pool's region
// when it has one or, for a first slice of a type without pointers, can
// map one; in the heap otherwise.
func (p *pool[T]) grow() {
	var zero T
	size := unsafe.Sizeof(zero)
	switch {
	case p.mem != nil:
		if growRegion(p.mem, 2*p.mem.size) == nil {
			p.vals = unsafe.Slice((*T)(p.mem.addr), p.mem.size/size)[:len(p.vals)]
			return
		}
		// The mapping cannot grow (address space, the map count): the
		// values move to the heap, where they keep growing.
		vals := make([]T, len(p.vals), 2*cap(p.vals))
		copy(vals, p.vals)
		p.mem.release()
		p.vals, p.mem = vals, nil
	case cap(p.vals) == 0:
		if !hasPointers(reflect.TypeFor[T]()) {
			if r, err := mapRegion(regionFirstBytes); err == nil {
				p.mem = r
				p.vals = unsafe.Slice((*T)(r.addr), r.size/size)[:0]
				return
			}
		}
		p.vals = make([]T, 0, max(2, poolFirstBytes/int(size)))
	default:
		// append's growth: doubling while small, then by a quarter,
		// so a full store's slack stays near a quarter of it.
		p.vals = slices.Grow(p.vals, 1)
	}
}

// mapRegion and growRegion are newRegion and region.grow, but for tests
// of a refused mapping.
var (
	mapRegion  = newRegion
	growRegion = (*region).grow
)

// drop empties the pool and unmaps its region: for a pool whose values
// are no longer needed, sooner than its finalizer would.
func (p *pool[T]) drop() {
	if p.mem != nil {
		p.mem.release()
	}
	*p = pool[T]{}
}

// hasPointers reports whether values of type t hold pointers the
// collector must see (and so cannot live outside the heap).
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

// at returns the value of index i, which must be allocated.
func (p *pool[T]) at(i uint32) *T { return &p.vals[i] }

// release zeroes index i (0: none) and makes it free for reuse. Zeroing
// here rather than in alloc lets the collector drop what a released
// value of a type with pointers (the long keys) referred to.
func (p *pool[T]) release(i uint32) {
	if i != 0 {
		var zero T
		*p.at(i) = zero
		p.free = append(p.free, i)
	}
}

// recycle makes index i (0: none) free for reuse without zeroing it:
// for values whose user resets what is read of them (a cell's header,
// see cell.clear), so that freeing a value does not write cache lines
// nothing reads again.
func (p *pool[T]) recycle(i uint32) {
	if i != 0 {
		p.free = append(p.free, i)
	}
}

// live is the number of indexes allocated and not released.
func (p *pool[T]) live() int { return max(0, len(p.vals)-1) - len(p.free) }
