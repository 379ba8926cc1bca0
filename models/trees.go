package models

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Native tree ensembles. A gradient-boosted model exported as one
// ai.onnx.ml TreeEnsembleClassifier costs a few hundred nanoseconds to
// evaluate in Go, against about 3.5 µs of fixed cost per onnxruntime Run
// (and the wait of a coalesced call). The registry therefore evaluates
// such graphs itself when it can reproduce onnxruntime's result bit for
// bit: the same float32 comparisons, the leaf weights summed in float32
// in tree order, the base value added last, and onnxruntime's logistic
// 1/(1+expf(-|s|)) with the C library's expf, which onnxruntime calls too.
// Anything outside that well-understood shape is refused with a reason and
// served by onnxruntime as before; what is accepted is also checked
// against onnxruntime on probe rows at load (native.go).

// onnxNode is one decoded NodeProto.
type onnxNode struct {
	op, domain string
	inputs     []string
	outputs    []string
	attrs      map[string]*onnxAttr
}

// onnxAttr is one decoded AttributeProto (the kinds trees use).
type onnxAttr struct {
	f       float32
	i       int64
	s       string
	floats  []float32
	ints    []int64
	strings []string
	tensor  bool // a tensor-valued attribute (the *_as_tensor forms)
}

// decodeGraph returns the nodes and the input names of a model's graph.
func decodeGraph(model []byte) (nodes []onnxNode, inputs []string, err error) {
	graph, ok := graphOf(model)
	if !ok {
		return nil, nil, fmt.Errorf("no graph in the model")
	}
	ok = fields(graph, func(num protowire.Number, typ protowire.Type, v, _ []byte) bool {
		if typ != protowire.BytesType {
			return true
		}
		switch num {
		case graphNode:
			n, ok := decodeNode(v)
			nodes = append(nodes, n)
			return ok
		case graphInput:
			return fields(v, func(num protowire.Number, typ protowire.Type, v, _ []byte) bool {
				if num == valueInfoName && typ == protowire.BytesType {
					inputs = append(inputs, string(v))
				}
				return true
			})
		}
		return true
	})
	if !ok {
		return nil, nil, fmt.Errorf("malformed graph")
	}
	return nodes, inputs, nil
}

func decodeNode(b []byte) (onnxNode, bool) {
	n := onnxNode{attrs: map[string]*onnxAttr{}}
	ok := fields(b, func(num protowire.Number, typ protowire.Type, v, _ []byte) bool {
		if typ != protowire.BytesType {
			return true
		}
		switch num {
		case nodeInput:
			n.inputs = append(n.inputs, string(v))
		case nodeOutput:
			n.outputs = append(n.outputs, string(v))
		case nodeOpType:
			n.op = string(v)
		case nodeDomain:
			n.domain = string(v)
		case nodeAttribute:
			name, a, ok := decodeAttr(v)
			if !ok {
				return false
			}
			n.attrs[name] = a
		}
		return true
	})
	return n, ok
}

func decodeAttr(b []byte) (string, *onnxAttr, bool) {
	var name string
	a := &onnxAttr{}
	ok := fields(b, func(num protowire.Number, typ protowire.Type, v, raw []byte) bool {
		_, _, tagLen := protowire.ConsumeTag(raw)
		val := raw[tagLen:]
		switch {
		case num == attrName && typ == protowire.BytesType:
			name = string(v)
		case num == attrS && typ == protowire.BytesType:
			a.s = string(v)
		case num == attrT:
			a.tensor = true
		case num == attrF && typ == protowire.Fixed32Type:
			x, _ := protowire.ConsumeFixed32(val)
			a.f = math.Float32frombits(x)
		case num == attrI && typ == protowire.VarintType:
			x, _ := protowire.ConsumeVarint(val)
			a.i = int64(x)
		case num == attrFloats && typ == protowire.Fixed32Type:
			x, _ := protowire.ConsumeFixed32(val)
			a.floats = append(a.floats, math.Float32frombits(x))
		case num == attrFloats && typ == protowire.BytesType: // packed
			if len(v)%4 != 0 {
				return false
			}
			for ; len(v) > 0; v = v[4:] {
				x, _ := protowire.ConsumeFixed32(v)
				a.floats = append(a.floats, math.Float32frombits(x))
			}
		case num == attrInts && typ == protowire.VarintType:
			x, _ := protowire.ConsumeVarint(val)
			a.ints = append(a.ints, int64(x))
		case num == attrInts && typ == protowire.BytesType: // packed
			for len(v) > 0 {
				x, n := protowire.ConsumeVarint(v)
				if n < 0 {
					return false
				}
				a.ints = append(a.ints, int64(x))
				v = v[n:]
			}
		case num == attrStrings && typ == protowire.BytesType:
			a.strings = append(a.strings, string(v))
		}
		return true
	})
	return name, a, ok
}

