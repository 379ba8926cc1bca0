package rules

import (
	"math"
	"testing"

	"github.com/riskforge/riskforge/compiler"
)

func TestSnapInt(t *testing.T) {
	cases := []struct {
		v    float64
		op   compiler.Op
		want float64
	}{
		{2.4, compiler.OpGt, 2}, {2.4, compiler.OpGe, 3}, {2.4, compiler.OpLt, 3}, {2.4, compiler.OpLe, 2},
		{2.9996, compiler.OpGt, 3}, {3.0004, compiler.OpGe, 3}, // within 1e-3 of an integer
		{-1.5, compiler.OpGt, -2}, {-1.5, compiler.OpGe, -1}, {-0.2, compiler.OpLe, -1}, {-0.0001, compiler.OpGt, 0},
	}
	for _, c := range cases {
		if got := snapInt(c.v, c.op); got != c.want || (got == 0 && math.Signbit(got)) {
			t.Errorf("snapInt(%v, %v) = %v, want %v", c.v, c.op, got, c.want)
		}
	}
	// The snapped threshold decides every integer exactly as the trained one.
	for _, op := range []compiler.Op{compiler.OpGt, compiler.OpGe, compiler.OpLt, compiler.OpLe} {
		for _, v := range []float64{-3.7, -1.2, 0.3, 2.5, 7.9} {
			s := snapInt(v, op)
			for x := -6.0; x <= 10; x++ {
				if cmp(x, op, v) != cmp(x, op, s) {
					t.Errorf("x=%v %s %v differs from %s %v", x, op, v, op, s)
				}
			}
		}
	}
}

func cmp(x float64, op compiler.Op, th float64) bool {
	switch op {
	case compiler.OpGt:
		return x > th
	case compiler.OpGe:
		return x >= th
	case compiler.OpLt:
		return x < th
	}
	return x <= th
}

func TestSnapFloat(t *testing.T) {
	cases := []struct {
		v, scale float64
		want     string
	}{
		{0.45378, 0.2, "0.454"},
		{0.45378, 2, "0.45"},
		{15234.7, 8000, "15230"},
		{15234.7, 80000, "15200"},
		{-0.00004, 0.2, "0"},
		{1.999999, 0.5, "2"},
		{12.5, 0, "12.5"},
		{3.3, 150, "3"},
		{0.1 + 0.2, 0.3, "0.3"},
	}
	for _, c := range cases {
		if got := snapFloat(c.v, c.scale); got != c.want {
			t.Errorf("snapFloat(%v, %v) = %q, want %q", c.v, c.scale, got, c.want)
		}
	}
}

func TestSnapWeight(t *testing.T) {
	cases := []struct {
		v        float64
		intStyle bool
		want     string
	}{
		{1.234, false, "1.23"}, {1.2, false, "1.2"}, {1.0001, false, "1.0"}, {-0.805, false, "-0.81"},
		{-0.001, false, "0.0"}, {2.0004, true, "2"}, {2.25, true, "2.25"}, {-3.0, false, "-3.0"},
	}
	for _, c := range cases {
		if got := snapWeight(c.v, c.intStyle); got != c.want {
			t.Errorf("snapWeight(%v, %v) = %q, want %q", c.v, c.intStyle, got, c.want)
		}
	}
}

func TestSnapDuration(t *testing.T) {
	const day, hour = 86400.0, 3600.0
	cases := []struct {
		sec, scale float64
		want       string
	}{
		{63.7 * day, 105 * day, "64d"}, // scale of months: whole days
		{36.2 * hour, 10 * day, "36h"}, // scale of days: hours
		{48.1 * hour, 10 * day, "2d"},  // written in the largest exact unit
		{95.4 * 60, 2 * hour, "95m"},   // minutes
		{45.4, 300, "45s"},             // seconds
		{0.4567, 0.5, "457ms"},         // milliseconds
		{-3 * day, 100 * day, "0s"},    // never negative
		{90 * 60, 3 * hour, "90m"},     // 1h30m is written 90m
		{1.5 * day, 2 * day, "36h"},
	}
	for _, c := range cases {
		got := formatDuration(snapDuration(c.sec, c.scale))
		if got != c.want {
			t.Errorf("duration %v (scale %v) = %q, want %q", c.sec, c.scale, got, c.want)
		}
		if v, ok := literalValue(got, "s"); !ok || v < 0 {
			t.Errorf("%q does not parse as a duration", got)
		}
	}
}
