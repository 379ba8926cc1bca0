package lang

import (
	"fmt"
	"strings"
	"testing"
)

func TestNumbersIn(t *testing.T) {
	cases := map[string]string{
		"income under 150":            "[150]",
		"opened in the last 75d":      "[75d]",
		"ratio above 0.45, twice":     "[0.45]",
		"rule r2d2 and x_3":           "[]",
		"v1.2 and 3.5.6":              "[3.5]",
		"between 10 and 20 (in 1.5h)": "[10 20 1.5h]",
	}
	for text, want := range cases {
		var got []string
		for _, n := range NumbersIn(text) {
			if text[n.Start:n.End] != n.Text {
				t.Errorf("%q: span %d:%d is %q, not %q", text, n.Start, n.End, text[n.Start:n.End], n.Text)
			}
			got = append(got, n.Text+n.Unit)
		}
		if s := "[" + strings.Join(got, " ") + "]"; s != want {
			t.Errorf("%q: %s, want %s", text, s, want)
		}
	}
}

// FuzzNumbersIn: any text; spans are in range, in order, and hold the
// digits they report.
func FuzzNumbersIn(f *testing.F) {
	for _, s := range []string{"income under 150", "75d", "1.2.3", "x9 9x 0.0.0", "é1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		last := 0
		for _, n := range NumbersIn(text) {
			if n.Start < last || n.End <= n.Start || n.End > len(text) || text[n.Start:n.End] != n.Text {
				t.Fatalf("%q: bad span %+v", text, n)
			}
			if fmt.Sprint(n.Value) == "NaN" {
				t.Fatalf("%q: NaN", text)
			}
			last = n.End
		}
	})
}