// Branch modes of a tree node, as onnxruntime compares x (the feature)
// with t (the threshold), both float32.
const (
	modeLeaf uint8 = iota
	modeLEQ        // x <= t
	modeLT         // x < t
	modeGTE        // x >= t
	modeGT         // x > t
	modeEQ         // x == t
	modeNEQ        // x != t
)

var modeNames = map[string]uint8{
	"LEAF": modeLeaf, "BRANCH_LEQ": modeLEQ, "BRANCH_LT": modeLT, "BRANCH_GTE": modeGTE,
	"BRANCH_GT": modeGT, "BRANCH_EQ": modeEQ, "BRANCH_NEQ": modeNEQ,
}

// treeNode is one node, in a flat array of 16-byte nodes: a branch reads
// feature and goes to yes or no (array indexes, always after the node
// itself, so every walk ends); a leaf has feature -1 and holds its weight
// in value. Branch modes are in treeEnsemble.modes, read only when the
// ensemble mixes modes.
type treeNode struct {
	value   float32 // threshold, or the leaf's weight
	feature int32   // -1: a leaf
	yes, no int32
}

// treeEnsemble is a binary TreeEnsembleClassifier onnxruntime evaluates as
// score = (w_tree0 + w_tree1 + ...) + base in float32, then
// P(class 1) = logistic(score), P(class 0) = logistic(-score).
type treeEnsemble struct {
	nodes    []treeNode
	modes    []uint8    // per node
	roots    []int32    // in summation order
	allLEQ   bool       // every branch is BRANCH_LEQ (sklearn's): the fast walk
	full     *fullTrees // the same trees padded to one depth (nil: too deep)
	base     float32
	negate   bool // the output column is class 0: logistic(-score)
	features int
}

// treeAttrs lists the attributes the native form understands; any other
// attribute (the *_as_tensor forms, classlabels_strings, missing-value
// tracks, hit rates aside) makes it refuse the graph.
var treeAttrs = map[string]bool{
	"nodes_treeids": true, "nodes_nodeids": true, "nodes_featureids": true, "nodes_values": true,
	"nodes_modes": true, "nodes_truenodeids": true, "nodes_falsenodeids": true, "nodes_hitrates": true,
	"class_treeids": true, "class_nodeids": true, "class_ids": true, "class_weights": true,
	"classlabels_int64s": true, "post_transform": true, "base_values": true,
}

// nativeTrees returns the native form of model when its graph is one
// TreeEnsembleClassifier reading the graph's input whose declared output
// is its probability tensor, or why not.
func nativeTrees(model []byte, output string, index, features int) (*treeEnsemble, error) {
	nodes, inputs, err := decodeGraph(model)
	if err != nil {
		return nil, err
	}
	if len(nodes) != 1 {
		return nil, fmt.Errorf("the graph has %d nodes, not one TreeEnsembleClassifier", len(nodes))
	}
	n := &nodes[0]
	if n.op != "TreeEnsembleClassifier" || n.domain != "ai.onnx.ml" {
		return nil, fmt.Errorf("the graph's node is %s, not an ai.onnx.ml TreeEnsembleClassifier", n.op)
	}
	if len(n.inputs) != 1 || len(inputs) != 1 || n.inputs[0] != inputs[0] {
		return nil, fmt.Errorf("the trees do not read the graph's one input")
	}
	if len(n.outputs) != 2 || n.outputs[1] != output {
		return nil, fmt.Errorf("the declared output %q is not the trees' probability tensor", output)
	}
	if index != 0 && index != 1 {
		return nil, fmt.Errorf("index %d of a two-class probability tensor", index)
	}
	return buildTrees(n.attrs, index, features)
}

