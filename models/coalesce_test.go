package models

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Coalesced calls give exactly the values of calls run alone, for each
// example model (the ZipMap one read through its probability tensor),
// while 16 goroutines call at once; and they are coalesced: fewer Runs
// than calls.
func TestCoalescedCallsMatchSingle(t *testing.T) {
	_, rows := loadReference(t)
	decls := []string{
		modelDecl("co_logreg", "../../examples/models/loan_logreg.onnx", loanInputs, "probabilities", 1, ""),
		modelDecl("co_gbt", "../../examples/models/loan_gbt.onnx", loanInputs, "probabilities", 1, ""),
		modelDecl("co_gbt_map", "../../examples/models/loan_gbt_zipmap.onnx", loanInputs, "output_probability", 1, ""),
	}
	prog := compile(t, testPolicy(decls...))
	alone := load(t, prog, Options{})
	co := load(t, prog, Options{Coalesce: 8, Sessions: 2, ONNXRuntimeOnly: true}) // alone runs the trees natively: both must agree
	for i, info := range co.Info() {
		if info.Coalesce != 8 || info.Sessions != 16 {
			t.Fatalf("model %d: coalesce %d, sessions %d; want 8, 16 (two sets of 8)", i, info.Coalesce, info.Sessions)
		}
	}
	want := make([][]float64, len(decls))
	for mi := range decls {
		for _, row := range rows {
			v, err := alone.Predict(mi, row)
			if err != nil {
				t.Fatal(err)
			}
			want[mi] = append(want[mi], v)
		}
	}
	runsBefore := make([]float64, len(decls))
	for mi, info := range co.Info() {
		runsBefore[mi] = testutil.ToFloat64(runsTotal.WithLabelValues(info.Name))
	}
	const goroutines, calls = 16, 300
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range calls {
				i := (g*37 + k) % len(rows)
				mi := (g + k) % len(decls)
				v, err := co.Predict(mi, rows[i])
				if err != nil || v != want[mi][i] {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("model %d row %d: %v, %v; alone %v", mi, i, v, err, want[mi][i]))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d calls differ, first: %s", len(failures), goroutines*calls, failures[0])
	}
	totalRuns := 0.0
	for mi, info := range co.Info() {
		totalRuns += testutil.ToFloat64(runsTotal.WithLabelValues(info.Name)) - runsBefore[mi]
	}
	t.Logf("%d calls in %.0f Runs (%.2f rows per Run)", goroutines*calls, totalRuns, goroutines*calls/totalRuns)
	if totalRuns >= goroutines*calls {
		t.Errorf("%d calls took %.0f Runs: nothing was coalesced", goroutines*calls, totalRuns)
	}
}

// A coalesced batch that passes its deadline times out every call in it,
// and the sessions serve the next calls; a model whose batch dimension is
// fixed at 1 is not coalesced.
func TestCoalescedTimeout(t *testing.T) {
	prog := compile(t, testPolicy(modelDecl("co_slow", "slow.onnx", "x", "y", 0, "timeout 20ms")))
	r := load(t, prog, Options{Coalesce: 4, Sessions: 1})
	if got := r.Info()[0].Coalesce; got != 4 {
		t.Fatalf("slow.onnx: coalesce %d, want 4", got)
	}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	vals := make([]float64, len(errs))
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals[i], errs[i] = r.Predict(0, []float32{1000}) // about two seconds uninterrupted
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrTimeout) || !math.IsNaN(vals[i]) {
			t.Errorf("slow call %d: %v, %v", i, vals[i], err)
		}
	}
	for i := range 3 {
		if v, err := r.Predict(0, []float32{float32(i)}); err != nil || v != float64(i) {
			t.Fatalf("call after the timeouts: %v, %v", v, err)
		}
	}

	fixed := compile(t, testPolicy(modelDecl("co_fixed", "fixed_batch.onnx", "x, y, z", "sum", 0, "")))
	if got := load(t, fixed, Options{Coalesce: 4}).Info()[0].Coalesce; got != 0 {
		t.Errorf("fixed_batch.onnx: coalesce %d, want 0 (its batch dimension is 1)", got)
	}
}

// A coalesced call allocates nothing (waiters and batches are recycled).
func TestCoalescedPredictAllocs(t *testing.T) {
	if raceEnabled {
		t.Log("not counted under the race detector (sync.Pool drops items at random)")
		return
	}
	_, rows := loadReference(t)
	prog := compile(t, testPolicy(modelDecl("co_allocs", "../../examples/models/loan_gbt.onnx", loanInputs, "probabilities", 1, "")))
	r := load(t, prog, Options{Coalesce: 8, ONNXRuntimeOnly: true})
	i := 0
	allocs := testing.AllocsPerRun(2000, func() {
		if _, err := r.Predict(0, rows[i%len(rows)]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("%.2f allocations per coalesced call, want 0", allocs)
	}
}
