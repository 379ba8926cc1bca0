package models

// #cgo LDFLAGS: -lm
// #include <math.h>
import "C"

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Engines a model runs on (ModelInfo.Engine).
const (
	EngineONNXRuntime = "onnxruntime"
	EngineNative      = "native-trees"
)

// maxCovering bounds the probe rows that go through every threshold: 2^18
// rows of a few floats each, a fraction of a second of onnxruntime.
const maxCovering = 1 << 18

// probeRows is how many rows Load runs through both onnxruntime and the
// native form before it trusts the native form (more when the trees have
// more thresholds on one feature: see probes).
const probeRows = 2048

// expf is the C library's expf, the function onnxruntime's logistic calls
// (libonnxruntime.so imports expf@GLIBC_2.27). float32(math.Exp(x)) is
// another function: glibc's expf is not correctly rounded (its stated
// error is 0.502 ulp, and the library picks an FMA or a plain variant by
// CPU), so the two may differ in the last bit for some inputs; on the
// 60,000 rows of TestNativeTreesMatchONNXRuntime, both columns, they did
// not. Calling the same function leaves no such question.
func expf(x float32) float32 { return float32(C.expf(C.float(x))) }

// logistic is onnxruntime's ComputeLogistic, in float32.
func logistic(s float32) float32 {
	v := 1 / (1 + expf(-float32(math.Abs(float64(s)))))
	if s < 0 {
		return 1 - v
	}
	return v
}

// useNative gives m the native form of its graph when it has one that
// matches onnxruntime on every probe row; otherwise it records why not.
// m.dyn must be open.
func (m *model) useNative(data []byte, index int) {
	m.info.Engine = EngineONNXRuntime
	if m.sel.kind != outFloat {
		m.info.EngineReason = "the output is not a float tensor"
		return
	}
	te, err := nativeTrees(data, m.info.Output, index, m.features)
	if err != nil {
		m.info.EngineReason = "not a native tree ensemble: " + err.Error()
		return
	}
	if err := checkNative(te, m); err != nil {
		m.info.EngineReason = "native trees differ from onnxruntime: " + err.Error()
		return
	}
	m.native = te
	m.info.Engine = EngineNative
}

// checkNative is te.matches; a test replaces it to see the fallback.
var checkNative = (*treeEnsemble).matches

// matches runs probe rows through onnxruntime (m's shared session) and
// through te and compares the results bit for bit.
func (te *treeEnsemble) matches(m *model) error {
	rows := te.probes(probeRows)
	want := make([]float64, len(rows))
	chunk := m.batchRows()
	buf := make([]float32, chunk*te.features)
	for lo := 0; lo < len(rows); lo += chunk {
		hi := min(lo+chunk, len(rows))
		if err := m.runBatch(rows[lo:hi], want[lo:hi], buf); err != nil {
			return err
		}
	}
	for j, row := range rows {
		got := float64(te.predict(row))
		if math.Float64bits(got) != math.Float64bits(want[j]) {
			return fmt.Errorf("probe row %v: %v against onnxruntime's %v", row, got, want[j])
		}
	}
	return nil
}

// probes returns at least n rows: a row of zeros; then rows that go
// through every threshold of every feature and the float32 just below and
// just above it (each feature cycling through its own list), so every
// comparison is exercised on both sides of its edge; then rows mixing
// those values at random with values between them. The seed is fixed: a
// load is reproducible.
func (te *treeEnsemble) probes(n int) [][]float32 {
	cuts := make([][]float32, te.features)
	for _, node := range te.nodes {
		if node.feature >= 0 {
			t := node.value
			cuts[node.feature] = append(cuts[node.feature], t,
				math.Nextafter32(t, float32(math.Inf(-1))), math.Nextafter32(t, float32(math.Inf(1))))
		}
	}
	longest := 0
	for f, c := range cuts {
		slices.Sort(c)
		cuts[f] = slices.Compact(c) // trees share thresholds
		longest = max(longest, len(cuts[f]))
	}
	// A huge ensemble (millions of thresholds on one feature) would make
	// the covering rows a load-time cost of its own: cover at most
	// maxCovering, and let the random rows sample the rest.
	longest = min(longest, maxCovering)
	n = max(n, 1+longest+n/2)
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([][]float32, n)
	rows[0] = make([]float32, te.features)
	for j := 1; j < n; j++ {
		row := make([]float32, te.features)
		for f := range row {
			row[f] = probeValue(cuts[f], j-1 < longest, j-1, rng)
		}
		rows[j] = row
	}
	return rows
}

// probeValue is one feature's value in probe row k: the k-th of its cuts
// (cyclically) while covering, else a random cut or a value between two.
func probeValue(c []float32, covering bool, k int, rng *rand.Rand) float32 {
	switch {
	case len(c) == 0:
		return float32(rng.NormFloat64())
	case covering:
		return c[k%len(c)]
	case rng.IntN(4) == 0: // between two cuts
		a, b := c[rng.IntN(len(c))], c[rng.IntN(len(c))]
		return a + (b-a)*rng.Float32()
	default:
		return c[rng.IntN(len(c))]
	}
}
