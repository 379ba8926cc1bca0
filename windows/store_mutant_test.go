package windows

import (
	"testing"

	"github.com/riskforge/riskforge/vm"
)

// TestSignature: a window's signature names everything that decides its
// contents, in a fixed form (snapshots and reloads find windows by it):
// name|aggregate|length|keys|events|where, lists comma-separated.
func TestSignature(t *testing.T) {
	p := &vm.Program{
		Events: []string{"pay", "refund", "login"},
		Inputs: []vm.Input{
			{Name: "user", Type: vm.TString, Slot: 0},
			{Name: "amount", Type: vm.TFloat, Slot: 0},
			{Name: "device", Type: vm.TString, Slot: 1},
		},
	}
	for _, c := range []struct {
		w    vm.Window
		want string
	}{
		{vm.Window{Name: "n", Agg: "count", OverSec: 3600, Keys: []vm.KeyPart{{Slot: 0, String: true}}}, "n|count|3600|user||"},
		{vm.Window{Name: "s", Agg: "sum", OverSec: 86400, Keys: []vm.KeyPart{{Slot: 0, String: true}, {Slot: 1, String: true}, {Slot: 0}},
			Events: []uint32{0, 2}, Where: "amount > 5"}, "s|sum|86400|user,device,amount|pay,login|amount > 5"},
		{vm.Window{Name: "x", Agg: "max", OverSec: 0.5, Keys: []vm.KeyPart{{Slot: 7}}, Events: []uint32{1}}, "x|max|0.5|slot7|refund|"},
		{vm.Window{Name: "y", Agg: "count", OverSec: 60, Keys: []vm.KeyPart{{Slot: 1, String: true}}, Events: []uint32{9, 0}}, "y|count|60|device|,pay|"},
		{vm.Window{Name: "z", Agg: "count", OverSec: 60, Keys: []vm.KeyPart{{Slot: 1, String: true}}, Events: []uint32{1, 3}}, "z|count|60|device|refund,|"}, // index 3 of 3 events
	} {
		if got := Signature(p, c.w); got != c.want {
			t.Errorf("Signature = %q, want %q", got, c.want)
		}
	}
}

// TestRegisterWindowLength: a window may be up to MaxTime seconds long.
func TestRegisterWindowLength(t *testing.T) {
	s := New(Config{})
	for _, c := range []struct {
		over float64
		ok   bool
	}{{MaxTime, true}, {MaxTime * (1 + 1e-15), false}, {1e-9, true}, {0, false}} {
		_, err := s.Register("w"+Signature(&vm.Program{}, vm.Window{OverSec: c.over}), "count", c.over)
		if (err == nil) != c.ok {
			t.Errorf("window of %g s: %v, want ok %v", c.over, err, c.ok)
		}
	}
}
