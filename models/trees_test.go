package models

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// gbtNode decodes loan_gbt.onnx's one node, and returns the file too.
func gbtNode(t testing.TB) ([]byte, onnxNode) {
	t.Helper()
	data, err := os.ReadFile("../examples/models/loan_gbt.onnx")
	if err != nil {
		t.Fatal(err)
	}
	nodes, inputs, err := decodeGraph(data)
	if err != nil || len(nodes) != 1 || len(inputs) != 1 {
		t.Fatalf("decodeGraph: %d nodes, inputs %v, %v", len(nodes), inputs, err)
	}
	return data, nodes[0]
}

// cloneAttrs deep-copies a node's attributes.
func cloneAttrs(in map[string]*onnxAttr) map[string]*onnxAttr {
	out := make(map[string]*onnxAttr, len(in))
	for k, a := range in {
		c := *a
		c.floats, c.ints, c.strings = slices.Clone(a.floats), slices.Clone(a.ints), slices.Clone(a.strings)
		out[k] = &c
	}
	return out
}

// Every shape the native form refuses, each with the reason it gives; the
// untouched attributes are accepted.
func TestNativeTreesRefusals(t *testing.T) {
	_, node := gbtNode(t)
	firstBranch := func(a map[string]*onnxAttr) int {
		return slices.Index(a["nodes_modes"].strings, "BRANCH_LEQ")
	}
	cases := []struct {
		name, want string
		edit       func(a map[string]*onnxAttr)
	}{
		{"as given", "", func(map[string]*onnxAttr) {}},
		{"missing-value tracks", "attribute nodes_missing_value_tracks_true", func(a map[string]*onnxAttr) {
			a["nodes_missing_value_tracks_true"] = &onnxAttr{ints: []int64{1}}
		}},
		{"tensor base values", "attribute base_values_as_tensor", func(a map[string]*onnxAttr) {
			a["base_values_as_tensor"] = &onnxAttr{tensor: true}
		}},
		{"string labels", "attribute classlabels_strings", func(a map[string]*onnxAttr) {
			a["classlabels_strings"] = &onnxAttr{strings: []string{"a", "b"}}
		}},
		{"three classes", "3 int64 class labels", func(a map[string]*onnxAttr) {
			a["classlabels_int64s"].ints = []int64{0, 1, 2}
		}},
		{"no transform", `post_transform "NONE"`, func(a map[string]*onnxAttr) { a["post_transform"].s = "NONE" }},
		{"softmax", `post_transform "SOFTMAX"`, func(a map[string]*onnxAttr) { a["post_transform"].s = "SOFTMAX" }},
		{"two base values", "2 base values", func(a map[string]*onnxAttr) { a["base_values"].floats = []float32{0, 0} }},
		{"class 1 weight", "class 1", func(a map[string]*onnxAttr) { a["class_ids"].ints[3] = 1 }},
		{"all weights positive", "no negative leaf weight", func(a map[string]*onnxAttr) {
			for i, w := range a["class_weights"].floats {
				a["class_weights"].floats[i] = float32(math.Abs(float64(w)))
			}
		}},
		{"weights positive or zero", "no negative leaf weight", func(a map[string]*onnxAttr) {
			for i, w := range a["class_weights"].floats {
				a["class_weights"].floats[i] = float32(math.Abs(float64(w)))
			}
			a["class_weights"].floats[0] = 0
		}},
		{"class lengths", "different lengths", func(a map[string]*onnxAttr) { a["class_ids"].ints = a["class_ids"].ints[1:] }},
		{"two weights on a leaf", "more than one weight", func(a map[string]*onnxAttr) {
			a["class_nodeids"].ints[1] = a["class_nodeids"].ints[0]
		}},
		{"member mode", `mode "BRANCH_MEMBER"`, func(a map[string]*onnxAttr) { a["nodes_modes"].strings[0] = "BRANCH_MEMBER" }},
		{"node lengths", "different lengths", func(a map[string]*onnxAttr) { a["nodes_values"].floats = a["nodes_values"].floats[1:] }},
		{"feature out of range", "reads feature 6 of 6", func(a map[string]*onnxAttr) { a["nodes_featureids"].ints[0] = 6 }},
		{"child before parent", "children must be later", func(a map[string]*onnxAttr) {
			i := firstBranch(a)
			a["nodes_truenodeids"].ints[i+1] = 0 // node 1 of tree 0 points back to its root
			a["nodes_modes"].strings[i+1] = "BRANCH_LEQ"
		}},
		{"child past the tree", "children must be later", func(a map[string]*onnxAttr) { a["nodes_falsenodeids"].ints[0] = 1000 }},
		{"child past the last node", "children must be later", func(a map[string]*onnxAttr) {
			i := slices.Index(a["nodes_treeids"].ints, 1) // node 0 of tree 1, a branch
			a["nodes_falsenodeids"].ints[i] = int64(len(a["nodes_treeids"].ints) - i)
		}},
		{"true child past the last node", "children must be later", func(a map[string]*onnxAttr) {
			i := slices.Index(a["nodes_treeids"].ints, 1)
			a["nodes_truenodeids"].ints[i] = int64(len(a["nodes_treeids"].ints) - i)
		}},
		{"true child is the node", "children must be later", func(a map[string]*onnxAttr) {
			a["nodes_truenodeids"].ints[firstBranch(a)] = 0
		}},
		{"false child is the node", "children must be later", func(a map[string]*onnxAttr) {
			a["nodes_falsenodeids"].ints[firstBranch(a)] = 0
		}},
		{"tree ids descending", "ascending", func(a map[string]*onnxAttr) {
			ids := a["nodes_treeids"].ints
			k := slices.Index(ids, 1)
			for i := k; i < len(ids) && ids[i] == 1; i++ {
				ids[i] = -1
			}
		}},
		{"node ids out of order", "numbered 0, 1", func(a map[string]*onnxAttr) { a["nodes_nodeids"].ints[1] = 5 }},
		{"weight on a branch", "weights must be on leaves", func(a map[string]*onnxAttr) {
			a["nodes_modes"].strings[slices.Index(a["nodes_modes"].strings, "LEAF")] = "BRANCH_LEQ"
		}},
		{"leaf without a weight", "weights must be on leaves", func(a map[string]*onnxAttr) {
			a["nodes_modes"].strings[firstBranch(a)] = "LEAF"
		}},
		{"weight for no node", "not leaves of the trees", func(a map[string]*onnxAttr) {
			a["class_treeids"].ints = append(a["class_treeids"].ints, 0)
			a["class_nodeids"].ints = append(a["class_nodeids"].ints, 99)
			a["class_ids"].ints = append(a["class_ids"].ints, 0)
			a["class_weights"].floats = append(a["class_weights"].floats, 0.1)
		}},
		{"no nodes", "missing", func(a map[string]*onnxAttr) { delete(a, "nodes_treeids") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			attrs := cloneAttrs(node.attrs)
			c.edit(attrs)
			te, err := buildTrees(attrs, 1, 6)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want == "" && (len(te.roots) != 80 || !te.allLEQ):
				t.Fatalf("%d trees (want 80), all BRANCH_LEQ %v (want the fast walk)", len(te.roots), te.allLEQ)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

// Graphs other than one TreeEnsembleClassifier, and declarations that do
// not read its probabilities, run on onnxruntime, and Info says why.
func TestNativeTreesOtherGraphs(t *testing.T) {
	prog := compile(t, testPolicy(
		modelDecl("zipmap", "../../examples/models/loan_gbt_zipmap.onnx", loanInputs, "output_probability", 1, ""),
		modelDecl("logreg", "../../examples/models/loan_logreg.onnx", loanInputs, "probabilities", 1, ""),
		modelDecl("sum", "sum.onnx", "x, y, z", "sum", 0, ""),
	))
	want := []string{"2 nodes, not one TreeEnsembleClassifier", "7 nodes, not one TreeEnsembleClassifier", "not one TreeEnsembleClassifier"}
	for i, info := range load(t, prog, Options{}).Info() {
		if info.Engine != EngineONNXRuntime || !strings.Contains(info.EngineReason, want[i]) {
			t.Errorf("%s: engine %s (%s), want onnxruntime because %q", info.Name, info.Engine, info.EngineReason, want[i])
		}
	}
	data, _ := gbtNode(t)
	for _, c := range []struct {
		output string
		index  int
		want   string
	}{{"label", 0, "not the trees' probability tensor"}, {"probabilities", 2, "index 2"}} {
		if _, err := nativeTrees(data, c.output, c.index, 6); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("output %s[%d]: %v, want %q", c.output, c.index, err, c.want)
		}
	}
}

// A native form that disagrees with onnxruntime on a probe row is not used.
func TestNativeTreesMismatchRefused(t *testing.T) {
	_, ort := loadGBT(t)
	m := ort.models[0]
	data, _ := gbtNode(t)
	te, err := nativeTrees(data, "probabilities", 1, 6)
	if err != nil {
		t.Fatal(err)
	}
	if err := te.matches(m); err != nil {
		t.Fatalf("the true form: %v", err)
	}
	te.nodes[te.roots[7]].value = math.Nextafter32(te.nodes[te.roots[7]].value, 0) // one threshold one step lower
	te.full = te.padded()                                                          // the walk scores use
	if err := te.matches(m); err == nil || !strings.Contains(err.Error(), "against onnxruntime's") {
		t.Fatalf("a moved threshold: %v, want a probe row that differs", err)
	}
}

// encodeTrees writes model with its one node's attributes replaced.
func encodeTrees(t testing.TB, model []byte, attrs map[string]*onnxAttr) []byte {
	t.Helper()
	var node []byte
	rewrite := func(b []byte, keep func(protowire.Number) bool, extra func([]byte) []byte) []byte {
		var out []byte
		if !fields(b, func(num protowire.Number, _ protowire.Type, _, raw []byte) bool {
			if keep(num) {
				out = append(out, raw...)
			}
			return true
		}) {
			t.Fatal("malformed model")
		}
		return extra(out)
	}
	graph, _ := graphOf(model)
	fields(graph, func(num protowire.Number, typ protowire.Type, v, _ []byte) bool {
		if num == graphNode {
			node = v
		}
		return true
	})
	node = rewrite(node, func(n protowire.Number) bool { return n != nodeAttribute }, func(b []byte) []byte {
		names := make([]string, 0, len(attrs))
		for k := range attrs {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, name := range names {
			b = protowire.AppendTag(b, nodeAttribute, protowire.BytesType)
			b = protowire.AppendBytes(b, encodeAttr(name, attrs[name]))
		}
		return b
	})
	graph = rewrite(graph, func(n protowire.Number) bool { return n != graphNode }, func(b []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, graphNode, protowire.BytesType), node)
	})
	return rewrite(model, func(n protowire.Number) bool { return n != modelGraph }, func(b []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, modelGraph, protowire.BytesType), graph)
	})
}

