package models

import (
	"errors"
	"math"
	"unsafe"

	"github.com/riskforge/riskforge/replay"
	"github.com/riskforge/riskforge/vm"
)

// Prefetched answers the model calls of a known set of requests from
// values scored in batches (see Registry.Prefetch); a call it has no value
// for goes to the registry, one row at a time. It implements
// vm.ModelRunner and is safe for concurrent use once built.
type Prefetched struct {
	reg  *Registry
	memo []map[string]float64 // per model: feature bytes -> value
	// Rows is the number of distinct feature rows scored per model.
	Rows []int
	// Rounds is the number of passes over the requests Prefetch made
	// (0 when every model reads only request inputs).
	Rounds int
}

// Prefetch scores, in batches, every model call that prog makes when it
// evaluates reqs in order, and returns a runner that serves those calls
// from memory: the batch path for offline work (backtests, training) that
// holds its requests. A model whose inputs are all request inputs is
// scored on every request's row, read straight from the request. For a
// model fed by lets or windows, Prefetch evaluates the requests with a
// recording runner (package replay, through a fresh in-memory window
// store when prog has windows), scores the distinct rows it saw
// with PredictBatch, and repeats while a pass reveals calls it had not
// seen (a model used only when another model's value allows it). The
// values are the ones single-row calls give, except that there is no
// timeout; a row the model fails on reads NaN, which the Machine treats
// as a failed call (on_error, degraded). Memory grows with the number of
// distinct feature rows (about 100 bytes each for six features).
func (r *Registry) Prefetch(prog *vm.Program, reqs []*vm.Request) (*Prefetched, error) {
	if len(prog.Models) != len(r.models) {
		return nil, errors.New("Prefetch: the program does not declare the registry's models")
	}
	p := &Prefetched{reg: r, memo: make([]map[string]float64, len(r.models)), Rows: make([]int, len(r.models))}
	for i := range p.memo {
		p.memo[i] = map[string]float64{}
	}
	// Models fed only by request inputs: their rows are read straight from
	// the requests, and every request is scored (a few rows more than the
	// lazy calls need, but no pass over the policy).
	direct := make([]bool, len(r.models))
	inputSlot := map[uint32]bool{}
	for _, in := range prog.Inputs {
		if !in.Type.IsString() {
			inputSlot[in.Slot] = true
		}
	}
	others := false
	for i, md := range prog.Models {
		direct[i] = true
		for _, s := range md.InputSlots {
			direct[i] = direct[i] && inputSlot[s]
		}
		if !direct[i] {
			others = true
			continue
		}
		rows := make([][]float32, 0, len(reqs))
		seen := map[string]bool{}
		buf := make([]float32, len(reqs)*len(md.InputSlots))
		for _, req := range reqs {
			row := buf[:len(md.InputSlots):len(md.InputSlots)]
			for j, s := range md.InputSlots {
				row[j] = float32(req.Num[s])
			}
			if k := featureKey(row); !seen[k] {
				seen[k] = true
				rows = append(rows, row)
				buf = buf[len(row):]
			}
		}
		if err := p.score(i, rows); err != nil {
			return nil, err
		}
	}
	if !others {
		return p, nil
	}
	// Models fed by lets or windows: evaluate the requests with a recording
	// runner, score the rows it saw, and repeat until a pass finds none.
	rec := &recorder{p: p, rows: make([][][]float32, len(r.models))}
	known := knownEvents(prog, reqs)
	for p.Rounds = 1; ; p.Rounds++ {
		// One worker: the recorder is not safe for concurrent use. Each
		// pass replays through a fresh window store.
		_, err := replay.Rows(prog, known, replay.Options{Workers: 1, Models: rec}, replay.Handler[struct{}]{
			Row: func(*replay.Batch[struct{}], int, *vm.Machine, *vm.Decision) error { return nil },
		})
		if err != nil {
			return nil, err
		}
		found := false
		for i, rows := range rec.rows {
			if len(rows) == 0 {
				continue
			}
			found = true
			if err := p.score(i, rows); err != nil {
				return nil, err
			}
			rec.rows[i] = rows[:0]
		}
		if !found || p.Rounds > len(r.models) {
			return p, nil
		}
	}
}

// knownEvents returns reqs without the requests whose event prog refuses
// (they call no model; their evaluation error is the caller's to report).
func knownEvents(prog *vm.Program, reqs []*vm.Request) []*vm.Request {
	if !prog.EventsDeclared {
		return reqs
	}
	var known []*vm.Request
	for i, req := range reqs {
		if prog.EventIndex(req.Event) >= 0 {
			if known != nil {
				known = append(known, req)
			}
			continue
		}
		if known == nil {
			known = append(make([]*vm.Request, 0, len(reqs)), reqs[:i]...)
		}
	}
	if known == nil {
		return reqs
	}
	return known
}

// score runs model i on rows in batches and remembers the values.
func (p *Prefetched) score(i int, rows [][]float32) error {
	out := make([]float64, len(rows))
	// A failed row is NaN in out: keep it, the Machine falls back.
	if err := p.reg.PredictBatch(i, rows, out); err != nil && errors.Is(err, ErrClosed) {
		return err
	}
	for j, row := range rows {
		p.memo[i][string(featureKey(row))] = out[j]
	}
	p.Rows[i] += len(rows)
	return nil
}

// Predict returns the prefetched value for the row, or runs the model.
func (p *Prefetched) Predict(i int, features []float32) (float64, error) {
	if i >= 0 && i < len(p.memo) {
		if v, ok := p.memo[i][featureKey(features)]; ok {
			return v, nil
		}
	}
	return p.reg.Predict(i, features)
}

// featureKey views a row's bytes as a string, for map lookups (which do
// not keep it; insertions copy it).
func featureKey(f []float32) string {
	if len(f) == 0 {
		return ""
	}
	return unsafe.String((*byte)(unsafe.Pointer(&f[0])), len(f)*4)
}

// recorder is the runner of a Prefetch pass: known rows get their value,
// new ones are noted and read NaN (so the Machine uses on_error).
type recorder struct {
	p    *Prefetched
	rows [][][]float32
	seen map[string]bool
}

func (r *recorder) Predict(i int, features []float32) (float64, error) {
	if v, ok := r.p.memo[i][featureKey(features)]; ok {
		return v, nil
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	k := string(rune(i)) + featureKey(features)
	if !r.seen[k] {
		r.seen[k] = true
		r.rows[i] = append(r.rows[i], append([]float32(nil), features...))
	}
	return math.NaN(), nil
}
