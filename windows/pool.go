package windows

import (
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
// The price is that growing moves the values: a pointer from at is valid
// until the next alloc from the same pool, and a shard copies its cells
// a few times as it fills (3 MB, about a millisecond, for a full shard
// of the default store).
type pool[T any] struct {
	vals []T      // vals[0] is never handed out
	free []uint32 // released indexes, reused last-in first-out
}

// poolFirstBytes is the first slice's size: the 64 shards of a store
// holding a handful of keys (tests, a backtest's replay) stay small.
const poolFirstBytes = 4 << 10

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
		if cap(p.vals) == 0 {
			var zero T
			p.vals = make([]T, 0, max(2, poolFirstBytes/int(unsafe.Sizeof(zero))))
		} else {
			// append's growth: doubling while small, then by a quarter,
			// so a full store's slack stays near a quarter of it.
			p.vals = slices.Grow(p.vals, 1)
		}
	}
	if len(p.vals) == 0 {
		p.vals = p.vals[:1] // index 0 is none
	}
	p.vals = p.vals[:len(p.vals)+1]
	return uint32(len(p.vals) - 1)
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