// encodeAttr encodes one AttributeProto of the kinds tree ensembles use.
func encodeAttr(name string, a *onnxAttr) []byte {
	const attrType = 20 // AttributeProto.type: FLOATS 6, INTS 7, STRING 3, STRINGS 8
	b := protowire.AppendString(protowire.AppendTag(nil, attrName, protowire.BytesType), name)
	switch {
	case a.floats != nil:
		var packed []byte
		for _, f := range a.floats {
			packed = protowire.AppendFixed32(packed, math.Float32bits(f))
		}
		b = protowire.AppendBytes(protowire.AppendTag(b, attrFloats, protowire.BytesType), packed)
		b = protowire.AppendVarint(protowire.AppendTag(b, attrType, protowire.VarintType), 6)
	case a.ints != nil:
		var packed []byte
		for _, i := range a.ints {
			packed = protowire.AppendVarint(packed, uint64(i))
		}
		b = protowire.AppendBytes(protowire.AppendTag(b, attrInts, protowire.BytesType), packed)
		b = protowire.AppendVarint(protowire.AppendTag(b, attrType, protowire.VarintType), 7)
	case a.strings != nil:
		for _, s := range a.strings {
			b = protowire.AppendString(protowire.AppendTag(b, attrStrings, protowire.BytesType), s)
		}
		b = protowire.AppendVarint(protowire.AppendTag(b, attrType, protowire.VarintType), 8)
	default:
		b = protowire.AppendString(protowire.AppendTag(b, attrS, protowire.BytesType), a.s)
		b = protowire.AppendVarint(protowire.AppendTag(b, attrType, protowire.VarintType), 3)
	}
	return b
}

