package windows

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSketchMergeCache feeds a sketch events in and out of order, reads
// between them at times before, inside and after its slices, and checks
// every read against the estimate of a merge made afresh from the slices
// (a copy with no cache) and against the register-by-register merge.
func TestSketchMergeCache(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const over = 3600.0
	k := &sketch{width: over / sketchBuckets}
	now := 1.7e9
	for i := 0; i < 50000; i++ {
		switch r.IntN(10) {
		case 0: // late event, up to two window lengths old
			k.add(now-r.Float64()*2*over, r.Uint64())
		case 1: // time moves on, sometimes past the whole ring
			now += r.ExpFloat64() * over / 20
			if r.IntN(200) == 0 {
				now += 2 * over
			}
		default:
			k.add(now, r.Uint64()%uint64(1+r.IntN(5000)))
		}
		at := now
		if r.IntN(4) == 0 {
			at = now - r.Float64()*over // a read of an older time
		}
		got := k.estimate(at)
		fresh := *k
		fresh.m = sketchMerge{}
		if want := fresh.estimate(at); got != want {
			t.Fatalf("step %d: cached estimate %v, fresh merge %v", i, got, want)
		}
		if want := registerEstimate(k, at); got != want {
			t.Fatalf("step %d: estimate %v, register-order estimate %v", i, got, want)
		}
	}
}

// registerEstimate is the estimator as first written: the slices merged
// register by register and 2^-r summed in register order.
func registerEstimate(k *sketch, t float64) float64 {
	hiIdx := int64(math.Floor(t / k.width))
	loIdx := hiIdx - sketchBuckets
	var live []*sketchSlice
	for i := range k.s {
		if sl := &k.s[i]; sl.set && sl.idx >= loIdx && sl.idx <= hiIdx {
			live = append(live, sl)
		}
	}
	if len(live) == 0 {
		return 0
	}
	sum, zeros := 0.0, 0
	for j := 0; j < sketchRegisters; j++ {
		var r uint8
		for _, sl := range live {
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

// BenchmarkDistinctPopular is count_distinct on one popular key (a device
// shared by many users): every event adds a new value and reads the
// estimate, as riskd does under Zipf traffic.
func BenchmarkDistinctPopular(b *testing.B) {
	s := New(Config{})
	id, err := s.Register("users_on_device", "count_distinct", 7*86400)
	if err != nil {
		b.Fatal(err)
	}
	sp := (*s.specs.Load())[id].spec
	k := ckey{w: uint32(id), str: "device-1"}
	t := 1.7e9
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		t += 0.05
		s.observe(k, sp, t, math.Float64frombits(hashNum(float64(i))), true, 1)
	}
}
