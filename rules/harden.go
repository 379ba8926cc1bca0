package rules

import (
	"math"
	"strconv"
	"strings"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// Hardened is a trained parameter turned back into policy source.
type Hardened struct {
	Value float64 // exactly what the VM reads from Text
	Text  string  // the literal to write; equal to the source's when unchanged
	Moved bool    // Text differs from the source literal
}

// Harden snaps trained values to numbers a reviewer can read and the
// language can hold:
//
//   - a threshold compared with an int feature becomes the integer that
//     makes the hard comparison decide exactly as the trained value does
//     (x > 2.4 is x > 2; x >= 2.4 is x >= 3);
//   - other thresholds are rounded to a step of about 1% of their
//     feature's scale (a power of ten), durations to the
//     largest of d, h, m, s, ms not coarser than ten times that step;
//   - weights and the bias are rounded to two decimals.
//
// Parameters that are not trainable keep their source text. Values are
// parsed back from the text, so evaluating the hardened values with the VM
// gives exactly what evaluating the written policy gives.
func (p *Problem) Harden(gr *Graph, values []float64) []Hardened {
	prog := p.Prog
	out := make([]Hardened, len(prog.Params))
	for i, prm := range prog.Params {
		old := strings.TrimSpace(prog.Source[prm.Off:prm.End])
		h := Hardened{Value: prm.Value, Text: old}
		v := values[i]
		if !p.Trainable(i) || math.IsNaN(v) || math.IsInf(v, 0) {
			out[i] = h
			continue
		}
		var text string
		switch prm.Kind {
		case vm.Threshold:
			at := p.atoms[p.atomOf[i]]
			switch {
			case prm.Unit == "s":
				text = formatDuration(snapDuration(v, gr.Scale(i)))
			case prm.IsInt:
				text = strconv.FormatFloat(snapInt(v, at.op), 'f', -1, 64)
			default:
				text = snapFloat(v, gr.Scale(i))
			}
		default:
			text = snapWeight(v, !strings.ContainsAny(old, ".eE"))
		}
		nv, ok := literalValue(text, prm.Unit)
		if ok && nv != prm.Value {
			h = Hardened{Value: nv, Text: text, Moved: true}
		}
		out[i] = h
	}
	return out
}

// literalValue parses a literal as the compiler would.
func literalValue(text, unit string) (float64, bool) {
	if unit == "s" {
		v, err := lang.ParseDuration(text)
		return v, err == nil
	}
	v, err := strconv.ParseFloat(text, 64)
	return v, err == nil
}

// snapInt returns the integer threshold equivalent, for integer x, to
// comparing x OP v. Values within 1e-3 of an integer snap to it.
func snapInt(v float64, op compiler.Op) float64 {
	if r := math.Round(v); math.Abs(v-r) < 1e-3 {
		return r + 0 // +0 turns -0 into 0
	}
	switch op {
	case compiler.OpGt, compiler.OpLe:
		return math.Floor(v) + 0
	}
	return math.Ceil(v) + 0
}

// step returns the rounding step for a feature of standard deviation
// scale: the power of ten at about 1% of it.
func step(scale float64) float64 {
	if !(scale > 0) || math.IsInf(scale, 0) {
		return 1e-3
	}
	return math.Pow(10, math.Floor(math.Log10(scale))-2)
}

// snapFloat rounds v to the step of scale and formats it without
// exponent or trailing zeros.
func snapFloat(v, scale float64) string {
	st := step(scale)
	decimals := max(0, -int(math.Round(math.Log10(st))))
	r := math.Round(v/st) * st
	s := strconv.FormatFloat(r, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// snapWeight rounds a weight or bias to two decimals; intStyle keeps an
// integral value without a decimal point (the source wrote it so).
func snapWeight(v float64, intStyle bool) string {
	r := math.Round(v*100) / 100
	if r == 0 {
		r = 0
	}
	if intStyle && r == math.Trunc(r) {
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
	s := strconv.FormatFloat(r, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	if strings.HasSuffix(s, ".") {
		s += "0"
	}
	return s
}

var durationUnits = []struct {
	name string
	sec  float64
}{{"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1}, {"ms", 0.001}}

// snapDuration rounds seconds to the largest unit not coarser than ten
// times the step of scale (durations read best in whole units: 64d, not
// 1539h); durations are never negative.
func snapDuration(v, scale float64) float64 {
	st := 10 * step(scale)
	unit := 0.001
	for _, u := range durationUnits {
		if u.sec <= st {
			unit = u.sec
			break
		}
	}
	r := math.Round(v/unit) * unit
	if unit == 0.001 {
		r = math.Round(v*1000) / 1000
	}
	return math.Max(0, r)
}

// formatDuration writes seconds as a duration literal in the largest unit
// that holds it exactly: 36h, 90m, 2d, 45s, 500ms.
func formatDuration(sec float64) string {
	ms := math.Round(sec * 1000)
	if ms == 0 {
		return "0s"
	}
	for _, u := range durationUnits {
		n := ms / math.Round(u.sec*1000)
		if n == math.Trunc(n) {
			return strconv.FormatFloat(n, 'f', 0, 64) + u.name
		}
	}
	return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
}
