//go:build !linux

package windows

import "errors"

// newRegion refuses: regions need mremap, which only Linux has here, so
// every pool keeps its values in the heap.
func newRegion(uintptr) (*region, error) { return nil, errors.ErrUnsupported }

func (r *region) grow(uintptr) error { return errors.ErrUnsupported }
func (r *region) release()           {}
