package rules

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/internal/planted"
	"github.com/riskforge/riskforge/vm"
)

// compileSource compiles policy source held in memory.
func compileSource(t testing.TB, path string, src []byte) (*vm.Program, *compiler.IR) {
	t.Helper()
	pol, diags := compiler.CheckSource(path, src, compiler.Options{})
	if diags.HasErrors() {
		t.Fatalf("%v", diags)
	}
	prog, ir, err := compiler.Compile(pol, compiler.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return prog, ir
}

// plantedData writes n rows from spec and reads them for prog.
func plantedData(t testing.TB, spec planted.Spec, n int, seed uint64, prog *vm.Program) ([]*vm.Request, []float64) {
	t.Helper()
	var buf bytes.Buffer
	if err := planted.Generate(&buf, spec, n, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "planted.csv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	reqs, labels, err := ReadRequests(prog, path, dataset.Options{Label: "bad"})
	if err != nil {
		t.Fatal(err)
	}
	return reqs, labels
}

// TestPlantedRecovery starts from deliberately wrong thresholds and
// weights and checks that training finds the planted thresholds (within 5%
// of each feature's range) and a validation AUC within 0.01 of the planted
// policy's.
func TestPlantedRecovery(t *testing.T) {
	spec := planted.NewSpec(8)
	trueProg, _ := compileSource(t, "planted.risk", spec.Policy("planted", "planted"))
	prog, ir := compileSource(t, "start.risk", spec.Wrong().Policy("planted", "start"))
	reqs, labels := plantedData(t, spec, 20000, 7, prog)
	// The start policy writes every weight 0.5, also where the planted one
	// is negative: let them change sign.
	o, err := Tune(prog, ir, reqs, labels, Options{Config: Config{Seed: 1, AllowFlip: []string{"*"}}, ValidFrac: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	trueDec, err := EvalVM(trueProg, nil, reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	plantedAUC := float64(Summary(trueDec.Scores, labels, o.Valid).AUC)
	for _, h := range o.Result.History {
		t.Logf("epoch %2d T %.3f loss %.4f valid logloss %.4f auc %.4f", h.Epoch, h.Temperature, h.TrainLoss, h.ValidLogLoss, h.ValidAUC)
	}
	gr := o.Result.Graph
	for i, prm := range prog.Params {
		want := trueProg.Params[i].Value
		got := o.Values[i]
		if prm.Kind != vm.Threshold {
			t.Logf("%-22s start %8.3f  trained %8.3f  hard %8s  planted %8.3f", prm.Name, prm.Value, o.Result.Values[i], o.Texts[i], want)
			continue
		}
		lo, hi := gr.Range(i)
		errPct := 100 * math.Abs(got-want) / (hi - lo)
		t.Logf("%-22s start %8.3f  trained %8.3f  hard %8s  planted %8.3f  error %.2f%% of range", prm.Name, prm.Value, o.Result.Values[i], o.Texts[i], want, errPct)
		if errPct > 5 {
			t.Errorf("%s: %v is %.1f%% of the feature's range from the planted %v", prm.Name, got, errPct, want)
		}
	}
	t.Logf("valid AUC: start %.4f, soft %.4f, hard %.4f, planted %.4f", o.Before.Valid.AUC, o.Soft.Valid.AUC, o.Hard.Valid.AUC, plantedAUC)
	if float64(o.Hard.Valid.AUC) < plantedAUC-0.01 {
		t.Errorf("valid AUC %.4f is more than 0.01 below the planted policy's %.4f", o.Hard.Valid.AUC, plantedAUC)
	}
}
