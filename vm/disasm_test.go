package vm

import (
	"strings"
	"testing"
)

func TestFormatDuration(t *testing.T) {
	for sec, want := range map[float64]string{
		63072000: "730d", 5400: "90m", 3600: "1h", 86400: "1d", 0.02: "20ms", 90: "90s", 1.5: "1500ms", 0: "0s", 0.0001: "0.0001s", -3600: "-1h",
	} {
		if got := FormatDuration(sec); got != want {
			t.Errorf("FormatDuration(%v) = %s, want %s", sec, got, want)
		}
	}
}

// TestDisassembleUnits: durations print as durations, bool defaults as
// bools, and each rule's effect (floors included) is listed.
func TestDisassembleUnits(t *testing.T) {
	p := &Program{
		Name: "p", Version: "1", TimeSlot: -1,
		Inputs:  []Input{{Name: "ok", Type: TBool, Default: &Value{Num: 0}}, {Name: "n", Type: TFloat, Default: &Value{Num: 2}}},
		Params:  []Param{{Name: "r.tenure", Kind: Threshold, Value: 63072000, Unit: "s"}, {Name: "r.amount", Kind: Threshold, Value: 1000}},
		Windows: []Window{{Name: "w", Agg: "count", OverSec: 604800, Keys: []KeyPart{{Slot: 0}}}},
		Models:  []Model{{Name: "m", Path: "m.onnx", TimeoutSec: 0.02}},
		Rules:   []Rule{{Name: "floor", Forces: true, AtLeast: true, Action: Review}, {Name: "block", Forces: true, Action: Reject}, {Name: "s", WeightParam: -1, Weight: 1.5}},
		Code:    []Instr{{Op: PARAM, A: 0}},
		Lines:   []int32{0},
	}
	var b strings.Builder
	Disassemble(&b, p)
	for _, want := range []string{
		"   0 ok               bool   slot 0 default false\n",
		"   1 n                float  slot 0 default 2\n",
		"   0 r.tenure                         threshold 730d  (line 0)\n",
		"   1 r.amount                         threshold 1000  (line 0)\n",
		"window 0 w: count over 7d key slot 0 -> slot 0\n",
		"timeout 20ms on_error 0\n",
		"   0 floor                    at_least review\n   1 block                    reject\n   2 s                        score fixed 1.5\n",
		"param       0 (r.tenure = 730d)\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("listing lacks %q:\n%s", want, b.String())
		}
	}
}
