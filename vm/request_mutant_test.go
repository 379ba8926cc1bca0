package vm_test

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

const boundsPolicy = `policy t version "1"
input {
  n   int optional
  lo  float optional >= 5
  lox float optional > 5
  hi  float optional <= 9
  hix float optional < 9
  ts  time optional
  ok  bool optional
}
rule r when exists(n) emit review reason "n"
`

// TestSetNumberBounds pins each bound at, just inside and just outside
// its value, through JSON and text alike, and the integer range: ±2^53
// are integers a float64 holds exactly, 2^53+2 is refused.
func TestSetNumberBounds(t *testing.T) {
	_, p := compileSource(t, boundsPolicy, nil)
	idx := map[string]int{}
	for i, in := range p.Inputs {
		idx[in.Name] = i
	}
	cases := []struct {
		input string
		text  string
		err   string // "" accepted
	}{
		{"lo", "5", ""}, {"lo", "4.999", "below the minimum >= 5"}, {"lo", "5.001", ""},
		{"lox", "5", "below the minimum > 5"}, {"lox", "5.001", ""}, {"lox", "4", "below the minimum > 5"},
		{"hi", "9", ""}, {"hi", "9.001", "above the maximum <= 9"}, {"hi", "8.999", ""},
		{"hix", "9", "above the maximum < 9"}, {"hix", "8.999", ""}, {"hix", "10", "above the maximum < 9"},
		{"n", "9007199254740992", ""}, {"n", "-9007199254740992", ""},
		{"n", "9007199254740994", "must be an integer"}, {"n", "-9007199254740994", "must be an integer"},
		{"n", "2.5", "must be an integer"}, {"n", "NaN", "must be a finite number"}, {"n", "-Inf", "must be a finite number"},
		{"n", "0x10", "must be a number"}, {"n", "1_000", "must be a number"}, {"ts", "0X1p3", "RFC 3339 time or Unix seconds"},
		{"ok", "TRUE", ""}, {"ok", "0", ""}, {"ok", "yes", "must be a bool"},
	}
	for _, c := range cases {
		req := p.NewRequest()
		err := p.SetText(req, idx[c.input], c.text)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s = %s: %v", c.input, c.text, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s = %s: got %v, want %q", c.input, c.text, err, c.err)
		case c.err != "" && req.Present[idx[c.input]]:
			t.Errorf("%s = %s: refused but marked present", c.input, c.text)
		case c.err == "" && !req.Present[idx[c.input]]:
			t.Errorf("%s = %s: accepted but not marked present", c.input, c.text)
		}
		if c.err != "" || c.input == "ok" {
			continue
		}
		// The same value as a number (what the JSON decoders hand over)
		// gives the same verdict.
		x, err := strconv.ParseFloat(c.text, 64)
		if err != nil || strings.ContainsAny(c.text, "xX_") {
			continue
		}
		if err := p.SetNumber(p.NewRequest(), idx[c.input], x); err != nil {
			t.Errorf("SetNumber %s = %v: %v", c.input, x, err)
		}
	}
}

// TestTimeFractionalSeconds: an RFC 3339 time keeps its fraction of a
// second, and Unix seconds are read as they are.
func TestTimeFractionalSeconds(t *testing.T) {
	_, p := compileSource(t, boundsPolicy, nil)
	i := -1
	for j, in := range p.Inputs {
		if in.Name == "ts" {
			i = j
		}
	}
	for text, want := range map[string]float64{
		"1970-01-01T00:00:01.5Z":    1.5,
		"1970-01-01T01:00:00+01:00": 0,
		"1969-12-31T23:59:59.25Z":   -0.75,
		"2026-01-02T03:04:05.125Z":  1767323045.125,
		"1767323045.125":            1767323045.125,
	} {
		req := p.NewRequest()
		if err := p.SetText(req, i, text); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if got := req.Num[p.Inputs[i].Slot]; math.Abs(got-want) > 1e-6 {
			t.Errorf("%s: %v, want %v", text, got, want)
		}
	}
}
