package rules

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/replay"
	"github.com/riskforge/riskforge/vm"
)

// Matrix holds the per-row values of a Problem's columns: the probes, as
// the serving VM computed them, plus listening and merged columns.
type Matrix struct {
	Rows int
	Cols [][]float64 // [column][row]
}

// ExtractOptions tune Problem.Extract.
type ExtractOptions struct {
	// Models serves model calls; nil makes every model read its on_error
	// value, as in the VM.
	Models vm.ModelRunner
	// Workers evaluating rows in parallel; 0 means one per CPU.
	Workers int
}

// Extract runs the probe program over reqs (with package replay, in
// parallel; a policy with windows sees them fed in the order of reqs
// through a fresh in-memory window store, as serving would have seen the
// events) and returns the column values.
func (p *Problem) Extract(reqs []*vm.Request, opts ExtractOptions) (*Matrix, error) {
	n := len(reqs)
	m := &Matrix{Rows: n, Cols: make([][]float64, len(p.cols))}
	for i := range m.Cols {
		m.Cols[i] = make([]float64, n)
	}
	probeVals := make([][]float64, len(p.probes))
	for i, c := range p.cols {
		if c.kind == colProbe {
			probeVals[c.probe] = m.Cols[i]
		}
	}
	_, err := replay.Rows(p.probeProg, reqs, replay.Options{Workers: opts.Workers, Models: opts.Models}, replay.Handler[struct{}]{
		Row: func(b *replay.Batch[struct{}], i int, mach *vm.Machine, _ *vm.Decision) error {
			r := b.Start + i
			for k, pr := range p.probes {
				v := mach.NumSlot(pr.Slot)
				if math.IsNaN(v) || math.IsInf(v, 0) {
					v = 0
				}
				probeVals[k][r] = v
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	// Derived columns come after the columns they read.
	for i, c := range p.cols {
		col := m.Cols[i]
		switch c.kind {
		case colListen:
			rule := &p.Prog.Rules[c.rule]
			for r, req := range reqs {
				ev := p.Prog.EventIndex(req.Event)
				for _, e := range rule.Events {
					if int(e) == ev {
						col[r] = 1
						break
					}
				}
			}
		case colAnd:
			for r := range col {
				v := 1.0
				for _, a := range c.args {
					v *= m.Cols[a][r]
				}
				col[r] = v
			}
		case colOr:
			for r := range col {
				v := 1.0
				for _, a := range c.args {
					v *= 1 - m.Cols[a][r]
				}
				col[r] = 1 - v
			}
		}
	}
	return m, nil
}

// colStats are a column's figures on the training rows: a robust center
// and scale (median, and interquartile range / 1.349, which is the
// standard deviation for normal data but not blown up by heavy tails such
// as a debt-to-income ratio over a near-zero income), and the range.
type colStats struct {
	center, scale, min, max float64
}

func statsOf(col []float64, rows []int) colStats {
	if len(rows) == 0 {
		return colStats{scale: 1}
	}
	s := colStats{min: math.Inf(1), max: math.Inf(-1)}
	mean := 0.0
	for _, r := range rows {
		v := col[r]
		mean += v
		s.min, s.max = math.Min(s.min, v), math.Max(s.max, v)
	}
	mean /= float64(len(rows))
	std := 0.0
	for _, r := range rows {
		d := col[r] - mean
		std += d * d
	}
	std = math.Sqrt(std / float64(len(rows)))
	// Quantiles from at most 20000 evenly spaced rows.
	stride := max(1, len(rows)/20000)
	sample := make([]float64, 0, len(rows)/stride+1)
	for k := 0; k < len(rows); k += stride {
		sample = append(sample, col[rows[k]])
	}
	sort.Float64s(sample)
	q := func(p float64) float64 { return sample[int(p*float64(len(sample)-1)+0.5)] }
	s.center = q(0.5)
	tiny := 1e-12 * math.Max(1, math.Abs(s.center))
	switch iqr := (q(0.75) - q(0.25)) / 1.349; {
	case iqr > tiny && !math.IsInf(iqr, 0):
		s.scale = iqr
	case std > tiny && !math.IsInf(std, 0):
		s.scale = std
	default:
		s.scale = math.Max(1, math.Abs(s.center))
	}
	return s
}

// ReadRequests reads every row of a data file into requests, with labels
// (1 bad, 0 good, NaN when the row has none).
func ReadRequests(prog *vm.Program, path string, opts dataset.Options) ([]*vm.Request, []float64, error) {
	r, err := dataset.Open(path, prog, opts)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	reqs, ints, err := r.ReadAll()
	if err != nil {
		return nil, nil, err
	}
	labels := make([]float64, len(ints))
	for i, label := range ints {
		labels[i] = float64(label)
		if label == dataset.Unlabelled {
			labels[i] = math.NaN()
		}
	}
	return reqs, labels, nil
}

func allRows(n int) []int {
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	return rows
}

// readRecords reads every row of a data file like ReadRequests, with the
// record index of each row in the file and the skip summary ("" when no
// row was skipped).
func readRecords(prog *vm.Program, path string, opts dataset.Options) (reqs []*vm.Request, labels []float64, records []int, skip string, err error) {
	r, err := dataset.Open(path, prog, opts)
	if err != nil {
		return nil, nil, nil, "", err
	}
	defer r.Close()
	var lines []int
	for {
		req := prog.NewRequest()
		label, err := r.Next(req)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, nil, "", err
		}
		y := float64(label)
		if label == dataset.Unlabelled {
			y = math.NaN()
		}
		reqs, labels, records = append(reqs, req), append(labels, y), append(records, r.Record())
		lines = append(lines, r.Line())
	}
	if len(reqs) == 0 {
		return nil, nil, nil, "", fmt.Errorf("%s: no rows to read", path)
	}
	skip = r.SkipSummary()
	// Windows replay in event-time order, as serving saw the events.
	perm, late, err := dataset.TimeOrder(prog, path, reqs, lines, dataset.OrderOptions{KeepOrder: opts.KeepOrder})
	if err != nil {
		return nil, nil, nil, "", err
	}
	if perm != nil {
		reqs, labels, records = dataset.Permute(reqs, perm), dataset.Permute(labels, perm), dataset.Permute(records, perm)
		skip = strings.TrimPrefix(skip+"; "+dataset.OutOfOrderNote(late, len(reqs)), "; ")
	}
	return reqs, labels, records, skip, nil
}
