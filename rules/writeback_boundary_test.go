package rules

import (
	"strings"
	"testing"

	"github.com/riskforge/riskforge/vm"
)

// TestRewriteRefusesBadSpans: a parameter span must be a non-empty range
// inside the source; an empty span would insert text instead of replacing
// a literal.
func TestRewriteRefusesBadSpans(t *testing.T) {
	src := []byte("rule r when x > 10 emit review reason \"x\"\n")
	const off = 16 // the "10"
	cases := []struct {
		name     string
		off, end int32
		wantErr  bool
	}{
		{"the literal", off, off + 2, false},
		{"one byte", off, off + 1, false},
		{"up to the end", int32(len(src)) - 1, int32(len(src)), false},
		{"from the start", 0, 1, false},
		{"empty", off, off, true},
		{"empty at the end", int32(len(src)), int32(len(src)), true},
		{"reversed", off + 2, off, true},
		{"negative", -1, 2, true},
		{"past the end", off, int32(len(src)) + 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			params := []vm.Param{{Name: "r.x", Off: tc.off, End: tc.end, Value: 10}}
			out, changes, err := Rewrite(src, params, []string{"20"})
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "parameter r.x: bad source span") {
					t.Fatalf("got %v (output %q), want a bad-span error", err, out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := string(src[:tc.off]) + "20" + string(src[tc.end:])
			if string(out) != want || len(changes) != 1 || !changes[0].Moved() {
				t.Fatalf("got %q %+v, want %q", out, changes, want)
			}
		})
	}
}

// TestRewriteOverlapAndOrder: edits apply right to left so offsets stay
// valid; adjacent spans are fine, overlapping ones are refused.
func TestRewriteOverlapAndOrder(t *testing.T) {
	src := []byte("a 1 b 22 c 333")
	params := []vm.Param{{Name: "p", Off: 2, End: 3, Value: 1}, {Name: "q", Off: 6, End: 8, Value: 22}, {Name: "s", Off: 11, End: 14, Value: 333}}
	out, changes, err := Rewrite(src, params, []string{"4444", "", "5"})
	if err != nil || string(out) != "a 4444 b 22 c 5" {
		t.Fatalf("got %q, %v", out, err)
	}
	if changes[0].NewValue != 4444 || changes[1].Moved() || changes[2].New != "5" || changes[2].OldValue != 333 {
		t.Fatalf("changes %+v", changes)
	}
	adjacent := []vm.Param{{Name: "p", Off: 0, End: 1}, {Name: "q", Off: 1, End: 2}}
	if out, _, err := Rewrite([]byte("12"), adjacent, []string{"3", "4"}); err != nil || string(out) != "34" {
		t.Fatalf("adjacent spans: %q, %v", out, err)
	}
	overlap := []vm.Param{{Name: "p", Off: 0, End: 2}, {Name: "q", Off: 1, End: 3}}
	if _, _, err := Rewrite([]byte("123"), overlap, []string{"4", "5"}); err == nil {
		t.Fatal("overlapping spans accepted")
	}
}

// TestSnapDurationWholeSeconds: features whose scale is 10 to 100
// seconds snap to whole seconds (step 0.1-1 s, ten times that is 1-10 s),
// at both ends of the range; just below it, milliseconds.
func TestSnapDurationWholeSeconds(t *testing.T) {
	cases := []struct {
		sec, scale float64
		want       string
	}{
		{45.4, 10, "45s"},
		{45.6, 10, "46s"},
		{45.4, 50, "45s"},
		{45.4, 99.9, "45s"},
		{45.4, 100, "45s"},
		{0.4, 10, "0s"},
		{45.4567, 9.99, "45457ms"},
		{45.4, 1000, "1m"}, // scale 1000 s: step 10 s, so minutes
		{125.4, 1000, "2m"},
		{-5, 10, "0s"},
	}
	for _, c := range cases {
		if got := formatDuration(snapDuration(c.sec, c.scale)); got != c.want {
			t.Errorf("duration %v (scale %v) = %q, want %q", c.sec, c.scale, got, c.want)
		}
	}
}
