package windows

import (
	"testing"

	"github.com/riskforge/riskforge/vm"
)

func testStore(aggs ...string) *Memory {
	prog := &vm.Program{}
	for _, a := range aggs {
		prog.Windows = append(prog.Windows, vm.Window{Name: a, Agg: a, OverSec: 3600})
	}
	return NewMemory(prog, 0)
}

func TestAggregates(t *testing.T) {
	m := testStore("count", "sum", "avg", "min", "max", "count_distinct")
	k := vm.WindowKey{Str: "u1"}
	events := []struct{ t, v float64 }{{0, 5}, {10, 7}, {20, 5}, {3605, 1}}
	want := map[string][]float64{
		"count":          {1, 2, 3, 3},
		"sum":            {5, 12, 17, 13},
		"avg":            {5, 6, 17.0 / 3, 13.0 / 3},
		"min":            {5, 5, 5, 1},
		"max":            {5, 7, 7, 7},
		"count_distinct": {1, 2, 2, 3},
	}
	for w, agg := range []string{"count", "sum", "avg", "min", "max", "count_distinct"} {
		for i, e := range events {
			got := m.Observe(w, k, e.t, e.v, "")
			if got != want[agg][i] {
				t.Errorf("%s after event %d = %v, want %v", agg, i, got, want[agg][i])
			}
		}
	}
}

func TestDistinctStringsAndKeys(t *testing.T) {
	m := testStore("count_distinct")
	a, b := vm.WindowKey{Str: "dev1"}, vm.WindowKey{Num: 42}
	for i, s := range []string{"u1", "u2", "u1", "u3"} {
		m.Observe(0, a, float64(i), 0, s)
	}
	if got := m.Observe(0, a, 5, 0, "u2"); got != 3 {
		t.Fatalf("distinct = %v, want 3", got)
	}
	if got := m.Observe(0, b, 5, 0, "x"); got != 1 {
		t.Fatalf("other key = %v, want 1", got)
	}
}

func TestBoundedAndSweep(t *testing.T) {
	prog := &vm.Program{Windows: []vm.Window{{Agg: "count", OverSec: 60}}}
	m := NewMemory(prog, 10)
	k := vm.WindowKey{Str: "flood"}
	var got float64
	for i := 0; i < 100; i++ {
		got = m.Observe(0, k, 1, 1, "")
	}
	if got != 10 {
		t.Fatalf("count capped at %v, want 10", got)
	}
	m.Observe(0, vm.WindowKey{Str: "late"}, 100, 1, "")
	if n := m.Sweep(100); n != 1 || m.Keys() != 1 {
		t.Fatalf("swept %d, keys left %d; want 1 and 1", n, m.Keys())
	}
}
