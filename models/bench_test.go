package models

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/vm"
	"github.com/riskforge/riskforge/windows"
)

const (
	loanMLPolicy = "../examples/loan_ml/loan_ml.risk"
	loanHistory  = "../examples/loan/history.csv"
)

// loanRequests compiles the loan_ml example and reads the first n rows of
// the loan history as its requests.
func loanRequests(b testing.TB, n int) (*vm.Program, []*vm.Request) {
	b.Helper()
	pol, diags := compiler.CheckSource(loanMLPolicy, mustRead(b, loanMLPolicy), compiler.Options{CheckFiles: true})
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	prog, _, err := compiler.Compile(pol, compiler.CompileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	r, err := dataset.Open(loanHistory, prog, dataset.Options{Label: "default"})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var reqs []*vm.Request
	for len(reqs) < n {
		req := prog.NewRequest()
		if _, err := r.Next(req); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	return prog, reqs
}

func mustRead(b testing.TB, path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// timed wraps a runner and adds up the time spent in it.
type timed struct {
	vm.ModelRunner
	ns, calls atomic.Int64
}

func (t *timed) Predict(i int, f []float32) (float64, error) {
	start := time.Now()
	v, err := t.ModelRunner.Predict(i, f)
	t.ns.Add(int64(time.Since(start)))
	t.calls.Add(1)
	return v, err
}

// constant is a model runner that costs nothing.
type constant float64

func (c constant) Predict(int, []float32) (float64, error) { return float64(c), nil }

// BenchmarkLoanDecision evaluates one request of the loan_ml example (the
// loan policy plus two ONNX models; every decision runs the tree ensemble,
// the logistic regression only when the trees see a low risk), cycling
// over 1024 rows of the loan history. Windows start empty every 1024
// rows. "onnx" reports model-% (the share of the time spent in model
// calls) and calls/op; "stub" replaces the models by a constant.
func BenchmarkLoanDecision(b *testing.B) {
	prog, reqs := loanRequests(b, 1024)
	run := func(b *testing.B, models vm.ModelRunner) {
		m := prog.NewMachine()
		m.Models = models
		degraded := 0
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if i%len(reqs) == 0 {
				b.StopTimer()
				m.Windows = windows.NewMemory(prog, 0)
				b.StartTimer()
			}
			d, err := m.Eval(reqs[i%len(reqs)])
			if err != nil {
				b.Fatal(err)
			}
			if d.Degraded {
				degraded++
			}
		}
		// A call can miss its 20ms timeout when the machine is overloaded.
		if degraded > 0 {
			b.ReportMetric(float64(degraded)/float64(b.N), "degraded/op")
		}
	}
	b.Run("onnx", func(b *testing.B) {
		reg, err := Load(prog, loanMLPolicy, Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer reg.Close()
		t := &timed{ModelRunner: reg}
		run(b, t)
		b.ReportMetric(100*float64(t.ns.Load())/float64(b.Elapsed().Nanoseconds()), "model-%")
		b.ReportMetric(float64(t.calls.Load())/float64(b.N), "calls/op")
	})
	b.Run("stub", func(b *testing.B) { run(b, constant(0.1)) })
}

// BenchmarkModelCall times the model call alone for each example model
// ("gbt" on onnxruntime, "gbt_native" the same trees evaluated natively):
// "single" is one Predict (one row, one Run) per op; "batch64" is one
// PredictBatch of 64 rows per op, and reports ns/row; "parallel" is
// single-row Predicts from GOMAXPROCS goroutines (ns/op is wall time per
// call, all cores together).
func BenchmarkModelCall(b *testing.B) {
	_, rows := loadReference(b)
	for len(rows) < 1024 {
		rows = append(rows, rows...)
	}
	models := []struct {
		name, path, output string
		ortOnly            bool
	}{
		{"logreg", "../../examples/models/loan_logreg.onnx", "probabilities", false},
		{"gbt", "../../examples/models/loan_gbt.onnx", "probabilities", true},
		{"gbt_native", "../../examples/models/loan_gbt.onnx", "probabilities", false},
		{"gbt_zipmap", "../../examples/models/loan_gbt_zipmap.onnx", "output_probability", false},
	}
	for _, md := range models {
		prog := compile(b, testPolicy(modelDecl("m_"+md.name, md.path, loanInputs, md.output, 1, "timeout 1s")))
		r := load(b, prog, Options{ONNXRuntimeOnly: md.ortOnly})
		b.Run(md.name+"/single", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := r.Predict(0, rows[i%len(rows)]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(md.name+"/batch64", func(b *testing.B) {
			out := make([]float64, 64)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				lo := (i * 64) % (len(rows) - 64)
				if err := r.PredictBatch(0, rows[lo:lo+64], out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/row")
		})
		b.Run(md.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := r.Predict(0, rows[int(next.Add(1))%len(rows)]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkLoanHistory scores the model calls of the whole loan history
// (10000 requests of loan_ml, one op): "single" evaluates every request
// with single-row model calls, "prefetch" runs Registry.Prefetch (batched
// scoring) and then evaluates every request from the prefetched values.
// ns/row is per request.
func BenchmarkLoanHistory(b *testing.B) {
	prog, reqs := loanRequests(b, 10000)
	reg, err := Load(prog, loanMLPolicy, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	evalAll := func(b *testing.B, runner vm.ModelRunner) {
		m := prog.NewMachine()
		m.Models = runner
		m.Windows = windows.NewMemory(prog, 0)
		for _, req := range reqs {
			if _, err := m.Eval(req); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("single", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			evalAll(b, reg)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(reqs)), "ns/row")
	})
	b.Run("prefetch", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			p, err := reg.Prefetch(prog, reqs)
			if err != nil {
				b.Fatal(err)
			}
			evalAll(b, p)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(reqs)), "ns/row")
	})
}
