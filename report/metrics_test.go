package report

import (
	"cmp"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// bruteAUC counts (bad, good) pairs in O(n²): 1 for a bad scored above the
// good, 1/2 for a tie, in the order of cmp.Compare (NaN lowest).
func bruteAUC(scores []float64, labels []bool) float64 {
	var right, pairs float64
	for i, si := range scores {
		if !labels[i] {
			continue
		}
		for j, sj := range scores {
			if labels[j] {
				continue
			}
			pairs++
			switch cmp.Compare(si, sj) {
			case 1:
				right++
			case 0:
				right += 0.5
			}
		}
	}
	if pairs == 0 {
		return math.NaN()
	}
	return right / pairs
}

// bruteThresholds returns (FPR, TPR) of the rule "flag score >= t" for every
// distinct score t, plus "flag nothing".
func bruteThresholds(scores []float64, labels []bool) []Point {
	P, N := 0, 0
	for _, l := range labels {
		if l {
			P++
		} else {
			N++
		}
	}
	pts := []Point{{0, 0}}
	for _, t := range scores {
		tp, fp := 0, 0
		for i, s := range scores {
			if cmp.Compare(s, t) >= 0 {
				if labels[i] {
					tp++
				} else {
					fp++
				}
			}
		}
		pts = append(pts, Point{float64(fp) / float64(N), float64(tp) / float64(P)})
	}
	return pts
}

func bruteKS(scores []float64, labels []bool) float64 {
	ks := 0.0
	for _, p := range bruteThresholds(scores, labels) {
		ks = max(ks, math.Abs(p.TPR-p.FPR))
	}
	return ks
}

func bruteRecall(scores []float64, labels []bool, fpr float64) float64 {
	best := 0.0
	for _, p := range bruteThresholds(scores, labels) {
		if p.FPR <= fpr {
			best = max(best, p.TPR)
		}
	}
	return best
}

// randomData draws n rows whose scores take one of levels values (so that
// ties abound) and whose labels depend on the score; nanEvery > 0 makes every
// nanEvery-th score NaN.
func randomData(r *rand.Rand, n, levels, nanEvery int) ([]float64, []bool) {
	scores := make([]float64, n)
	labels := make([]bool, n)
	for i := range scores {
		s := float64(r.IntN(levels)) / float64(levels)
		scores[i] = s
		labels[i] = r.Float64() < 0.15+0.6*s
		if nanEvery > 0 && i%nanEvery == 0 {
			scores[i] = math.NaN()
		}
	}
	return scores, labels
}

func near(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol
}

func TestAUCMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		n := 1 + r.IntN(300)
		levels := 1 + r.IntN(40)
		nanEvery := 0
		if trial%5 == 0 {
			nanEvery = 1 + r.IntN(10)
		}
		scores, labels := randomData(r, n, levels, nanEvery)
		want := bruteAUC(scores, labels)
		if got := AUC(scores, labels); !near(got, want, 1e-12) {
			t.Fatalf("trial %d (n=%d levels=%d): AUC = %v, brute force %v", trial, n, levels, got, want)
		}
		if got, want := KS(scores, labels), bruteKS(scores, labels); !near(got, want, 1e-12) && !math.IsNaN(got) {
			t.Fatalf("trial %d: KS = %v, brute force %v", trial, got, want)
		}
		for _, cap := range []float64{0, 0.01, 0.05, 0.1, 0.3, 1} {
			got, want := RecallAtFPR(scores, labels, cap), bruteRecall(scores, labels, cap)
			if !near(got, want, 1e-12) && !math.IsNaN(got) {
				t.Fatalf("trial %d: RecallAtFPR(%v) = %v, brute force %v", trial, cap, got, want)
			}
		}
	}
}

