package rules

import (
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/riskforge/riskforge/examples/planted"
)

var benchSetup struct {
	once   sync.Once
	p      *Problem
	data   *Matrix
	labels []float64
}

// BenchmarkEpoch measures one training epoch (forward, backward and Adam
// step over every minibatch) on 100k generated rows of a policy with 30
// rules, at the default batch size.
func BenchmarkEpoch(b *testing.B) {
	s := &benchSetup
	s.once.Do(func() {
		spec := planted.NewSpec(30)
		prog, ir := compileSource(b, "bench.risk", spec.Wrong().Policy("bench", "benchmark"))
		reqs, labels := plantedData(b, spec, 100_000, 3, prog)
		p, err := NewProblem(prog, ir)
		if err != nil {
			b.Fatal(err)
		}
		data, err := p.Extract(reqs, ExtractOptions{})
		if err != nil {
			b.Fatal(err)
		}
		s.p, s.data, s.labels = p, data, labels
	})
	rows := allRows(s.data.Rows)
	cfg := DefaultConfig
	if v := os.Getenv("RISKFORGE_BENCH_BATCH"); v != "" {
		cfg.Batch, _ = strconv.Atoi(v)
	}
	gr, err := s.p.NewGraph(s.data, rows, GraphConfig{Batch: cfg.Batch, L2: cfg.L2, Range: cfg.Range, PosWeight: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer gr.Close()
	if err := gr.SetTemperature(0.1); err != nil {
		b.Fatal(err)
	}
	solver := newSolver(cfg.LR)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for start := 0; start < len(rows); start += cfg.Batch {
			if _, err := gr.Step(solver, rows[start:min(start+cfg.Batch, len(rows))], s.labels); err != nil {
				b.Fatal(err)
			}
		}
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(sec, "s/epoch")
	b.ReportMetric(float64(len(rows))/sec, "rows/s")
}
