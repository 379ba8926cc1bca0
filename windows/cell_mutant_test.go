package windows

import (
	"strconv"
	"testing"

	"github.com/riskforge/riskforge/vm"
)

// Tests of a key's switch from exact events to buckets (ring, sketch) and
// of what the buckets then read. Windows are 3600 s, so a ring bucket is
// 225 s wide and a sketch slice 450 s.

// read returns window w's aggregate for key at time t without adding an
// event.
func read(m *Memory, w int, key vm.WindowKey, t float64) float64 {
	obs := make([]vm.WindowObs, len(m.ids))
	out := make([]float64, len(m.ids))
	for i := range obs {
		obs[i] = vm.WindowObs{Key: key, T: t}
	}
	if err := m.Observe(obs, out); err != nil {
		panic(err)
	}
	return out[w]
}

// TestRingTakesTheExactEvents: the ninth live event moves the eight kept
// exactly into the ring, so every aggregate still covers all nine.
func TestRingTakesTheExactEvents(t *testing.T) {
	aggs := []string{"count", "sum", "avg", "min", "max"}
	m := testStore(Config{}, aggs...)
	k := vm.WindowKey{Str: "k"}
	vals := []float64{5, 3, 9, 4, 7, 2, 8, 6, 1}
	want := map[string]float64{"count": 9, "sum": 45, "avg": 5, "min": 1, "max": 9}
	for w, agg := range aggs {
		var got float64
		for i, v := range vals {
			got = observe1(m, w, k, float64(10+i), v, "")
		}
		if got != want[agg] {
			t.Errorf("%s of nine events = %v, want %v", agg, got, want[agg])
		}
		if got := read(m, w, k, 100); got != want[agg] {
			t.Errorf("%s read at t=100 = %v, want %v", agg, got, want[agg])
		}
	}
	// Negative values: the ring's min and max start from ±Inf, not 0.
	m = testStore(Config{}, "min", "max")
	for i := range 9 {
		observe1(m, 0, k, float64(i), -float64(10+i), "")
		observe1(m, 1, k, float64(i), -float64(10+i), "")
	}
	if lo, hi := read(m, 0, k, 9), read(m, 1, k, 9); lo != -18 || hi != -10 {
		t.Errorf("ring min, max of -10..-18 = %v, %v", lo, hi)
	}
}

// TestExpiredEventIsNotMovedToRing: an event exactly `over` old has left
// the window before the new event is kept, so it takes no exact slot and
// never reaches a ring (where its bucket would still be read).
func TestExpiredEventIsNotMovedToRing(t *testing.T) {
	m := testStore(Config{}, "count")
	k := vm.WindowKey{Str: "k"}
	for i := range 8 {
		observe1(m, 0, k, float64(i), 1, "") // t = 0..7: eight kept exactly
	}
	// At t=3600 the event at 0 is exactly over old: seven remain, the new
	// one is the eighth, and all are still exact.
	if got := observe1(m, 0, k, 3600, 1, ""); got != 8 {
		t.Fatalf("count at t=3600 = %v, want 8", got)
	}
	if got := read(m, 0, k, 3606); got != 2 {
		t.Fatalf("count at t=3606 = %v, want 2 (t=7 and t=3600; exact events expire exactly)", got)
	}
}

// TestRingBucketEdges: the ring reads the buckets floor((t-over)/width)
// through floor(t/width), both ends included: the current bucket, and
// the partly expired oldest one (up to one bucket width of older events,
// as docs/STATE.md says), never the one before it.
func TestRingBucketEdges(t *testing.T) {
	m := testStore(Config{}, "count")
	k := vm.WindowKey{Str: "k"}
	for i := range 8 {
		observe1(m, 0, k, float64(150+10*i), 1, "") // bucket 0: t = 150..220
	}
	observe1(m, 0, k, 230, 1, "") // bucket 1; the ninth event makes the ring
	for _, c := range []struct{ t, want float64 }{
		{230, 9},
		{300, 9},  // bucket 1 is the current one
		{3700, 9}, // (100, 3700]: all nine, in buckets 0..16
		{3824, 9}, // bucket 16 still reads bucket 0, whose events are up to 225 s old
		{3825, 1}, // bucket 17 reads buckets 1..17
		{4050, 0}, // bucket 18: nothing left
	} {
		if got := read(m, 0, k, c.t); got != c.want {
			t.Errorf("count at t=%v = %v, want %v", c.t, got, c.want)
		}
	}
}

// TestRingIgnoresEventOlderThanItCovers: an event whose bucket shares its
// slot with a newer bucket is dropped (it cannot count in any window read
// from now on) and does not wipe the newer bucket.
func TestRingIgnoresEventOlderThanItCovers(t *testing.T) {
	m := testStore(Config{}, "count")
	k := vm.WindowKey{Str: "k"}
	for i := range 9 {
		observe1(m, 0, k, float64(3825+i), 1, "") // bucket 17, slot 0
	}
	if got := observe1(m, 0, k, 10, 1, ""); got != 0 {
		t.Errorf("count read at t=10 = %v, want 0", got)
	}
	if got := read(m, 0, k, 3900); got != 9 {
		t.Errorf("count at t=3900 = %v, want 9: the late event (bucket 0, slot 0) wiped bucket 17", got)
	}
}

// TestSketchTakesTheExactValues: the ninth distinct value moves the eight
// kept exactly into the sketch, whose slices then expire with the window.
func TestSketchTakesTheExactValues(t *testing.T) {
	m := testStore(Config{}, "count_distinct")
	k := vm.WindowKey{Str: "k"}
	var got float64
	for i := range 9 {
		got = observe1(m, 0, k, float64(i), 0, "v"+strconv.Itoa(i))
	}
	// Nine values in 256 registers: linear counting gives 9 (8 if two
	// share a register), never 1.
	if got < 8 || got > 9 {
		t.Fatalf("distinct of nine values = %v, want 8 or 9", got)
	}
	if got := read(m, 0, k, 3600+449); got != 9 && got != 8 {
		t.Errorf("distinct at t=4049 = %v, want the nine still (slice 0 is the oldest read)", got)
	}
	if got := read(m, 0, k, 3600+450); got != 0 {
		t.Errorf("distinct at t=4050 = %v, want 0: slice 0 has left the window", got)
	}
}