// buildTrees checks the attributes of a TreeEnsembleClassifier and lays
// its trees out flat.
func buildTrees(attrs map[string]*onnxAttr, index, features int) (*treeEnsemble, error) {
	for name, a := range attrs {
		if !treeAttrs[name] || a.tensor {
			return nil, fmt.Errorf("attribute %s is not supported", name)
		}
	}
	get := func(name string) *onnxAttr {
		if a := attrs[name]; a != nil {
			return a
		}
		return &onnxAttr{}
	}
	if l := get("classlabels_int64s").ints; len(l) != 2 {
		return nil, fmt.Errorf("%d int64 class labels, not two", len(l))
	}
	if pt := get("post_transform").s; pt != "LOGISTIC" {
		return nil, fmt.Errorf("post_transform %q, not LOGISTIC", pt)
	}
	te := &treeEnsemble{negate: index == 0, features: features}
	switch base := get("base_values").floats; len(base) {
	case 0:
	case 1:
		te.base = base[0]
	default:
		return nil, fmt.Errorf("%d base values, not one", len(base))
	}
	weights, err := leafWeights(get("class_treeids").ints, get("class_nodeids").ints, get("class_ids").ints, get("class_weights").floats)
	if err != nil {
		return nil, err
	}
	if err := te.layout(get, weights); err != nil {
		return nil, err
	}
	return te, nil
}

// leafWeights maps (tree, node) to the one class-0 weight of each leaf. It
// insists on at least one negative weight: with all weights positive
// onnxruntime reads the sum as a probability, without the logistic.
func leafWeights(trees, nodes, classes []int64, weights []float32) (map[[2]int64]float32, error) {
	if len(nodes) != len(trees) || len(classes) != len(trees) || len(weights) != len(trees) {
		return nil, fmt.Errorf("class_* attributes of different lengths")
	}
	out := make(map[[2]int64]float32, len(trees))
	negative := false
	for i := range trees {
		if classes[i] != 0 {
			return nil, fmt.Errorf("a weight for class %d: only one score (class 0) is supported", classes[i])
		}
		k := [2]int64{trees[i], nodes[i]}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("tree %d node %d has more than one weight", k[0], k[1])
		}
		out[k] = weights[i]
		negative = negative || weights[i] < 0
	}
	if !negative {
		return nil, fmt.Errorf("no negative leaf weight (onnxruntime reads such sums without the logistic)")
	}
	return out, nil
}

