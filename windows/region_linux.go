package windows

import (
	"runtime"

	"golang.org/x/sys/unix"
)

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
