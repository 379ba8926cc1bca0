// Package report computes the figures analysts judge a policy by — AUC, KS,
// log loss, recall at capped false-positive rates, per-action
// precision/recall, per-rule hit and bad rates — and renders them as JSON and
// as a self-contained HTML page.
//
// Conventions shared by every function here:
//
//   - A label of true (or 1 in [Backtest.Add]) marks a "bad" row: the positive
//     class, the one a policy tries to catch. A higher score means "more
//     likely bad".
//   - Scores and labels are parallel slices; passing slices of different
//     lengths is a programming error and panics.
//   - Tied scores are treated as one threshold: a policy cannot separate rows
//     it scores identically, so ties count half in AUC and are never split in
//     KS, ROC or recall figures.
//   - NaN scores rank below every other score (the order of [cmp.Compare]).
//   - A figure that cannot be computed (no rows, or only one class present) is
//     NaN, and [Float] marshals NaN as JSON null.
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Float is a float64 whose JSON form is null when the value is NaN or ±Inf,
// which encoding/json otherwise refuses to encode. Result types in this
// package use Float for every figure that may be undefined — for example AUC
// when only one class is present, or any label-dependent rate when no row is
// labelled. Decoding null yields NaN. Use float64(f) to get the plain value.
type Float float64

// MarshalJSON encodes f as a JSON number, or as null when f is NaN or ±Inf.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// Undefined is the one mark for a figure that is undefined (NaN or ±Inf:
// AUC with one class present, a bad rate of a rule that never fired): an
// em dash, in the command line's text, the HTML reports and the training
// page alike. JSON says null instead.
const Undefined = "—"

// Fixed formats f with the given number of decimals, or Undefined: how
// every report prints a figure.
func (f Float) Fixed(decimals int) string {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return Undefined
	}
	return strconv.FormatFloat(float64(f), 'f', decimals, 64)
}

// Percent formats f as a percentage with the given decimals, or Undefined.
func (f Float) Percent(decimals int) string {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return Undefined
	}
	return strconv.FormatFloat(100*float64(f), 'f', decimals, 64) + "%"
}

// UnmarshalJSON decodes a JSON number into f, and null into NaN.
func (f *Float) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// Point is one point of a curve. For an ROC curve FPR is the false-positive
// rate (the x axis) and TPR the true-positive rate, or recall (the y axis);
// [Chart] reuses the type for any curve, reading FPR as x and TPR as y.
type Point struct {
	FPR float64 `json:"fpr"`
	TPR float64 `json:"tpr"`
}

// MaxROCPoints bounds the number of points [ROC] returns.
const MaxROCPoints = 200

// AUC returns the exact area under the ROC curve of scores against labels:
// the probability that a randomly chosen bad row scores above a randomly
// chosen good one, with ties counted as one half (the Mann-Whitney U statistic
// divided by the number of bad-good pairs). It radix-sorts a copy of the
// scores, so it runs in O(n) time and O(n) extra space. AUC is NaN when either
// class is empty.
func AUC(scores []float64, labels []bool) float64 {
	pos, neg := split(scores, labels)
	return sweep(pos, neg, nil).auc
}

// KS returns the Kolmogorov-Smirnov statistic: the largest |TPR − FPR| over
// all score thresholds, where rows with tied scores always fall on the same
// side of a threshold. KS is NaN when either class is empty.
func KS(scores []float64, labels []bool) float64 {
	pos, neg := split(scores, labels)
	return sweep(pos, neg, nil).ks
}

// RecallAtFPR returns the best recall (TPR) achievable by a score threshold
// whose false-positive rate does not exceed fpr; thresholds only fall between
// distinct scores, so the result is never interpolated. It is 0 when no
// threshold other than "flag nothing" meets the cap, and NaN when either class
// is empty or fpr is NaN.
func RecallAtFPR(scores []float64, labels []bool, fpr float64) float64 {
	pos, neg := split(scores, labels)
	return sweep(pos, neg, []float64{fpr}).recall[0]
}

// LogLoss returns the mean binary cross-entropy of probs, each the predicted
// probability that its row is bad. Probabilities are clipped to
// [1e-15, 1-1e-15] first so that a confident mistake costs about 34.5 rather
// than +Inf. LogLoss is NaN for empty input or if any probability is NaN.
func LogLoss(probs []float64, labels []bool) float64 {
	checkLen(len(probs), len(labels))
	if len(probs) == 0 {
		return math.NaN()
	}
	var sum float64
	for i, p := range probs {
		sum += logLoss1(p, labels[i])
	}
	return sum / float64(len(probs))
}

