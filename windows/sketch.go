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
	// m caches the registers of the slices live at one read time, so a
	// popular key's read costs O(1) amortised instead of merging
	// sketchBuckets+1 slices of sketchRegisters each on every event. It
	// is derived from s: snapshots do not carry it.
	m sketchMerge
}

// sketchMerge is the register-wise maximum of the slices with index in
// [hi-sketchBuckets, hi] and a histogram of its register values, from
// which the estimate is computed; add keeps it current while it reads
// the same slices, and a read of another hi rebuilds it.
type sketchMerge struct {
	ok    bool // reg and hist are the merge at hi
	estOK bool // est is the estimate of hist
	hi    int64
	est   float64
	reg   [sketchRegisters]uint8
	hist  [maxRho + 1]uint16 // registers by value; hist[0]: zero registers
}

// maxRho is the largest register value: add caps the leading zeros it
// counts at 64-sketchP.
const maxRho = 64 - sketchP + 1

// pow2neg[r] is 2^-r, exactly.
var pow2neg = func() (p [maxRho + 1]float64) {
	for r := range p {
		p[r] = math.Ldexp(1, -r)
	}
	return p
}()

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
	m := &k.m
	switch {
	case !m.ok || idx < m.hi-sketchBuckets:
		// Not cached, or a slice the merge does not read: slots hold one
		// index of any sketchBuckets+1 consecutive ones, so a slot reset
		// for an older index never held one of the merge's slices.
	case idx > m.hi:
		m.ok = false // its slot may have held one of the merge's slices
	case rho > m.reg[j]:
		// One of the merge's slices (a reset slot held an index outside
		// them): the register-wise maximum moves with this register.
		m.hist[m.reg[j]]--
		m.hist[rho]++
		m.reg[j] = rho
		m.estOK = false
	}
}

// estimate returns the cardinality estimate over the slices of
// (t-over-width, t]: from the cached merge when it reads the same slices,
// else after merging them register by register.
func (k *sketch) estimate(t float64) float64 {
	hiIdx := int64(math.Floor(t / k.width))
	m := &k.m
	if !m.ok || m.hi != hiIdx {
		k.merge(hiIdx)
	}
	if !m.estOK {
		m.est, m.estOK = estimateHist(&m.hist), true
	}
	return m.est
}

// merge rebuilds the cached merge for the slices of indexes
// [hiIdx-sketchBuckets, hiIdx].
func (k *sketch) merge(hiIdx int64) {
	loIdx := hiIdx - sketchBuckets
	m := &k.m
	m.reg = [sketchRegisters]uint8{}
	for i := range k.s {
		if sl := &k.s[i]; sl.set && sl.idx >= loIdx && sl.idx <= hiIdx {
			for j, r := range sl.reg {
				m.reg[j] = max(m.reg[j], r)
			}
		}
	}
	m.hist = [maxRho + 1]uint16{}
	for _, r := range m.reg {
		m.hist[r]++
	}
	m.ok, m.estOK, m.hi = true, false, hiIdx
}

// estimateHist is the HyperLogLog estimate of registers with the value
// histogram hist. Summing 2^-r by value rather than by register makes the
// result independent of how the merge was reached.
func estimateHist(hist *[maxRho + 1]uint16) float64 {
	zeros := int(hist[0])
	if zeros == sketchRegisters {
		return 0 // no live slice (a set slice has a non-zero register)
	}
	sum := 0.0
	for r, n := range hist {
		if n != 0 {
			sum += float64(n) * pow2neg[r]
		}
	}
	const m = float64(sketchRegisters)
	alpha := 0.7213 / (1 + 1.079/m)
	e := alpha * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return math.Round(e)
}
