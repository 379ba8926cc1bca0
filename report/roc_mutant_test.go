package report

import (
	"math"
	"testing"
)

// TestROCKeepsPointOnMark: downsampling keeps a point whose FPR+TPR lands
// exactly on the next mark. With 99 negatives the first point, one
// negative above every other score, is at FPR+TPR = 1/99, exactly the
// first mark (2/(MaxROCPoints-2) = 1/99), and must be kept.
func TestROCKeepsPointOnMark(t *testing.T) {
	var scores []float64
	var labels []bool
	scores, labels = append(scores, 1000), append(labels, false)
	for i := 0; i < 98; i++ { // the other negatives, each its own score
		scores, labels = append(scores, float64(500+i)), append(labels, false)
	}
	for i := 0; i < 150; i++ { // positives below, each its own score
		scores, labels = append(scores, float64(i)), append(labels, true)
	}
	if MaxROCPoints != 200 {
		t.Fatalf("the exact mark needs MaxROCPoints 200, it is %d: update the test", MaxROCPoints)
	}
	pts := ROC(scores, labels)
	if len(pts) < 2 || len(pts) > MaxROCPoints {
		t.Fatalf("%d points", len(pts))
	}
	if want := (Point{FPR: 1.0 / 99, TPR: 0}); pts[1] != want {
		t.Fatalf("second point %+v, want %+v (on the first mark)", pts[1], want)
	}
}

// TestFloatPercent: a share prints as a percentage with the decimals
// asked for; undefined figures print as Undefined.
func TestFloatPercent(t *testing.T) {
	for _, c := range []struct {
		f    Float
		d    int
		want string
	}{{0.1234, 1, "12.3%"}, {1, 0, "100%"}, {0.005, 2, "0.50%"}, {Float(math.NaN()), 1, Undefined}, {Float(math.Inf(1)), 1, Undefined}} {
		if got := c.f.Percent(c.d); got != c.want {
			t.Errorf("Float(%v).Percent(%d) = %q, want %q", float64(c.f), c.d, got, c.want)
		}
	}
}
