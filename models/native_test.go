package models

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

const gbtPath = "../../examples/models/loan_gbt.onnx"

// loadGBT loads loan_gbt.onnx's probability columns twice: natively (when
// the registry takes the native form) and on onnxruntime only.
func loadGBT(t testing.TB) (native, ort *Registry) {
	t.Helper()
	prog := compile(t, testPolicy(
		modelDecl("p1", gbtPath, loanInputs, "probabilities", 1, ""),
		modelDecl("p0", gbtPath, loanInputs, "probabilities", 0, ""),
	))
	return load(t, prog, Options{}), load(t, prog, Options{ONNXRuntimeOnly: true})
}

func TestNativeTreesTaken(t *testing.T) {
	native, ort := loadGBT(t)
	for i, info := range native.Info() {
		if info.Engine != EngineNative || info.EngineReason != "" || info.Sessions != 0 {
			t.Errorf("model %d: engine %q (%s), %d sessions; want %s and no sessions", i, info.Engine, info.EngineReason, info.Sessions, EngineNative)
		}
	}
	for i, info := range ort.Info() {
		if info.Engine != EngineONNXRuntime || !strings.Contains(info.EngineReason, "configured") {
			t.Errorf("model %d with ONNXRuntimeOnly: engine %q (%s)", i, info.Engine, info.EngineReason)
		}
	}
}

// randomLoanRows returns n rows of the six loan features over and beyond
// their usual ranges, a third of them on a threshold of the trees or one
// float32 step beside it.
func randomLoanRows(t testing.TB, n int) [][]float32 {
	data, _ := gbtNode(t)
	te, err := nativeTrees(data, "probabilities", 1, 6)
	if err != nil {
		t.Fatal(err)
	}
	edges := te.probes(n / 3)
	rng := rand.New(rand.NewPCG(7, 8))
	scale := []float64{250000, 120, 20000, 5000, 12, 120}
	for len(edges) < n {
		row := make([]float32, 6)
		for f := range row {
			row[f] = float32(rng.Float64() * scale[f] * 1.2)
			if rng.IntN(50) == 0 {
				row[f] = -row[f]
			}
		}
		edges = append(edges, row)
	}
	return edges
}

// The native form against onnxruntime, bit for bit, on 60,000 rows per
// column: single calls and the batch path. (onnxruntime here runs with one
// intra-op thread, the registry's default; the native form sums the trees
// in the same order.)
func TestNativeTreesMatchONNXRuntime(t *testing.T) {
	native, ort := loadGBT(t)
	for i, info := range native.Info() {
		// Else the comparison below would be onnxruntime against itself.
		if info.Engine != EngineNative {
			t.Fatalf("model %d runs on %s (%s), not natively", i, info.Engine, info.EngineReason)
		}
	}
	rows := randomLoanRows(t, 60000)
	for mi := range 2 {
		want := make([]float64, len(rows))
		if err := ort.PredictBatch(mi, rows, want); err != nil {
			t.Fatal(err)
		}
		got := make([]float64, len(rows))
		if err := native.PredictBatch(mi, rows, got); err != nil {
			t.Fatal(err)
		}
		bad := 0
		for j, row := range rows {
			single, err := native.Predict(mi, row)
			if err != nil {
				t.Fatal(err)
			}
			if math.Float64bits(got[j]) != math.Float64bits(want[j]) || math.Float64bits(single) != math.Float64bits(want[j]) {
				if bad++; bad <= 5 {
					t.Errorf("model %d row %v: native %v (single %v), onnxruntime %v", mi, row, got[j], single, want[j])
				}
			}
		}
		if bad > 0 {
			t.Errorf("model %d: %d of %d rows differ", mi, bad, len(rows))
		}
		// Single onnxruntime calls too, on a sample.
		for j := 0; j < len(rows); j += 97 {
			o, err := ort.Predict(mi, rows[j])
			if err != nil {
				t.Fatal(err)
			}
			if math.Float64bits(o) != math.Float64bits(want[j]) {
				t.Errorf("model %d row %d: onnxruntime single %v, batch %v", mi, j, o, want[j])
			}
		}
	}
}

// logistic against float64 arithmetic: within one float32 step everywhere,
// symmetric, and saturating without NaN.
func TestLogistic(t *testing.T) {
	for _, s := range []float32{0, 1e-8, 0.5, -0.5, 3, -3, 20, -20, 88, -88, 104, -104, float32(math.Inf(1)), float32(math.Inf(-1))} {
		got := logistic(s)
		want := float32(1 / (1 + math.Exp(-float64(s))))
		if math.IsNaN(float64(got)) || math.Abs(float64(got-want)) > 6e-8 {
			t.Errorf("logistic(%v) = %v, want about %v", s, got, want)
		}
	}
	if logistic(0) != 0.5 {
		t.Errorf("logistic(0) = %v", logistic(0))
	}
}

// A native call after Close is refused like any other.
func TestNativeAfterClose(t *testing.T) {
	native, _ := loadGBT(t)
	native.Close()
	if _, err := native.Predict(0, make([]float32, 6)); err != ErrClosed {
		t.Errorf("Predict after Close: %v, want ErrClosed", err)
	}
}
