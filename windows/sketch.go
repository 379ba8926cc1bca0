package windows

import (
	"math"
	"math/bits"
	"unsafe"
)

// No HyperLogLog library is available to this project (none is served by
// its module proxy), and windowed counting needs the registers of several
// time slices merged on every read without allocating, so the sketch is
// kept here: the textbook estimator (Flajolet et al. 2007) with linear
// counting for small cardinalities, 2^sketchP one-byte registers per time
// slice. Its relative standard error is 1.04/sqrt(2^sketchP) ≈ 6.5%.

const (
	sketchP         = 8
	sketchRegisters = 1 << sketchP
)

type sketchSlice struct {
	idx int64 // floor(t / width)
	set bool
	reg [sketchRegisters]uint8
}

type sketch struct {
	width float64
	s     [sketchBuckets + 1]sketchSlice
}

var (
	cellSize   = int(unsafe.Sizeof(cell{}))
	ringSize   = int(unsafe.Sizeof(ring{}))
	sketchSize = int(unsafe.Sizeof(sketch{}))
)

func (k *sketch) add(t float64, h uint64) {
	idx := int64(math.Floor(t / k.width))
	sl := &k.s[uint64(idx)%uint64(len(k.s))]
	if !sl.set || sl.idx != idx {
		if sl.set && sl.idx > idx {
			return // older than the ring covers
		}
		*sl = sketchSlice{idx: idx, set: true}
	}
	j := h >> (64 - sketchP)
	rho := uint8(bits.LeadingZeros64(h<<sketchP|1<<(sketchP-1)) + 1)
	if rho > sl.reg[j] {
		sl.reg[j] = rho
	}
}

// estimate merges the slices of (t-over-width, t] register by register
// and returns the cardinality estimate.
func (k *sketch) estimate(t float64) float64 {
	hiIdx := int64(math.Floor(t / k.width))
	loIdx := hiIdx - sketchBuckets
	var live [sketchBuckets + 1]*sketchSlice
	n := 0
	for i := range k.s {
		if sl := &k.s[i]; sl.set && sl.idx >= loIdx && sl.idx <= hiIdx {
			live[n] = sl
			n++
		}
	}
	if n == 0 {
		return 0
	}
	sum, zeros := 0.0, 0
	for j := 0; j < sketchRegisters; j++ {
		var r uint8
		for _, sl := range live[:n] {
			r = max(r, sl.reg[j])
		}
		if r == 0 {
			zeros++
		}
		sum += math.Ldexp(1, -int(r))
	}
	const m = float64(sketchRegisters)
	alpha := 0.7213 / (1 + 1.079/m)
	e := alpha * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return math.Round(e)
}
