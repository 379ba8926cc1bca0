package report

import (
	"math"
	"testing"
)

// TestUndefinedMark checks that every formatter prints an undefined
// figure with the one mark, Undefined, and that tables align it as a
// number.
func TestUndefinedMark(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		f := Float(v)
		for name, got := range map[string]string{
			"Fixed": f.Fixed(4), "Percent": f.Percent(2), "fmtFixed": fmtFixed(f, 3),
			"fmtPct": fmtPct(f), "fmtLift": fmtLift(f),
		} {
			if got != Undefined {
				t.Errorf("%s(%v) = %q, want %q", name, v, got, Undefined)
			}
		}
	}
	if Undefined != "—" || !isNumeric(Undefined) {
		t.Errorf("Undefined is %q", Undefined)
	}
}
