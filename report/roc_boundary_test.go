package report

import "testing"

// TestROCPointBudget pins the downsampling edge: a curve with exactly
// MaxROCPoints points (the origin plus MaxROCPoints-1 distinct scores) is
// kept whole; a longer one is cut to at most MaxROCPoints, keeping both
// ends.
func TestROCPointBudget(t *testing.T) {
	for _, groups := range []int{MaxROCPoints - 2, MaxROCPoints - 1, MaxROCPoints, MaxROCPoints + 1, 3 * MaxROCPoints} {
		var scores []float64
		var labels []bool
		for g := 0; g < groups; g++ {
			// One row per distinct score, alternating classes, so every
			// score is its own point on the curve.
			scores = append(scores, float64(g)/float64(groups))
			labels = append(labels, g%2 == 0)
		}
		pts := ROC(scores, labels)
		switch {
		case groups+1 <= MaxROCPoints && len(pts) != groups+1:
			t.Errorf("%d distinct scores: %d points, want all %d", groups, len(pts), groups+1)
		case len(pts) > MaxROCPoints:
			t.Errorf("%d distinct scores: %d points, want at most %d", groups, len(pts), MaxROCPoints)
		case groups+1 > MaxROCPoints && len(pts) < MaxROCPoints/2:
			t.Errorf("%d distinct scores: only %d points", groups, len(pts))
		}
		if first, last := pts[0], pts[len(pts)-1]; first != (Point{}) || last != (Point{FPR: 1, TPR: 1}) {
			t.Errorf("%d distinct scores: ends %v and %v", groups, first, last)
		}
	}
}
