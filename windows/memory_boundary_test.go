package windows

import (
	"testing"

	"github.com/riskforge/riskforge/vm"
)

// These tests pin the edges of the window semantics through the public
// API only (NewMemory, Observe, Sweep, Keys), so they hold for any store
// that implements vm.WindowStore the same way.

// TestWindowExcludesEventExactlyOverOld: the window is (t-over, t]. An
// event exactly `over` old has left it; whole-second timestamps make this
// the common case, not a corner.
func TestWindowExcludesEventExactlyOverOld(t *testing.T) {
	cases := []struct {
		name  string
		times []float64
		want  float64
	}{
		{"exactly over apart", []float64{0, 3600}, 1},
		{"one second inside", []float64{1, 3600}, 2},
		{"just inside", []float64{0.5, 3600}, 2},
		{"three at the edge", []float64{0, 0, 1, 3600}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := testStore(Config{}, "count")
			var got float64
			for _, ts := range c.times {
				got = observe1(m, 0, vm.WindowKey{Str: "u"}, ts, 1, "")
			}
			if got != c.want {
				t.Fatalf("count over 1h after events at %v = %v, want %v", c.times, got, c.want)
			}
		})
	}
}

// TestSweepAtExactBoundary: a key whose newest event is exactly `over`
// old at the sweep time has no event left in its window and is dropped;
// one second earlier it is kept.
func TestSweepAtExactBoundary(t *testing.T) {
	for _, c := range []struct {
		now     float64
		dropped int
	}{{3599, 0}, {3599.5, 0}, {3600, 2}, {3601, 2}} {
		m := testStore(Config{}, "count")
		observe1(m, 0, vm.WindowKey{Str: "s"}, 0, 1, "")
		observe1(m, 0, vm.WindowKey{Num: 7}, 0, 1, "")
		if n := m.Sweep(c.now); n != c.dropped {
			t.Errorf("Sweep(%v) with both keys last seen at 0 dropped %d, want %d", c.now, n, c.dropped)
		}
		if left := m.Keys(); left != 2-c.dropped {
			t.Errorf("Sweep(%v): %d keys left, want %d", c.now, left, 2-c.dropped)
		}
	}
}

// TestKeysAreDistinct: string keys and numeric keys each get their own
// series; an empty string and the number 0 are the same (absent) key.
func TestKeysAreDistinct(t *testing.T) {
	m := testStore(Config{}, "count")
	keys := []vm.WindowKey{{Str: "a"}, {Str: "b"}, {Num: 1}, {Num: 2}, {Num: -1.5}}
	for round := 1; round <= 2; round++ {
		for _, k := range keys {
			if got := observe1(m, 0, k, float64(round), 1, ""); got != float64(round) {
				t.Fatalf("key %+v round %d: count %v, want %v (keys share a series)", k, round, got, round)
			}
		}
	}
	if got := m.Keys(); got != len(keys) {
		t.Fatalf("Keys() = %d, want %d", got, len(keys))
	}
	observe1(m, 0, vm.WindowKey{}, 3, 1, "")
	if got := observe1(m, 0, vm.WindowKey{Str: ""}, 3, 1, ""); got != 2 {
		t.Fatalf("zero key: count %v, want 2", got)
	}
	if got := m.Keys(); got != len(keys)+1 {
		t.Fatalf("Keys() after the zero key = %d, want %d", got, len(keys)+1)
	}
}

// TestDistinctMixesEmptyStrings: events without a string value count as
// the empty string once a string has been seen for the key.
func TestDistinctMixesEmptyStrings(t *testing.T) {
	m := testStore(Config{}, "count_distinct")
	k := vm.WindowKey{Str: "dev"}
	steps := []struct {
		s    string
		want float64
	}{{"", 1}, {"", 1}, {"x", 2}, {"", 2}, {"y", 3}, {"x", 3}}
	for i, st := range steps {
		if got := observe1(m, 0, k, float64(i), 0, st.s); got != st.want {
			t.Fatalf("event %d (%q): distinct = %v, want %v", i, st.s, got, st.want)
		}
	}
}

// TestZeroLengthWindow: a window of length 0 (the compiler refuses one;
// only a hand-built program has it) is refused when bound, with an error
// rather than a panic or a window that silently holds nothing.
func TestZeroLengthWindow(t *testing.T) {
	for _, agg := range []string{"count", "sum", "count_distinct", "max"} {
		prog := &vm.Program{Windows: []vm.Window{{Name: "w", Agg: agg, OverSec: 0, Keys: []vm.KeyPart{{String: true}}}}}
		if _, err := New(Config{}).Bind(prog, ""); err == nil {
			t.Fatalf("%s over 0s was bound", agg)
		}
	}
}
