package models

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestFullTreesMatchWalk: padded trees score every row exactly as the
// branching walk does (bit for bit), on random ensembles whose trees end
// at every depth up to the full one, with rows hitting thresholds
// exactly, NaN and infinities. The walk is checked against onnxruntime
// by TestNativeTreesMatchONNXRuntime.
func TestFullTreesMatchWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	values := []float32{-1, 0, 0.5, 2, 1e6}
	row := func(features int) []float32 {
		x := make([]float32, features)
		for i := range x {
			switch rng.IntN(10) {
			case 0:
				x[i] = float32(math.NaN())
			case 1:
				x[i] = float32(math.Inf(2*rng.IntN(2) - 1))
			case 2, 3, 4:
				x[i] = values[rng.IntN(len(values))] // on a threshold
			default:
				x[i] = rng.Float32()*4 - 1
			}
		}
		return x
	}
	for trial := range 200 {
		features, depth := 1+rng.IntN(6), rng.IntN(maxFullDepth+1)
		te := randomEnsemble(rng, 1+rng.IntN(40), depth, features, values)
		te.full = te.padded()
		if te.full == nil {
			t.Fatalf("trial %d: depth %d not padded", trial, depth)
		}
		for range 300 {
			x := row(features)
			got, want := te.score(x), te.scoreLEQ(x)
			if math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("trial %d (depth %d, %d trees): row %v scores %v padded, %v walked", trial, depth, len(te.roots), x, got, want)
			}
		}
	}
}

// TestFullTreesTaken: loan_gbt's trees (80 of depth 3) are padded, and an
// ensemble deeper than maxFullDepth keeps the walk.
func TestFullTreesTaken(t *testing.T) {
	data, _ := gbtNode(t)
	te, err := nativeTrees(data, "probabilities", 1, 6)
	if err != nil {
		t.Fatal(err)
	}
	if te.full == nil || te.full.depth != 3 || te.full.trees != 80 {
		t.Fatalf("loan_gbt padded: %+v, want 80 trees of depth 3", te.full)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	deep := randomEnsemble(rng, 3, maxFullDepth+1, 2, []float32{0}) // its first tree that deep
	if deep.padded() != nil {
		t.Fatalf("an ensemble of depth %d padded", maxFullDepth+1)
	}
}

// randomEnsemble builds trees BRANCH_LEQ trees of at most depth splits
// (the first of exactly depth), each node a leaf early with probability
// 1/4, thresholds drawn from values.
func randomEnsemble(rng *rand.Rand, trees, depth, features int, values []float32) *treeEnsemble {
	te := &treeEnsemble{allLEQ: true, features: features, base: rng.Float32() - 0.5}
	var grow func(left int, full bool) int32
	grow = func(left int, full bool) int32 {
		i := int32(len(te.nodes))
		if left == 0 || (!full && rng.IntN(4) == 0) {
			te.nodes = append(te.nodes, treeNode{feature: -1, value: rng.Float32()*2 - 1})
			return i
		}
		te.nodes = append(te.nodes, treeNode{feature: int32(rng.IntN(features)), value: values[rng.IntN(len(values))]})
		yes := grow(left-1, full)
		no := grow(left-1, false)
		te.nodes[i].yes, te.nodes[i].no = yes, no
		return i
	}
	for t := range trees {
		te.roots = append(te.roots, grow(depth, t == 0))
	}
	te.modes = make([]uint8, len(te.nodes))
	return te
}

// BenchmarkTreeScore scores 4,096 different loan rows in turn, as a
// server meets them (a benchmark repeating one row lets the branch
// predictor learn its path): the branching walk against the padded trees.
func BenchmarkTreeScore(b *testing.B) {
	data, _ := gbtNode(b)
	te, err := nativeTrees(data, "probabilities", 1, 6)
	if err != nil {
		b.Fatal(err)
	}
	rows := randomLoanRows(b, 4096)
	for _, bc := range []struct {
		name  string
		score func([]float32) float32
	}{{"walk", te.scoreLEQ}, {"full", te.score}} {
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				bc.score(rows[i&4095])
				i++
			}
		})
	}
}
