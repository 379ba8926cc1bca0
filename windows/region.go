package windows

import (
	"errors"
	"sync/atomic"
	"unsafe"
)

// region is anonymous memory of the store's own, outside the Go heap,
// holding one pool's values (see pool). The kernel hands out its pages
// zeroed on first touch, and grow moves the mapping (mremap) instead of
// copying it, so a pool that grows neither copies its values nor touches
// pages it has not used: a store filling up used to spend about 8% of
// riskd's CPU copying its pools (docs/OPERATIONS.md §15). Nor does the
// collector count it: the heap's goal, and the garbage that piles up
// towards it, follow the requests' allocations and not the store's size.
//
// A region is unmapped by release or, failing that, once unreachable (a
// finalizer: the pool holding it went with its store). Only Linux has
// regions (region_linux.go); elsewhere newRegion refuses and every pool
// keeps its values in the heap.
type region struct {
	addr unsafe.Pointer
	size uintptr
}

// mappedBytes is the size of every region mapped and not yet unmapped;
// liveRegions counts them.
var mappedBytes, liveRegions atomic.Int64

// maxRegions bounds the regions mapped at once, three a shard at most:
// the system's count of mappings a process may hold (vm.max_map_count,
// 65,530 by default) is shared with the Go runtime's own heap, which
// must not be the one refused. A store needs 192 at most and riskd
// holds one; a test binary may hold hundreds. Past the bound, pools
// keep their values in the heap.
const maxRegions = 8192

// errTooManyRegions refuses a region past maxRegions.
var errTooManyRegions = errors.New("windows: too many regions mapped")
