package windows

import (
	"errors"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
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
// finalizer: the pool holding it went with its store).
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

// newRegion maps size bytes (a multiple of the page size), or returns an
// error (the pool then keeps its values in the Go heap).
func newRegion(size uintptr) (*region, error) {
	if liveRegions.Add(1) > maxRegions {
		liveRegions.Add(-1)
		return nil, errTooManyRegions
	}
	p, err := unix.MmapPtr(-1, 0, nil, size, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		liveRegions.Add(-1)
		return nil, err
	}
	r := &region{addr: p, size: size}
	mappedBytes.Add(int64(size))
	runtime.SetFinalizer(r, (*region).release)
	return r, nil
}

// grow enlarges the region to size bytes, keeping its contents; its
// address may change.
func (r *region) grow(size uintptr) error {
	p, err := unix.MremapPtr(r.addr, r.size, nil, size, unix.MREMAP_MAYMOVE)
	if err != nil {
		return err
	}
	mappedBytes.Add(int64(size - r.size))
	r.addr, r.size = p, size
	return nil
}

// release unmaps the region; it holds nothing after.
func (r *region) release() {
	if r.size == 0 {
		return
	}
	runtime.SetFinalizer(r, nil)
	if err := unix.MunmapPtr(r.addr, r.size); err != nil {
		panic("windows: munmap of a pool's region: " + err.Error()) // only for a bad address: a bug here
	}
	mappedBytes.Add(-int64(r.size))
	liveRegions.Add(-1)
	r.addr, r.size = nil, 0
}
