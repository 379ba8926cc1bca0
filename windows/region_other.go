//go:build !linux

package windows

import (
	"errors"
	"sync/atomic"
	"unsafe"
)

// region is memory outside the Go heap; only Linux has it here (it needs
// mremap), so elsewhere every pool keeps its values in the heap.
type region struct {
	addr unsafe.Pointer
	size uintptr
}

// mappedBytes and liveRegions are the size and count of the regions
// mapped: none here.
var mappedBytes, liveRegions atomic.Int64

// maxRegions and errTooManyRegions are Linux's bound (region_linux.go).
const maxRegions = 8192

var errTooManyRegions = errors.New("windows: too many regions mapped")

func newRegion(uintptr) (*region, error) { return nil, errors.ErrUnsupported }
func (r *region) grow(uintptr) error     { return errors.ErrUnsupported }
func (r *region) release()               {}