func TestAUCKnownCases(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name   string
		scores []float64
		labels []bool
		auc    float64
		ks     float64
	}{
		{"perfect", []float64{0.9, 0.8, 0.3, 0.1}, []bool{true, true, false, false}, 1, 1},
		{"reversed", []float64{0.9, 0.8, 0.3, 0.1}, []bool{false, false, true, true}, 0, 1},
		{"all tied", []float64{0.5, 0.5, 0.5, 0.5, 0.5}, []bool{true, false, false, true, false}, 0.5, 0},
		{"interleaved", []float64{0.9, 0.8, 0.7, 0.6}, []bool{true, false, true, false}, 0.75, 0.5},
		{"tie across classes", []float64{0.7, 0.5, 0.5, 0.2}, []bool{true, true, false, false}, 0.875, 0.5},
		{"one tie pair", []float64{0.5, 0.5}, []bool{true, false}, 0.5, 0},
		{"only bads", []float64{0.1, 0.9}, []bool{true, true}, nan, nan},
		{"only goods", []float64{0.1, 0.9}, []bool{false, false}, nan, nan},
		{"empty", nil, nil, nan, nan},
		{"NaN ranks lowest", []float64{math.NaN(), 0.1}, []bool{false, true}, 1, 1},
		{"signed zeros tie", []float64{math.Copysign(0, -1), 0}, []bool{true, false}, 0.5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AUC(tt.scores, tt.labels); !near(got, tt.auc, 1e-15) {
				t.Errorf("AUC = %v, want %v", got, tt.auc)
			}
			if got := KS(tt.scores, tt.labels); !near(got, tt.ks, 1e-15) {
				t.Errorf("KS = %v, want %v", got, tt.ks)
			}
		})
	}
}

func TestAUCLargeIsExact(t *testing.T) {
	// 3 levels, many rows: compare with the closed form of the counts.
	var scores []float64
	var labels []bool
	add := func(s float64, bad bool, n int) {
		for range n {
			scores = append(scores, s)
			labels = append(labels, bad)
		}
	}
	add(1, true, 3000)
	add(1, false, 1000)
	add(0, true, 1000)
	add(0, false, 5000)
	// pairs: bad@1 beats good@0: 3000*5000; ties: 3000*1000 + 1000*5000 at half.
	want := (3000.0*5000 + 0.5*(3000*1000+1000*5000)) / (4000.0 * 6000)
	if got := AUC(scores, labels); got != want {
		t.Errorf("AUC = %v, want %v", got, want)
	}
}

func TestSortKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	special := []float64{math.NaN(), math.Inf(-1), math.Inf(1), 0, math.Copysign(0, -1),
		math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, 1, -1}
	for _, n := range []int{0, 1, 10, 255, 256, 257, 5000} {
		fs := make([]float64, n)
		for i := range fs {
			switch r.IntN(4) {
			case 0:
				fs[i] = special[r.IntN(len(special))]
			case 1:
				fs[i] = float64(r.IntN(5)) // ties
			default:
				fs[i] = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
			}
		}
		keys := make([]uint64, n)
		for i, f := range fs {
			keys[i] = key(f)
		}
		sortKeys(keys, make([]uint64, n))
		slices.SortFunc(fs, cmp.Compare[float64])
		for i := range fs {
			if keys[i] != key(fs[i]) {
				t.Fatalf("n=%d: position %d holds key %#x, want the key of %v", n, i, keys[i], fs[i])
			}
			if i > 0 && (keys[i] == keys[i-1]) != (cmp.Compare(fs[i], fs[i-1]) == 0) {
				t.Fatalf("n=%d: keys tie where scores %v, %v do not, or the reverse", n, fs[i-1], fs[i])
			}
		}
	}
}

func TestKSIgnoresInputOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	scores, labels := randomData(r, 500, 7, 0)
	ks, auc := KS(scores, labels), AUC(scores, labels)
	perm := r.Perm(len(scores))
	s2, l2 := make([]float64, len(scores)), make([]bool, len(scores))
	for i, p := range perm {
		s2[i], l2[i] = scores[p], labels[p]
	}
	if KS(s2, l2) != ks || AUC(s2, l2) != auc {
		t.Error("KS or AUC depend on row order")
	}
}