// The six branch modes, no base value and the class-0 column, against
// onnxruntime bit for bit: loan_gbt's trees with every branch given a
// random mode (and, for EQ and NEQ, thresholds on values the rows hit).
func TestNativeTreesAllModes(t *testing.T) {
	data, node := gbtNode(t)
	rng := rand.New(rand.NewPCG(3, 4))
	modes := []string{"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"}
	dir := t.TempDir()
	for variant, noBase := range []bool{false, true} {
		attrs := cloneAttrs(node.attrs)
		for i, m := range attrs["nodes_modes"].strings {
			if m != "LEAF" {
				attrs["nodes_modes"].strings[i] = modes[rng.IntN(len(modes))]
			}
		}
		if noBase {
			delete(attrs, "base_values")
		}
		file := filepath.Join(dir, []string{"modes.onnx", "modes_nobase.onnx"}[variant])
		if err := os.WriteFile(file, encodeTrees(t, data, attrs), 0o644); err != nil {
			t.Fatal(err)
		}
		prog := compile(t, testPolicy(
			modelDecl("p1", file, loanInputs, "probabilities", 1, ""),
			modelDecl("p0", file, loanInputs, "probabilities", 0, ""),
		))
		native, ort := load(t, prog, Options{}), load(t, prog, Options{ONNXRuntimeOnly: true})
		for i, info := range native.Info() {
			if info.Engine != EngineNative || native.models[i].native.allLEQ {
				t.Fatalf("%s: %s (%s), fast BRANCH_LEQ walk %v", file, info.Engine, info.EngineReason, native.models[i].native.allLEQ)
			}
		}
		rows := randomLoanRows(t, 20000)
		for mi := range 2 {
			want, got := make([]float64, len(rows)), make([]float64, len(rows))
			if err := ort.PredictBatch(mi, rows, want); err != nil {
				t.Fatal(err)
			}
			if err := native.PredictBatch(mi, rows, got); err != nil {
				t.Fatal(err)
			}
			for j := range rows {
				if math.Float64bits(got[j]) != math.Float64bits(want[j]) {
					t.Fatalf("%s model %d row %v: native %v, onnxruntime %v", file, mi, rows[j], got[j], want[j])
				}
			}
		}
	}
}