// layout places the nodes flat, requiring what exporters (sklearn,
// LightGBM, XGBoost converters) write: trees in ascending id order, each
// tree's nodes numbered 0, 1, ... in order, node 0 its root, children
// after their parent, a weight on every leaf and on no branch.
func (te *treeEnsemble) layout(get func(string) *onnxAttr, weights map[[2]int64]float32) error {
	treeIDs, nodeIDs := get("nodes_treeids").ints, get("nodes_nodeids").ints
	feats, values, modes := get("nodes_featureids").ints, get("nodes_values").floats, get("nodes_modes").strings
	yes, no := get("nodes_truenodeids").ints, get("nodes_falsenodeids").ints
	n := len(treeIDs)
	if n == 0 || len(nodeIDs) != n || len(feats) != n || len(values) != n || len(modes) != n || len(yes) != n || len(no) != n {
		return fmt.Errorf("nodes_* attributes missing or of different lengths")
	}
	te.nodes, te.modes = make([]treeNode, n), make([]uint8, n)
	start := 0 // index of the current tree's node 0
	for i := range n {
		if i == 0 || treeIDs[i] != treeIDs[i-1] {
			if i > 0 && treeIDs[i] < treeIDs[i-1] {
				return fmt.Errorf("tree ids not in ascending order at node %d", i)
			}
			start = i
			te.roots = append(te.roots, int32(i))
		}
		if nodeIDs[i] != int64(i-start) {
			return fmt.Errorf("tree %d: node ids not numbered 0, 1, ... in order", treeIDs[i])
		}
		mode, ok := modeNames[modes[i]]
		if !ok {
			return fmt.Errorf("node mode %q is not supported", modes[i])
		}
		w, hasWeight := weights[[2]int64{treeIDs[i], nodeIDs[i]}]
		if hasWeight != (mode == modeLeaf) {
			return fmt.Errorf("tree %d node %d: weights must be on leaves, one each", treeIDs[i], nodeIDs[i])
		}
		node := treeNode{feature: -1, value: w}
		if mode != modeLeaf {
			if feats[i] < 0 || feats[i] >= int64(te.features) {
				return fmt.Errorf("tree %d node %d reads feature %d of %d", treeIDs[i], nodeIDs[i], feats[i], te.features)
			}
			size := int64(n - start) // nodes from this tree's start to the end
			if yes[i] <= nodeIDs[i] || no[i] <= nodeIDs[i] || yes[i] >= size || no[i] >= size ||
				treeIDs[start+int(yes[i])] != treeIDs[i] || treeIDs[start+int(no[i])] != treeIDs[i] {
				return fmt.Errorf("tree %d node %d: children must be later nodes of the same tree", treeIDs[i], nodeIDs[i])
			}
			node.feature, node.value = int32(feats[i]), values[i]
			node.yes, node.no = int32(start+int(yes[i])), int32(start+int(no[i]))
		}
		te.nodes[i], te.modes[i] = node, mode
	}
	leaves := 0
	te.allLEQ = true
	for _, mode := range te.modes {
		if mode == modeLeaf {
			leaves++
		}
		te.allLEQ = te.allLEQ && (mode == modeLeaf || mode == modeLEQ)
	}
	if len(weights) != leaves {
		return fmt.Errorf("weights for nodes that are not leaves of the trees")
	}
	if te.allLEQ {
		te.full = te.padded()
	}
	return nil
}

// score sums the trees' leaf weights for one row, in float32 and in tree
// order, then adds the base value, as onnxruntime does.
func (te *treeEnsemble) score(x []float32) float32 {
	if te.full != nil {
		return te.full.score(x) + te.base
	}
	if te.allLEQ {
		return te.scoreLEQ(x)
	}
	var s float32
	for _, r := range te.roots {
		i := r
		for {
			n := &te.nodes[i]
			if n.feature < 0 {
				s += n.value
				break
			}
			if branch(te.modes[i], x[n.feature], n.value) {
				i = n.yes
			} else {
				i = n.no
			}
		}
	}
	return s + te.base
}

// scoreLEQ is score for trees whose branches are all x <= t, without the
// per-node mode switch. (Go compiles the child choice to a jump; a
// branch-free form that indexed the children by the comparison's outcome,
// four trees at a time, measured slower on loan_gbt: 420 against 320 ns.)
func (te *treeEnsemble) scoreLEQ(x []float32) float32 {
	var s float32
	nodes := te.nodes
	for _, r := range te.roots {
		n := &nodes[r]
		for n.feature >= 0 {
			next := n.no
			if x[n.feature] <= n.value {
				next = n.yes
			}
			n = &nodes[next]
		}
		s += n.value
	}
	return s + te.base
}

func branch(mode uint8, x, t float32) bool {
	switch mode {
	case modeLEQ:
		return x <= t
	case modeLT:
		return x < t
	case modeGTE:
		return x >= t
	case modeGT:
		return x > t
	case modeEQ:
		return x == t
	default: // modeNEQ
		return x != t
	}
}

// predict returns the declared probability for one row.
func (te *treeEnsemble) predict(x []float32) float32 {
	s := te.score(x)
	if te.negate {
		s = -s
	}
	return logistic(s)
}