const (
	epsLo = 1e-15
	epsHi = 1 - 1e-15
)

// logLoss1 is the cross-entropy of one row. The probability given to the
// actual outcome is clipped to [1e-15, 1-1e-15], computed as 1-p for a good
// row only when that is exact enough (near 0 log1p keeps the precision), so
// both kinds of confident mistake cost exactly -ln(1e-15).
func logLoss1(p float64, bad bool) float64 {
	switch {
	case math.IsNaN(p):
		return p
	case bad:
		return -math.Log(min(max(p, epsLo), epsHi))
	case 1-p <= epsLo:
		return -math.Log(epsLo)
	}
	return -math.Log1p(-max(p, epsLo))
}

// ROC returns the ROC curve of scores against labels as (FPR, TPR) points in
// order of decreasing threshold, from (0, 0) to (1, 1), one point per distinct
// score. Curves with more than [MaxROCPoints] points are downsampled for
// plotting: points are kept evenly spaced along the curve (by FPR+TPR), and
// (0, 0) and (1, 1) are always kept. ROC returns nil when either class is
// empty.
func ROC(scores []float64, labels []bool) []Point {
	pos, neg := split(scores, labels)
	P, N := len(pos), len(neg)
	if P == 0 || N == 0 {
		return nil
	}
	groups := 0
	for w := newWalker(pos, neg); ; groups++ {
		if _, _, ok := w.next(); !ok {
			break
		}
	}
	keepAll := groups+1 <= MaxROCPoints
	step := 2.0 / float64(MaxROCPoints-2)
	mark := step
	pts := make([]Point, 1, min(groups+1, MaxROCPoints))
	tp, fp := 0, 0
	for w := newWalker(pos, neg); ; {
		p, n, ok := w.next()
		if !ok {
			break
		}
		tp += p
		fp += n
		pt := Point{FPR: float64(fp) / float64(N), TPR: float64(tp) / float64(P)}
		if l1 := pt.FPR + pt.TPR; keepAll || l1 >= mark {
			pts = append(pts, pt)
			mark = (math.Floor(l1/step) + 1) * step
		}
	}
	if last := pts[len(pts)-1]; last.FPR != 1 || last.TPR != 1 {
		pts = append(pts, Point{FPR: 1, TPR: 1})
	}
	return pts
}

// Summary is the headline evaluation of a score against binary labels.
// Figures that are undefined (see the package doc) are NaN and encode as
// JSON null.
type Summary struct {
	// Rows is the number of scored rows.
	Rows int `json:"rows"`
	// Positives is the number of rows labelled bad.
	Positives int `json:"positives"`
	// AUC is the area under the ROC curve; see [AUC].
	AUC Float `json:"auc"`
	// KS is the Kolmogorov-Smirnov statistic; see [KS].
	KS Float `json:"ks"`
	// LogLoss is the mean cross-entropy, reading scores as probabilities;
	// see [LogLoss].
	LogLoss Float `json:"logloss"`
	// RecallAtFPR1 is the recall at a false-positive rate of at most 1%.
	RecallAtFPR1 Float `json:"recall_at_fpr_1pct"`
	// RecallAtFPR5 is the recall at a false-positive rate of at most 5%.
	RecallAtFPR5 Float `json:"recall_at_fpr_5pct"`
}

// Summarize computes every figure of a [Summary] with a single sort. Scores
// are read as probabilities of being bad for the log loss.
func Summarize(scores []float64, labels []bool) Summary {
	pos, neg := split(scores, labels)
	st := sweep(pos, neg, []float64{0.01, 0.05})
	return Summary{
		Rows:         len(scores),
		Positives:    len(pos),
		AUC:          Float(st.auc),
		KS:           Float(st.ks),
		LogLoss:      Float(LogLoss(scores, labels)),
		RecallAtFPR1: Float(st.recall[0]),
		RecallAtFPR5: Float(st.recall[1]),
	}
}

func checkLen(scores, labels int) {
	if scores != labels {
		panic(fmt.Sprintf("report: %d scores but %d labels", scores, labels))
	}
}

// split turns the scores of bad rows into pos and of good rows into neg, as
// sort keys (see key) sorted ascending.
func split(scores []float64, labels []bool) (pos, neg []uint64) {
	checkLen(len(scores), len(labels))
	buf := make([]uint64, 2*len(scores)) // keys, then scratch for sorting
	i, j := 0, len(scores)
	for k, s := range scores {
		if labels[k] {
			buf[i] = key(s)
			i++
		} else {
			j--
			buf[j] = key(s)
		}
	}
	return sortSplit(buf, i)
}

