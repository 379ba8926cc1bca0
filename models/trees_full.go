package models

import "unsafe"

// fullTrees is a BRANCH_LEQ ensemble with every tree padded to one depth,
// each a complete binary tree in breadth-first order: node p's children
// are 2p+1 (x <= t) and 2p+2, and a row's walk is depth steps whose next
// node is arithmetic on the comparison's result read as a byte (see
// step), with no jump to mispredict.
//
// Why: the branching walk (scoreLEQ) mispredicts about every other
// comparison when each row is new, as a server's are: loan_gbt's 240
// comparisons a row cost 1.0 µs of riskd's CPU per request under load,
// where a benchmark repeating a few rows, which the predictor learns,
// showed 320 ns. A leaf above the full depth becomes a split whose two
// subtrees end in copies of the leaf, so whatever the padded split
// compares (feature 0 against 0), the walk ends on the same weight. The
// sum is in tree order, as onnxruntime's and scoreLEQ's are, so the
// score is the same bit for bit (TestFullTreesMatchWalk).
type fullTrees struct {
	depth  int
	trees  int
	splits []fullSplit // 2^depth - 1 per tree
	leaves []float32   // 2^depth per tree
}

// fullSplit is one padded node: x[feature] <= value goes left.
type fullSplit struct {
	value   float32
	feature int32
}

// maxFullDepth bounds the padding: a tree of depth d takes 2^d leaves
// however few it has, so deeper ensembles keep the branching walk.
const maxFullDepth = 8

// padded returns te's trees padded to its deepest tree's depth, or nil
// when that is above maxFullDepth or the ensemble reads no feature (a
// padded split reads feature 0).
func (te *treeEnsemble) padded() *fullTrees {
	depth := 0
	for _, r := range te.roots {
		depth = max(depth, te.depth(r))
	}
	if depth > maxFullDepth || te.features == 0 {
		return nil
	}
	inner := 1<<depth - 1
	f := &fullTrees{depth: depth, trees: len(te.roots),
		splits: make([]fullSplit, inner*len(te.roots)), leaves: make([]float32, (inner+1)*len(te.roots))}
	for t, r := range te.roots {
		f.fill(te, t, r, 0, 0)
	}
	return f
}

// depth is the number of splits on the longest path from node i down.
func (te *treeEnsemble) depth(i int32) int {
	n := &te.nodes[i]
	if n.feature < 0 {
		return 0
	}
	return 1 + max(te.depth(n.yes), te.depth(n.no))
}

// fill places node i of te at position p (level d) of padded tree t.
func (f *fullTrees) fill(te *treeEnsemble, t int, i int32, p, d int) {
	inner := 1<<f.depth - 1
	n := &te.nodes[i]
	switch {
	case d == f.depth: // a leaf, at the full depth
		f.leaves[t*(inner+1)+p-inner] = n.value
	case n.feature < 0: // a leaf above it: both subtrees end in it
		f.fill(te, t, i, 2*p+1, d+1)
		f.fill(te, t, i, 2*p+2, d+1)
	default:
		f.splits[t*inner+p] = fullSplit{value: n.value, feature: n.feature}
		f.fill(te, t, n.yes, 2*p+1, d+1)
		f.fill(te, t, n.no, 2*p+2, d+1)
	}
}

// score sums the trees' leaf weights for row x, in tree order. It walks
// four trees at a time: each step of a walk waits on the last (the load,
// the comparison, the index), and four independent walks keep the core
// busy meanwhile.
func (f *fullTrees) score(x []float32) float32 {
	inner := 1<<f.depth - 1
	var s float32
	splits, leaves := f.splits, f.leaves
	t := 0
	for ; t+4 <= f.trees; t += 4 {
		t0, t1, t2, t3 := splits[:inner], splits[inner:2*inner], splits[2*inner:3*inner], splits[3*inner:4*inner]
		p0, p1, p2, p3 := 0, 0, 0, 0
		for range f.depth {
			p0 = step(t0, p0, x)
			p1 = step(t1, p1, x)
			p2 = step(t2, p2, x)
			p3 = step(t3, p3, x)
		}
		s += leaves[p0-inner]
		s += leaves[inner+1+p1-inner]
		s += leaves[2*(inner+1)+p2-inner]
		s += leaves[3*(inner+1)+p3-inner]
		splits, leaves = splits[4*inner:], leaves[4*(inner+1):]
	}
	for ; t < f.trees; t++ {
		tree, p := splits[:inner], 0
		for range f.depth {
			p = step(tree, p, x)
		}
		s += leaves[p-inner]
		splits, leaves = splits[inner:], leaves[inner+1:]
	}
	return s
}

// step moves from node p of tree to the child row x goes to. The
// comparison is read as a byte (SETCC) rather than branched on: Go
// compiles an if on a float comparison to a jump, never to a
// conditional move.
func step(tree []fullSplit, p int, x []float32) int {
	n := tree[p]
	left := x[n.feature] <= n.value // false for NaN, as the walk's
	return 2*p + 2 - int(*(*uint8)(unsafe.Pointer(&left)))
}