// A native call allocates nothing.
func TestNativePredictAllocs(t *testing.T) {
	native, _ := loadGBT(t)
	rows := randomLoanRows(t, 64)
	i := 0
	if allocs := testing.AllocsPerRun(1000, func() {
		if _, err := native.Predict(0, rows[i%len(rows)]); err != nil {
			t.Fatal(err)
		}
		i++
	}); allocs != 0 {
		t.Errorf("%.2f allocations per native call, want 0", allocs)
	}
}

// FuzzNativeTrees: any bytes give a native form or an error, never a
// panic, and an accepted form evaluates any row to a value in [0, 1]
// (every walk ends: children come after their parents).
func FuzzNativeTrees(f *testing.F) {
	data, err := os.ReadFile("../examples/models/loan_gbt.onnx")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	for _, name := range []string{"loan_logreg.onnx", "loan_gbt_zipmap.onnx"} {
		if d, err := os.ReadFile("../examples/models/" + name); err == nil {
			f.Add(d)
		}
	}
	f.Fuzz(func(t *testing.T, model []byte) {
		te, err := nativeTrees(model, "probabilities", 1, 6)
		if err != nil {
			return
		}
		for _, row := range [][]float32{make([]float32, 6), {1e9, -1, 3, float32(math.NaN()), 0.5, 120}} {
			if p := te.predict(row); !(p >= 0 && p <= 1) {
				t.Fatalf("row %v: %v", row, p)
			}
		}
	})
}

