package rules

import (
	"math"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/riskforge/riskforge/internal/planted"
)

var benchSetup struct {
	once   sync.Once
	p      *Problem
	data   *Matrix
	labels []float64
}

// BenchmarkEpoch measures one training epoch (forward, backward and Adam
// step over every minibatch) on 100k generated rows of a policy with 30
// rules, at the default batch size: "train" as Train runs it (with the
// sign and --max-shift projections after every step), "free" without
// them, as a peer in the same run.
func BenchmarkEpoch(b *testing.B) {
	b.Run("train", func(b *testing.B) { benchEpoch(b, true) })
	b.Run("free", func(b *testing.B) { benchEpoch(b, false) })
}

func benchEpoch(b *testing.B, constrained bool) {
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
	if constrained {
		gr.constrain(nil, 1)
	}
	if err := gr.SetTemperature(0.1); err != nil {
		b.Fatal(err)
	}
	solver := newSolver(cfg.LR)
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for start := 0; start < len(rows); start += cfg.Batch {
			if _, err := gr.Step(solver, rows[start:min(start+cfg.Batch, len(rows))], s.labels); err != nil {
				b.Fatal(err)
			}
			gr.project()
		}
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.StopTimer()
	// CPU time (user + system, all threads) next to wall time: on a
	// machine shared with other work the wall time mostly measures the
	// queue for a core.
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/epoch")
	b.ReportMetric(sec, "s/epoch")
	b.ReportMetric(float64(len(rows))/sec, "rows/s")
}

// cpuSeconds returns the process's user and system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