// sortSplit sorts buf[:i] and buf[i:n], where n is len(buf)/2 and buf[n:] is
// scratch space, and returns them.
func sortSplit(buf []uint64, i int) (pos, neg []uint64) {
	n := len(buf) / 2
	pos, neg = buf[:i], buf[i:n]
	sortKeys(pos, buf[n:n+i])
	sortKeys(neg, buf[n+i:])
	return pos, neg
}

// key maps a score to an integer whose order is the order of cmp.Compare on
// float64: every NaN maps to 0, below -Inf, and -0 maps with +0, so that
// scores tie exactly when their keys are equal.
func key(f float64) uint64 {
	if f != f {
		return 0
	}
	if f == 0 {
		f = 0 // -0 to +0
	}
	b := math.Float64bits(f)
	if b>>63 != 0 {
		return ^b // negative: flip everything, so more negative is smaller
	}
	return b | 1<<63
}

// sortKeys sorts a ascending using tmp (as long as a) as scratch: an LSD radix
// sort a byte at a time, skipping bytes every key shares, which is several
// times faster than a comparison sort for the millions of rows of a backtest.
func sortKeys(a, tmp []uint64) {
	if len(a) < 256 {
		slices.Sort(a)
		return
	}
	var counts [8][256]int
	for _, k := range a {
		for d := range counts {
			counts[d][byte(k>>(8*d))]++
		}
	}
	src, dst := a, tmp[:len(a)]
	for d := range counts {
		c := &counts[d]
		shift := uint(8 * d)
		if c[byte(src[0]>>shift)] == len(a) {
			continue // every key has the same byte here
		}
		sum := 0
		for b, n := range c {
			c[b] = sum
			sum += n
		}
		for _, k := range src {
			b := byte(k >> shift)
			dst[c[b]] = k
			c[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
}

// walker visits the distinct keys of two ascending slices from the highest
// down, reporting how many bad (p) and good (n) rows share each.
type walker struct {
	pos, neg []uint64
	i, j     int // rows not yet visited: pos[:i], neg[:j]
}

func newWalker(pos, neg []uint64) walker {
	return walker{pos: pos, neg: neg, i: len(pos), j: len(neg)}
}

func (w *walker) next() (p, n int, ok bool) {
	var top uint64
	switch {
	case w.i == 0 && w.j == 0:
		return 0, 0, false
	case w.i == 0:
		top = w.neg[w.j-1]
	case w.j == 0:
		top = w.pos[w.i-1]
	default:
		top = max(w.pos[w.i-1], w.neg[w.j-1])
	}
	for w.i > 0 && w.pos[w.i-1] == top {
		w.i--
		p++
	}
	for w.j > 0 && w.neg[w.j-1] == top {
		w.j--
		n++
	}
	return p, n, true
}

type sweepStats struct {
	auc, ks float64
	recall  []float64 // one per requested FPR cap
}

// sweep walks the thresholds once and computes AUC, KS and the recall at each
// FPR cap. pos and neg are the sorted keys of split.
func sweep(pos, neg []uint64, caps []float64) sweepStats {
	P, N := len(pos), len(neg)
	st := sweepStats{recall: make([]float64, len(caps))}
	if P == 0 || N == 0 {
		st.auc, st.ks = math.NaN(), math.NaN()
		for k := range st.recall {
			st.recall[k] = math.NaN()
		}
		return st
	}
	for k, c := range caps {
		if math.IsNaN(c) {
			st.recall[k] = math.NaN()
		}
	}
	// right2 counts twice the (bad, good) pairs ordered correctly, a tie
	// counting once; integers keep the sum exact.
	var right2 uint64
	tp, fp := 0, 0
	for w := newWalker(pos, neg); ; {
		p, n, ok := w.next()
		if !ok {
			break
		}
		right2 += 2*uint64(p)*uint64(N-fp-n) + uint64(p)*uint64(n)
		tp += p
		fp += n
		tpr, fpr := float64(tp)/float64(P), float64(fp)/float64(N)
		st.ks = max(st.ks, math.Abs(tpr-fpr))
		for k, c := range caps {
			if fpr <= c { // TPR only grows along the walk
				st.recall[k] = tpr
			}
		}
	}
	st.auc = float64(right2) / (2 * float64(P) * float64(N))
	return st
}