func TestLogLoss(t *testing.T) {
	tests := []struct {
		name   string
		probs  []float64
		labels []bool
		want   float64
	}{
		{"coin flip", []float64{0.5, 0.5}, []bool{true, false}, math.Ln2},
		{"confident right", []float64{0.9, 0.1}, []bool{true, false}, -math.Log(0.9)},
		{"mixed", []float64{0.8, 0.3}, []bool{true, true}, -(math.Log(0.8) + math.Log(0.3)) / 2},
		{"good at 0.2", []float64{0.2}, []bool{false}, -math.Log(0.8)},
		{"clipped bad at 0", []float64{0}, []bool{true}, -math.Log(1e-15)},
		{"clipped good at 1", []float64{1}, []bool{false}, -math.Log(1e-15)},
		{"perfect", []float64{1, 0}, []bool{true, false}, -math.Log(1 - 1e-15)},
		{"empty", nil, nil, math.NaN()},
		{"NaN prob", []float64{math.NaN(), 0.5}, []bool{true, false}, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LogLoss(tt.probs, tt.labels); !near(got, tt.want, 1e-9) {
				t.Errorf("LogLoss = %v, want %v", got, tt.want)
			}
		})
	}
	if got := LogLoss([]float64{0}, []bool{true}); math.Abs(got-34.538776394910684) > 1e-6 {
		t.Errorf("clipped log loss = %v, want about 34.5388", got)
	}
}

func TestRecallAtFPR(t *testing.T) {
	// 100 goods at 0.00..0.99; bads at 0.995 (above every good), 0.985 (above
	// all but one good), 0.945 (above all but five) and 0.5.
	var scores []float64
	var labels []bool
	for i := range 100 {
		scores = append(scores, float64(i)/100)
		labels = append(labels, false)
	}
	for _, s := range []float64{0.995, 0.985, 0.945, 0.5} {
		scores = append(scores, s)
		labels = append(labels, true)
	}
	tests := []struct{ fpr, want float64 }{
		{0, 0.25},
		{0.009, 0.25},
		{0.01, 0.5},
		{0.04, 0.5},
		{0.05, 0.75},
		{0.5, 1},
		{1, 1},
		{-1, 0},
		{math.NaN(), math.NaN()},
	}
	for _, tt := range tests {
		if got := RecallAtFPR(scores, labels, tt.fpr); !near(got, tt.want, 0) {
			t.Errorf("RecallAtFPR(%v) = %v, want %v", tt.fpr, got, tt.want)
		}
	}
	// A tie straddling the cap cannot be split.
	if got := RecallAtFPR([]float64{0.9, 0.9, 0.1}, []bool{true, false, false}, 0.4); got != 0 {
		t.Errorf("tie straddling the cap: got %v, want 0", got)
	}
	if got := RecallAtFPR([]float64{0.5}, []bool{true}, 0.05); !math.IsNaN(got) {
		t.Errorf("one class: got %v, want NaN", got)
	}
}

// trapezoid integrates a curve given as (FPR, TPR) points.
func trapezoid(pts []Point) float64 {
	a := 0.0
	for i := 1; i < len(pts); i++ {
		a += (pts[i].FPR - pts[i-1].FPR) * (pts[i].TPR + pts[i-1].TPR) / 2
	}
	return a
}

func TestROC(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ n, levels int }{{50, 10}, {1000, 150}, {20000, 5000}, {20000, 1 << 30}} {
		scores, labels := randomData(r, tc.n, tc.levels, 0)
		pts := ROC(scores, labels)
		if len(pts) > MaxROCPoints {
			t.Errorf("n=%d: %d points, want at most %d", tc.n, len(pts), MaxROCPoints)
		}
		if pts[0] != (Point{0, 0}) || pts[len(pts)-1] != (Point{1, 1}) {
			t.Errorf("n=%d: curve runs %v..%v, want (0,0)..(1,1)", tc.n, pts[0], pts[len(pts)-1])
		}
		for i := 1; i < len(pts); i++ {
			if pts[i].FPR < pts[i-1].FPR || pts[i].TPR < pts[i-1].TPR {
				t.Fatalf("n=%d: curve not monotone at %d: %v then %v", tc.n, i, pts[i-1], pts[i])
			}
		}
		auc := AUC(scores, labels)
		distinct := len(slices.Compact(slices.Sorted(slices.Values(scores))))
		if distinct+1 <= MaxROCPoints {
			if len(pts) != distinct+1 {
				t.Errorf("n=%d: %d points for %d distinct scores, want all kept", tc.n, len(pts), distinct)
			}
			if a := trapezoid(pts); !near(a, auc, 1e-12) {
				t.Errorf("n=%d: area under ROC %v, AUC %v", tc.n, a, auc)
			}
		} else {
			if len(pts) < MaxROCPoints/2 {
				t.Errorf("n=%d: downsampled to only %d points", tc.n, len(pts))
			}
			if a := trapezoid(pts); !near(a, auc, 2e-3) {
				t.Errorf("n=%d: area under downsampled ROC %v, AUC %v", tc.n, a, auc)
			}
		}
	}
	if ROC([]float64{1, 2}, []bool{true, true}) != nil {
		t.Error("ROC of one class should be nil")
	}
	if got := ROC([]float64{0.5, 0.5}, []bool{true, false}); !slices.Equal(got, []Point{{0, 0}, {1, 1}}) {
		t.Errorf("ROC of a tie = %v, want the diagonal", got)
	}
}

func TestLengthMismatchPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "2 scores but 1 labels") {
			t.Errorf("recover() = %v, want a length panic", r)
		}
	}()
	AUC([]float64{1, 2}, []bool{true})
}

func TestSummarize(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	scores, labels := randomData(r, 2000, 50, 0)
	s := Summarize(scores, labels)
	pos := 0
	for _, l := range labels {
		if l {
			pos++
		}
	}
	if s.Rows != 2000 || s.Positives != pos {
		t.Errorf("rows, positives = %d, %d; want 2000, %d", s.Rows, s.Positives, pos)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"auc", float64(s.AUC), AUC(scores, labels)},
		{"ks", float64(s.KS), KS(scores, labels)},
		{"logloss", float64(s.LogLoss), LogLoss(scores, labels)},
		{"recall1", float64(s.RecallAtFPR1), RecallAtFPR(scores, labels, 0.01)},
		{"recall5", float64(s.RecallAtFPR5), RecallAtFPR(scores, labels, 0.05)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	// One class: NaN figures marshal as null.
	b, err := json.Marshal(Summarize([]float64{0.2, 0.4}, []bool{false, false}))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"rows":2,"positives":0,"auc":null,"ks":null,"logloss":0.3669845875401002,"recall_at_fpr_1pct":null,"recall_at_fpr_5pct":null}`
	if string(b) != want {
		t.Errorf("JSON = %s\nwant   %s", b, want)
	}
	var back Summary
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(float64(back.AUC)) || back.Rows != 2 || float64(back.LogLoss) != 0.3669845875401002 {
		t.Errorf("round trip gave %+v", back)
	}
}

func TestFloatJSON(t *testing.T) {
	for _, tc := range []struct {
		f    Float
		want string
	}{
		{0.5, "0.5"}, {1, "1"}, {0, "0"}, {1e-21, "1e-21"},
		{Float(math.NaN()), "null"}, {Float(math.Inf(1)), "null"}, {Float(math.Inf(-1)), "null"},
	} {
		b, err := json.Marshal(tc.f)
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", float64(tc.f), b, err, tc.want)
		}
	}
	var fs []Float
	if err := json.Unmarshal([]byte(`[0.25, null, 3]`), &fs); err != nil {
		t.Fatal(err)
	}
	if fs[0] != 0.25 || !math.IsNaN(float64(fs[1])) || fs[2] != 3 {
		t.Errorf("Unmarshal = %v", fs)
	}
	if err := json.Unmarshal([]byte(`"x"`), &fs[0]); err == nil {
		t.Error("Unmarshal of a string should fail")
	}
}

// --- Backtest ---

var (
	testRules   = []string{"overdue", "blocked", "velocity", "never"}
	testActions = []string{"approve", "review", "reject"}
)

type row struct {
	score  float64
	action string
	fired  []int
	label  int
}

func randomRows(r *rand.Rand, n int, unlabelled float64) []row {
	rows := make([]row, n)
	for i := range rows {
		bad := r.Float64() < 0.1
		x := r.NormFloat64() - 1.5
		if bad {
			x += 2
		}
		s := math.Round(1/(1+math.Exp(-x))*1000) / 1000
		var fired []int
		for k := range 3 {
			if r.Float64() < s*float64(k+1)/3 {
				fired = append(fired, k)
			}
		}
		a := "approve"
		switch {
		case s >= 0.9:
			a = "reject"
		case s >= 0.5:
			a = "review"
		}
		if r.IntN(500) == 0 {
			a = "escalate" // not declared up front
		}
		label := 0
		if bad {
			label = 1
		}
		if r.Float64() < unlabelled {
			label = -1
		}
		rows[i] = row{s, a, fired, label}
	}
	return rows
}

func resultJSON(t *testing.T, b *Backtest) string {
	t.Helper()
	out, err := json.Marshal(b.Result())
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestBacktestMergeEqualsSingle(t *testing.T) {
	rows := randomRows(rand.New(rand.NewPCG(9, 10)), 20000, 0.2)

	single := NewBacktest(testRules, testActions)
	for _, r := range rows {
		single.Add(r.score, r.action, r.fired, r.label)
	}
	want := resultJSON(t, single)

	// Contiguous chunks merged in order give byte-identical results.
	const workers = 4
	parts := make([]*Backtest, workers)
	var wg sync.WaitGroup
	for w := range workers {
		parts[w] = NewBacktest(testRules, testActions)
		wg.Go(func() {
			lo, hi := w*len(rows)/workers, (w+1)*len(rows)/workers
			for _, r := range rows[lo:hi] {
				parts[w].Add(r.score, r.action, r.fired, r.label)
			}
		})
	}
	wg.Wait()
	merged := NewBacktest(testRules, testActions)
	for _, p := range parts {
		merged.Merge(p)
	}
	if got := resultJSON(t, merged); got != want {
		t.Errorf("merged result differs:\n got %s\nwant %s", got, want)
	}

	// Interleaved rows merged concurrently, in any order, into a shared
	// Backtest: equal up to the rounding of the log-loss sum.
	shared := NewBacktest(testRules, testActions)
	for w := range workers {
		wg.Go(func() {
			own := NewBacktest(testRules, nil)
			for i := w; i < len(rows); i += workers {
				own.Add(rows[i].score, rows[i].action, rows[i].fired, rows[i].label)
			}
			shared.Merge(own)
			own.Merge(shared) // concurrent opposite-order merges must not deadlock
		})
	}
	wg.Wait()
	got, exp := shared.Result(), single.Result()
	if !near(float64(got.LogLoss), float64(exp.LogLoss), 1e-12) {
		t.Errorf("log loss %v, want %v", got.LogLoss, exp.LogLoss)
	}
	got.LogLoss = exp.LogLoss
	gj, _ := json.Marshal(got)
	ej, _ := json.Marshal(exp)
	if string(gj) != string(ej) {
		t.Errorf("shared result differs:\n got %s\nwant %s", gj, ej)
	}
}

func TestBacktestConcurrentAdd(t *testing.T) {
	rows := randomRows(rand.New(rand.NewPCG(11, 12)), 4000, 0)
	single := NewBacktest(testRules, testActions)
	shared := NewBacktest(testRules, testActions)
	for _, r := range rows {
		single.Add(r.score, r.action, r.fired, r.label)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(rows); i += 4 {
				shared.Add(rows[i].score, rows[i].action, rows[i].fired, rows[i].label)
			}
		})
	}
	wg.Wait()
	got, want := shared.Result(), single.Result()
	gr, _ := json.Marshal(got.Rules)
	wr, _ := json.Marshal(want.Rules)
	if got.Rows != want.Rows || got.AUC != want.AUC || got.KS != want.KS || string(gr) != string(wr) {
		t.Errorf("concurrent Add: got %+v, want %+v", got, want)
	}
}

func TestBacktestMergeSelf(t *testing.T) {
	b := NewBacktest([]string{"r"}, []string{"approve"})
	b.Add(0.9, "reject", []int{0}, 1)
	b.Add(0.1, "approve", nil, 0)
	b.Merge(b)
	b.Merge(nil)
	r := b.Result()
	if r.Rows != 4 || r.Decisions["reject"] != 2 || r.Rules[0].Hits != 2 || r.AUC != 1 {
		t.Errorf("self merge: %+v", r)
	}

	// Across chunk boundaries, rows keep their order.
	big := NewBacktest(nil, nil)
	n := chunkRows + chunkRows/2
	for i := range n {
		big.Add(float64(i), "approve", nil, -1)
	}
	big.Merge(big)
	s, _ := big.Scores()
	if len(s) != 2*n {
		t.Fatalf("%d rows after self merge, want %d", len(s), 2*n)
	}
	for i, v := range s {
		if v != float64(i%n) {
			t.Fatalf("row %d = %v, want %d", i, v, i%n)
		}
	}
}

func TestBacktestKnownFigures(t *testing.T) {
	b := NewBacktest([]string{"a", "b", "c"}, []string{"approve", "review", "reject"})
	//      score  action     fired  label
	b.Add(0.95, "reject", []int{0, 1}, 1)
	b.Add(0.90, "reject", []int{0}, 0)
	b.Add(0.60, "review", []int{1}, 1)
	b.Add(0.55, "review", []int{1}, 0)
	b.Add(0.20, "approve", nil, 0)
	b.Add(0.10, "approve", nil, 0)
	b.Add(0.15, "approve", []int{1}, 1)
	b.Add(0.05, "approve", nil, -1) // unknown outcome
	r := b.Result()

	if r.Rows != 8 || !r.Labelled {
		t.Fatalf("rows %d labelled %v", r.Rows, r.Labelled)
	}
	if want := map[string]int{"approve": 4, "review": 2, "reject": 2}; !mapsEqual(r.Decisions, want) {
		t.Errorf("decisions = %v, want %v", r.Decisions, want)
	}
	// 7 labelled rows, 3 bads: base rate 3/7.
	approve := r.Actions["approve"]
	if approve.Count != 4 || approve.Share != 0.5 || *approve.Bads != 1 ||
		!near(float64(approve.BadRate), 1.0/3, 1e-15) || approve.Precision != approve.BadRate ||
		!near(float64(approve.Recall), 1.0/3, 1e-15) {
		t.Errorf("approve = %+v", approve)
	}
	reject := r.Actions["reject"]
	if reject.BadRate != 0.5 || !near(float64(reject.Recall), 1.0/3, 1e-15) {
		t.Errorf("reject = %+v", reject)
	}
	ra, rb, rc := r.Rules[0], r.Rules[1], r.Rules[2]
	if ra.Name != "a" || ra.Hits != 2 || ra.HitRate != 0.25 || *ra.Bads != 1 || ra.BadRate != 0.5 ||
		!near(float64(ra.Recall), 1.0/3, 1e-15) || !near(float64(ra.Lift), 0.5/(3.0/7), 1e-15) {
		t.Errorf("rule a = %+v", ra)
	}
	if rb.Hits != 4 || *rb.Bads != 3 || rb.Precision != 0.75 || rb.Recall != 1 || !near(float64(rb.Lift), 0.75/(3.0/7), 1e-15) {
		t.Errorf("rule b = %+v", rb)
	}
	if rc.Hits != 0 || *rc.Bads != 0 || !math.IsNaN(float64(rc.BadRate)) || rc.Recall != 0 || !math.IsNaN(float64(rc.Lift)) {
		t.Errorf("rule c = %+v", rc)
	}
	// Score figures cover the 7 labelled rows only.
	scores := []float64{0.95, 0.90, 0.60, 0.55, 0.20, 0.10, 0.15}
	labels := []bool{true, false, true, false, false, false, true}
	if float64(r.AUC) != AUC(scores, labels) || float64(r.LogLoss) != LogLoss(scores, labels) {
		t.Errorf("auc %v logloss %v", r.AUC, r.LogLoss)
	}
	gs, gl := b.Scores()
	if !slices.Equal(gs, scores) || !slices.Equal(gl, labels) {
		t.Errorf("Scores() = %v, %v", gs, gl)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func keys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestBacktestJSONKeys(t *testing.T) {
	rows := randomRows(rand.New(rand.NewPCG(13, 14)), 500, 0)
	b := NewBacktest(testRules, testActions)
	for _, r := range rows {
		b.Add(r.score, r.action, r.fired, r.label)
	}
	out, err := json.Marshal(b.Result())
	if err != nil {
		t.Fatal(err)
	}
	top := keys(t, out)
	want := []string{"actions", "auc", "decisions", "ks", "labelled", "logloss", "recall_at_fpr_1pct", "recall_at_fpr_5pct", "rows", "rules"}
	if !slices.Equal(top, want) {
		t.Errorf("top-level keys = %v, want %v", top, want)
	}
	var doc struct {
		Actions map[string]json.RawMessage
		Rules   []json.RawMessage
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	wantAction := []string{"bad_rate", "bads", "count", "precision", "recall", "share"}
	for a, raw := range doc.Actions {
		if got := keys(t, raw); !slices.Equal(got, wantAction) {
			t.Errorf("action %s keys = %v, want %v", a, got, wantAction)
		}
	}
	wantRule := []string{"bad_rate", "bads", "hit_rate", "hits", "lift", "name", "precision", "recall"}
	if len(doc.Rules) != len(testRules) {
		t.Fatalf("%d rules, want %d", len(doc.Rules), len(testRules))
	}
	for _, raw := range doc.Rules {
		if got := keys(t, raw); !slices.Equal(got, wantRule) {
			t.Errorf("rule keys = %v, want %v", got, wantRule)
		}
	}
	// The JSON decodes back into the same figures.
	var back BacktestResult
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(&back)
	if string(again) != string(out) {
		t.Errorf("round trip changed the JSON:\n%s\n%s", again, out)
	}
}

func TestBacktestUnlabelled(t *testing.T) {
	b := NewBacktest([]string{"x"}, []string{"approve", "reject"})
	b.Add(0.2, "approve", nil, -1)
	b.Add(0.8, "reject", []int{0}, -1)
	out, err := json.Marshal(b.Result())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"rows":2,"labelled":false,"auc":null,"ks":null,"logloss":null,"recall_at_fpr_1pct":null,"recall_at_fpr_5pct":null,` +
		`"decisions":{"approve":1,"reject":1},` +
		`"actions":{"approve":{"count":1,"share":0.5,"bads":null,"bad_rate":null,"precision":null,"recall":null},` +
		`"reject":{"count":1,"share":0.5,"bads":null,"bad_rate":null,"precision":null,"recall":null}},` +
		`"rules":[{"name":"x","hits":1,"hit_rate":0.5,"bads":null,"bad_rate":null,"precision":null,"recall":null,"lift":null}]}`
	if string(out) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", out, want)
	}
	s, l := b.Scores()
	if !slices.Equal(s, []float64{0.2, 0.8}) || l != nil {
		t.Errorf("Scores() = %v, %v", s, l)
	}

	empty, err := json.Marshal(NewBacktest(nil, nil).Result())
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"rows":0,"labelled":false,"auc":null,"ks":null,"logloss":null,"recall_at_fpr_1pct":null,"recall_at_fpr_5pct":null,"decisions":{},"actions":{},"rules":[]}`; string(empty) != want {
		t.Errorf("empty JSON = %s", empty)
	}
}

func TestBacktestMisuse(t *testing.T) {
	expectPanic := func(name, msg string, f func()) {
		t.Helper()
		defer func() {
			r := recover()
			if s, _ := r.(string); !strings.Contains(s, msg) {
				t.Errorf("%s: recover() = %v, want panic containing %q", name, r, msg)
			}
		}()
		f()
	}
	b := NewBacktest([]string{"a"}, nil)
	expectPanic("bad index", "rule index 1 out of range", func() { b.Add(0.5, "approve", []int{1}, 0) })
	expectPanic("negative index", "rule index -1", func() { b.Add(0.5, "approve", []int{-1}, 0) })
	if r := b.Result(); r.Rows != 0 {
		t.Errorf("a rejected Add was recorded: %d rows", r.Rows)
	}
	expectPanic("different rules", "different rules", func() { b.Merge(NewBacktest([]string{"b"}, nil)) })
}

func BenchmarkAUC(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const n = 1_000_000
	scores := make([]float64, n)
	labels := make([]bool, n)
	for i := range scores {
		scores[i] = math.Round(r.Float64()*1e4) / 1e4 // ties, as real scores have
		labels[i] = r.Float64() < 0.05+0.2*scores[i]
	}
	b.ReportAllocs()
	for b.Loop() {
		AUC(scores, labels)
	}
}

func BenchmarkBacktestAdd(b *testing.B) {
	bt := NewBacktest(testRules, testActions)
	fired := []int{0, 2}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		bt.Add(float64(i%1000)/1000, testActions[i%3], fired, i%2)
		i++
	}
}
