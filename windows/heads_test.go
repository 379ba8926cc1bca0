package windows

import (
	"math/rand/v2"
	"testing"
)

// TestHeadsAgainstMap: a long run of random sets, updates and deletes
// gives the same answers as a Go map. The hashes come from few home
// slots (their top bits), so clusters form, wrap around the end of the
// array and are cut by deletions in every position.
func TestHeadsAgainstMap(t *testing.T) {
	for _, homes := range []int{1, 16, 0} { // 0: hashes at random
		r := rand.New(rand.NewPCG(1, uint64(homes)))
		var tb heads
		want, ticks := map[uint64]uint32{}, map[uint64]uint32{}
		hashes := make([]uint64, 300)
		for i := range hashes {
			hashes[i] = r.Uint64()
			if homes > 0 {
				hashes[i] = uint64(r.IntN(homes))<<60 | uint64(i) // top bits: the home; low bits: distinct
			}
		}
		for op := range 20000 {
			h := hashes[r.IntN(len(hashes))]
			tick := uint32(op)
			switch r.IntN(4) {
			case 0, 1:
				i := uint32(1 + r.IntN(1000))
				tb.set(h, i, tick)
				if _, held := want[h]; !held {
					ticks[h] = tick // a held hash keeps its tick
				}
				want[h] = i
			case 2:
				tb.del(h)
				delete(want, h)
				delete(ticks, h)
			default:
				tb.touch(h, tick)
				if _, held := want[h]; held {
					ticks[h] = tick
				}
			}
			if op%97 == 0 || op > 19900 {
				checkHeads(t, &tb, want, hashes)
				checkTicks(t, &tb, ticks)
			}
		}
		for h := range want {
			tb.del(h)
		}
		checkHeads(t, &tb, map[uint64]uint32{}, hashes)
	}
}

func checkHeads(t *testing.T, tb *heads, want map[uint64]uint32, hashes []uint64) {
	t.Helper()
	for _, h := range hashes {
		if got := tb.get(h); got != want[h] {
			t.Fatalf("get(%#x) = %d, want %d", h, got, want[h])
		}
	}
	seen := map[uint64]uint32{}
	tb.each(func(h uint64, i uint32) bool { seen[h] = i; return true })
	if len(seen) != len(want) || tb.len() != len(want) {
		t.Fatalf("each saw %d entries, len %d; want %d", len(seen), tb.len(), len(want))
	}
	for h, i := range want {
		if seen[h] != i {
			t.Fatalf("each: %#x -> %d, want %d", h, seen[h], i)
		}
	}
	if len(tb.slots) > 0 && tb.n*loadDiv > len(tb.slots)*loadMax {
		t.Fatalf("%d entries in %d slots: over the load limit", tb.n, len(tb.slots))
	}
}

// checkTicks: every held hash's slot has the tick of its last set as a
// new hash or touch, wherever growing and deletions moved it.
func checkTicks(t *testing.T, tb *heads, want map[uint64]uint32) {
	t.Helper()
	for _, s := range tb.slots {
		if s.i != 0 && s.tick != want[s.h] {
			t.Fatalf("hash %#x has tick %d, want %d", s.h, s.tick, want[s.h])
		}
	}
}

// TestHeadsZeroHash: 0 is a hash like any other (an empty slot is marked
// by its index), and a miss on an empty table reads nothing.
func TestHeadsZeroHash(t *testing.T) {
	var tb heads
	if tb.get(0) != 0 {
		t.Fatal("empty table holds 0")
	}
	tb.del(0)
	tb.set(0, 7, 0)
	tb.set(1<<63, 8, 0)
	if tb.get(0) != 7 || tb.get(1<<63) != 8 || tb.len() != 2 {
		t.Fatalf("get(0) = %d, get(1<<63) = %d, len %d", tb.get(0), tb.get(1<<63), tb.len())
	}
	tb.del(0)
	if tb.get(0) != 0 || tb.get(1<<63) != 8 || tb.len() != 1 {
		t.Fatalf("after del(0): get(0) = %d, get(1<<63) = %d, len %d", tb.get(0), tb.get(1<<63), tb.len())
	}
}

// TestHeadsEachStartsAnywhere: each starts at a random slot, so the first
// entry it yields varies (eviction's fallback sample depends on it).
func TestHeadsEachStartsAnywhere(t *testing.T) {
	var tb heads
	for i := range 64 {
		tb.set(uint64(i)<<58, uint32(i+1), 0)
	}
	firsts := map[uint32]bool{}
	for range 200 {
		tb.each(func(_ uint64, i uint32) bool { firsts[i] = true; return false })
	}
	if len(firsts) < 10 {
		t.Fatalf("each started at %d different entries in 200 walks", len(firsts))
	}
}

// TestHeadsGrowsAtSeventyPercent: a table doubles just before an entry
// would take it past loadMax/loadDiv full, from headsFirst slots: small
// enough that a lookup's miss reads few slots, no bigger than that needs.
func TestHeadsGrowsAtSeventyPercent(t *testing.T) {
	var tb heads
	for n, want := range map[int]int{1: 8, 5: 8, 6: 16, 11: 16, 12: 32, 22: 32, 23: 64} {
		tb = heads{}
		for i := range n {
			tb.set(uint64(i)<<40|1, uint32(i+1), 0)
		}
		if len(tb.slots) != want {
			t.Errorf("%d entries: %d slots, want %d", n, len(tb.slots), want)
		}
	}
}

// TestHeadsHomesSpread: hashes are spread over the slots by their top
// bits, so most entries of a table of random hashes sit at their home
// slot; a home that ignored the hash would leave one there and make
// every lookup walk a cluster.
func TestHeadsHomesSpread(t *testing.T) {
	var tb heads
	r := rand.New(rand.NewPCG(2, 2))
	for i := range 700 {
		tb.set(r.Uint64(), uint32(i+1), 0)
	}
	atHome := 0
	for p, s := range tb.slots {
		if s.i != 0 && tb.home(s.h) == p {
			atHome++
		}
	}
	if atHome < 350 {
		t.Fatalf("%d of 700 entries at their home slot (of %d slots), want most", atHome, len(tb.slots))
	}
}