// The probe rows: the first all zeros; every threshold of every feature,
// and the float32 just below and just above it, appears in some row; the
// other values lie between the lowest and highest of those.
func TestProbesCoverThresholds(t *testing.T) {
	data, _ := gbtNode(t)
	te, err := nativeTrees(data, "probabilities", 1, 6)
	if err != nil {
		t.Fatal(err)
	}
	cuts := make([]map[float32]bool, te.features)
	for f := range cuts {
		cuts[f] = map[float32]bool{}
	}
	for _, n := range te.nodes {
		if n.feature >= 0 {
			for _, x := range []float32{n.value, math.Nextafter32(n.value, float32(math.Inf(-1))), math.Nextafter32(n.value, float32(math.Inf(1)))} {
				cuts[n.feature][x] = true
			}
		}
	}
	covering := 0 // rows going through the distinct thresholds and neighbours of the feature with most
	for _, c := range cuts {
		covering = max(covering, len(c))
	}
	for _, n := range []int{10, probeRows} {
		if got, want := len(te.probes(n)), max(n, 1+covering+n/2); got != want {
			t.Errorf("probes(%d): %d rows, want %d (zeros, %d covering, %d mixed)", n, got, want, covering, n/2)
		}
	}
	rows := te.probes(probeRows)
	if slices.ContainsFunc(rows[0], func(x float32) bool { return x != 0 }) {
		t.Fatalf("first row %v", rows[0])
	}
	seen, all := make([]map[float32]bool, te.features), make([]map[float32]bool, te.features)
	for f := range seen {
		seen[f], all[f] = map[float32]bool{}, map[float32]bool{}
	}
	for j, row := range rows[1:] {
		for f, x := range row {
			all[f][x] = true
			if j < covering {
				seen[f][x] = true
			}
		}
	}
	lo, hi := make([]float32, te.features), make([]float32, te.features)
	for f := range lo {
		lo[f], hi[f] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	for _, n := range te.nodes {
		if n.feature < 0 {
			continue
		}
		f, v := n.feature, n.value
		below, above := math.Nextafter32(v, float32(math.Inf(-1))), math.Nextafter32(v, float32(math.Inf(1)))
		for _, x := range []float32{v, below, above} {
			if !seen[f][x] {
				t.Errorf("feature %d: no probe at %v (threshold %v)", f, x, v)
			}
		}
		lo[f], hi[f] = min(lo[f], below), max(hi[f], above)
	}
	for f := range all {
		between := 0
		for x := range all[f] {
			if x < lo[f] || x > hi[f] {
				t.Errorf("feature %d: probe %v outside the thresholds [%v, %v]", f, x, lo[f], hi[f])
			}
			if x > lo[f] && x < hi[f] {
				between++
			}
		}
		if between < 100 {
			t.Errorf("feature %d: %d distinct values between thresholds", f, between)
		}
	}
}

// A model whose native form fails the load-time check runs on onnxruntime,
// with the reason in Info, and gives onnxruntime's values.
func TestNativeCheckFailsFallsBack(t *testing.T) {
	defer func(f func(*treeEnsemble, *model) error) { checkNative = f }(checkNative)
	checkNative = func(*treeEnsemble, *model) error {
		return errors.New("probe row [0 0 0 0 0 0]: 1 against onnxruntime's 2")
	}
	r, ort := loadGBT(t)
	info := r.Info()[0]
	if info.Engine != EngineONNXRuntime || info.EngineReason != "native trees differ from onnxruntime: probe row [0 0 0 0 0 0]: 1 against onnxruntime's 2" || info.Sessions == 0 {
		t.Fatalf("engine %s (%s), %d sessions", info.Engine, info.EngineReason, info.Sessions)
	}
	row := []float32{5000, 24, 2800, 150, 0, 41}
	got, err := r.Predict(0, row)
	want, _ := ort.Predict(0, row)
	if err != nil || got != want {
		t.Errorf("Predict: %v, %v; onnxruntime alone %v", got, err, want)
	}
}

// An ensemble with more thresholds than maxCovering on one feature gets
// maxCovering covering rows, not one per threshold.
func TestProbesBounded(t *testing.T) {
	const branches = maxCovering/3 + 10 // over maxCovering cuts, with neighbours
	te := &treeEnsemble{features: 1, nodes: make([]treeNode, 0, 2*branches)}
	for i := range branches {
		te.nodes = append(te.nodes, treeNode{feature: 0, value: float32(i) * 4}, treeNode{feature: -1})
	}
	if got, want := len(te.probes(10)), 1+maxCovering+5; got != want {
		t.Errorf("%d probe rows, want %d", got, want)
	}
}
