//go:build !linux

package windows

import "testing"

// TestNoRegionsHere: without mremap no region is mapped, so a pool of
// values without pointers keeps them in the heap (TestPoolReuse checks
// that pool's behaviour).
func TestNoRegionsHere(t *testing.T) {
	if r, err := newRegion(regionFirstBytes); err == nil || r != nil {
		t.Fatalf("newRegion on a system without regions: %v, %v", r, err)
	}
	var p pool[ring]
	p.alloc()
	if p.mem != nil || mappedBytes.Load() != 0 || liveRegions.Load() != 0 {
		t.Fatalf("a region on a system without them: %v, %d bytes, %d regions", p.mem, mappedBytes.Load(), liveRegions.Load())
	}
}
