package windows

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/riskforge/riskforge/vm"
)

// TestSketchRegisterValues: a register holds the position of the first
// one bit after the sketchP index bits, capped at maxRho for a hash whose
// remaining bits are all zero; a register keeps its largest value.
func TestSketchRegisterValues(t *testing.T) {
	for _, c := range []struct {
		h   uint64
		j   int
		rho uint8
	}{
		{0, 0, maxRho},
		{0xff << 56, 255, maxRho},
		{1, 0, maxRho - 1},
		{1 << 55, 0, 1},
		{3<<56 | 1<<40, 3, 16},
	} {
		k := &sketch{width: 450}
		k.add(10, c.h)
		if got := k.s[0].reg[c.j]; got != c.rho {
			t.Errorf("hash %#x: register %d = %d, want %d", c.h, c.j, got, c.rho)
		}
		k.add(10, 1<<55|uint64(c.j)<<56) // rho 1: smaller, does not lower it
		if got := k.s[0].reg[c.j]; got != c.rho {
			t.Errorf("hash %#x then a smaller one: register %d = %d, want %d", c.h, c.j, got, c.rho)
		}
	}
}

// TestSketchHighCardinality: past linear counting's range (every register
// set), the estimate is the raw HyperLogLog one; read after every add
// from the merge cache, it equals the estimate of a fresh merge and of
// the register-order estimator, and stays within its error.
func TestSketchHighCardinality(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	k := &sketch{width: 450}
	const n = 6000
	var got float64
	for i := range n {
		at := 1000 + float64(i)*0.2 // slices 2..4, all live at the end
		k.add(at, r.Uint64())
		got = k.estimate(at)
		fresh := *k
		fresh.m = sketchMerge{}
		if want := fresh.estimate(at); got != want {
			t.Fatalf("value %d: cached estimate %v, fresh merge %v", i, got, want)
		}
		if want := registerEstimate(k, at); got != want {
			t.Fatalf("value %d: estimate %v, register-order estimate %v", i, got, want)
		}
	}
	if k.m.hist[0] != 0 {
		t.Fatalf("%d zero registers after %d values: the raw estimate was not reached", k.m.hist[0], n)
	}
	if got < n*(1-4*0.065) || got > n*(1+4*0.065) {
		t.Fatalf("estimate %v for %d values", got, n)
	}
}

// TestSketchSlotReuse: a slot of the sketch is reused for a newer slice
// once its old slice has left the window: the new value counts, alone.
func TestSketchSlotReuse(t *testing.T) {
	m := testStore(Config{}, "count_distinct")
	k := vm.WindowKey{Str: "k"}
	for i := range 9 {
		observe1(m, 0, k, float64(i), 0, string(rune('a'+i))) // a sketch, slice 0
	}
	// Slice 9 takes slice 0's slot; the window reads slices 1..9.
	if got := observe1(m, 0, k, 9*450, 0, "new"); got != 1 {
		t.Fatalf("distinct at t=4050 = %v, want 1", got)
	}
	if got := observe1(m, 0, k, 9*450+1, 0, "newer"); got != 2 {
		t.Fatalf("distinct at t=4051 = %v, want 2", got)
	}
}

// TestEstimateHistThresholds: linear counting replaces the raw estimate
// up to 2.5 m (640) inclusive, and only while a register is zero.
func TestEstimateHistThresholds(t *testing.T) {
	const m = float64(sketchRegisters)
	alpha := 0.7213 / (1 + 1.079/m)
	// Every register 1: no zero register, raw estimate alpha·m²/128 ≈ 368,
	// below 640 but with nothing for linear counting to count.
	var ones [maxRho + 1]uint16
	ones[1] = sketchRegisters
	if got, want := estimateHist(&ones), math.Round(alpha*m*m/128); got != want {
		t.Errorf("every register 1: estimate %v, want the raw %v", got, want)
	}
	// Registers whose raw estimate is exactly 640: the sum of 2^-r must
	// be s (a float with bits down to 2^-46). Its integer part in zero
	// registers and one register per fraction bit, then registers split
	// (one r into two r+1, the same sum) until there are 256, keeping one
	// zero register.
	s := alpha * m * m / 640
	if alpha*m*m/s != 640 {
		t.Fatalf("no sum gives exactly 640")
	}
	var h [maxRho + 1]uint16
	h[0] = uint16(s)
	frac := s - math.Floor(s)
	for r := 1; frac > 0; r++ {
		if frac >= math.Ldexp(1, -r) {
			h[r]++
			frac -= math.Ldexp(1, -r)
		}
	}
	total := func() (n int) {
		for _, c := range h {
			n += int(c)
		}
		return n
	}
	for r := 0; total() < sketchRegisters; {
		switch {
		case r >= 46:
			t.Fatal("no room to split registers")
		case h[r] == 0 || (r == 0 && h[0] == 1):
			r++
		default:
			h[r]--
			h[r+1] += 2
		}
	}
	sum := 0.0
	for r, n := range h {
		sum += float64(n) * math.Ldexp(1, -r)
	}
	if sum != s || alpha*m*m/sum != 640 || h[0] != 1 {
		t.Fatalf("registers sum to %v (zeros %d), want %v", sum, h[0], s)
	}
	if got, want := estimateHist(&h), math.Round(m*math.Log(m/float64(h[0]))); got != want {
		t.Errorf("raw estimate exactly 640, one zero register: %v, want linear counting's %v", got, want)
	}
}
