// Package backtest replays labelled history through a compiled policy:
// rows are evaluated in parallel across cores (or in file order when the
// policy has velocity windows, which depend on event order), results are
// accumulated into a report.Backtest and optionally written as JSON Lines
// in input order.
package backtest

import (
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/report"
	"github.com/riskforge/riskforge/vm"
	"github.com/riskforge/riskforge/windows"
)

// Options tune a run.
type Options struct {
	Workers  int            // 0: one per CPU
	Out      io.Writer      // decisions as JSON Lines, in input order; nil for none
	Models   vm.ModelRunner // nil: every model call uses its on_error value
	Params   []float64      // parameter values to use instead of the program's
	Progress func(rows int) // called from time to time with rows done
	Windows  vm.WindowStore // nil: a fresh in-memory store
	// Prefetch, when set, is called with each batch of requests before it
	// is evaluated and returns the model runner for that batch: how eval
	// scores models in batches instead of one row at a time.
	Prefetch func(reqs []*vm.Request) (vm.ModelRunner, error)
}

// Stats describe a finished run.
type Stats struct {
	Rows       int
	Elapsed    time.Duration
	Workers    int
	Sequential bool // windows forced file order on one worker
	Replayed   bool // windows were fed in file order and replayed to parallel workers
}

// RowsPerSecond is the throughput of the run.
func (s Stats) RowsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Rows) / s.Elapsed.Seconds()
}

const batchSize = 512

type batch struct {
	seq    int
	reqs   []*vm.Request
	labels []int
	lines  []int
	out    []byte
	// Results, filled by a worker and accumulated in input order by the
	// writer, so figures do not depend on the number of workers.
	scores  []float64
	actions []vm.Action
	fired   []int // rule indexes of all rows, row i's at firedAt[i]:firedAt[i+1]
	firedAt []int
	// Window aggregates of each row (len(Windows) per row), recorded in
	// file order by the reader when windows are replayed.
	winVals []float64
	// spare holds a recycled batch's requests for reuse.
	spare []*vm.Request
}

// Source yields rows: a dataset.Reader in file order, or a
// dataset.Ordered in event-time order.
type Source interface {
	Next(req *vm.Request) (label int, err error)
	Line() int
}

// Run evaluates every row of r with prog.
func Run(prog *vm.Program, r Source, opts Options) (*report.Backtest, Stats, error) {
	start := time.Now()
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	stats := Stats{Workers: workers}
	var feed *windowFeed
	if len(prog.Windows) > 0 {
		if opts.Windows == nil {
			opts.Windows = windows.NewMemory(prog, 0)
		}
		var err error
		if feed, err = newWindowFeed(prog, opts.Windows); err != nil {
			// Not a compiler-made program: evaluate in file order instead.
			workers, stats.Workers, stats.Sequential = 1, 1, true
		} else {
			stats.Replayed = true
		}
	}
	total := report.NewBacktest(ruleNames(prog), actionNames)
	batches := make(chan *batch, workers*2)
	done := make(chan *batch, workers*2)
	var readErr error
	read := make(chan *batch, workers*2)
	go func() {
		defer close(read)
		readErr = readBatches(prog, r, read)
	}()
	// A stage of its own feeds the windows in file order, so that parsing,
	// window upkeep and evaluation run at the same time.
	go func() {
		defer close(batches)
		for b := range read {
			if feed != nil {
				for _, req := range b.reqs {
					b.winVals = feed.record(req, b.winVals)
				}
			}
			batches <- b
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evalBatches(prog, opts, batches, done)
		}()
	}
	go func() { wg.Wait(); close(done) }()
	writeErr := writeInOrder(done, opts, &stats, total)
	stats.Elapsed = time.Since(start)
	return total, stats, errors.Join(readErr, writeErr)
}

var actionNames = []string{"approve", "review", "reject"}

func ruleNames(prog *vm.Program) []string {
	names := make([]string, len(prog.Rules))
	for i, r := range prog.Rules {
		names[i] = r.Name
	}
	return names
}

// windowFeed feeds the windows in file order through the program's window
// prologue and records each row's aggregates, so workers can evaluate rows
// in parallel and still see exactly the window values a run in file order
// would.
type windowFeed struct {
	prologue *vm.Program
	m        *vm.Machine
}

func newWindowFeed(prog *vm.Program, store vm.WindowStore) (*windowFeed, error) {
	prologue, err := prog.WindowPrologue()
	if err != nil {
		return nil, err
	}
	m := prologue.NewMachine()
	m.Windows = store
	return &windowFeed{prologue: prologue, m: m}, nil
}

// record feeds one request and appends its window aggregates to dst.
func (f *windowFeed) record(req *vm.Request, dst []float64) []float64 {
	_, _ = f.m.Eval(req) // the reader has checked the event
	for _, w := range f.prologue.Windows {
		dst = append(dst, f.m.NumSlot(w.Slot))
	}
	return dst
}

// replay is a worker's WindowStore: it answers with the recorded
// aggregates of the row being evaluated.
type replay struct{ vals []float64 }

func (r *replay) Observe(_ []vm.WindowObs, out []float64) error {
	copy(out, r.vals)
	return nil
}

// batches are recycled once written, requests and all, so a long run
// allocates a few batches' worth of requests instead of one per row.
var batchPool sync.Pool

// newBatch returns an empty batch, reusing the requests of a recycled one.
func newBatch(seq int) *batch {
	b, ok := batchPool.Get().(*batch)
	if !ok {
		return &batch{seq: seq}
	}
	*b = batch{seq: seq, spare: b.reqs[:0], labels: b.labels[:0], lines: b.lines[:0], out: b.out[:0],
		scores: b.scores[:0], actions: b.actions[:0], fired: b.fired[:0], firedAt: b.firedAt[:0], winVals: b.winVals[:0]}
	return b
}

// request returns the next request to fill: a recycled one of the same
// program when there is one.
func (b *batch) request(prog *vm.Program) *vm.Request {
	if n, spare := len(b.reqs), b.spare[:cap(b.spare)]; n < len(spare) {
		req := spare[n]
		if req != nil && len(req.Num) == int(prog.NumSlots) && len(req.Str) == int(prog.StrSlots) && len(req.Present) == len(prog.Inputs) {
			return req
		}
	}
	return prog.NewRequest()
}

func readBatches(prog *vm.Program, r Source, out chan<- *batch) error {
	for seq := 0; ; seq++ {
		b := newBatch(seq)
		for len(b.reqs) < batchSize {
			req := b.request(prog)
			label, err := r.Next(req)
			if errors.Is(err, io.EOF) {
				if len(b.reqs) > 0 {
					out <- b
				}
				return nil
			}
			if err != nil {
				if len(b.reqs) > 0 {
					out <- b
				}
				return err
			}
			b.reqs, b.labels, b.lines = append(b.reqs, req), append(b.labels, label), append(b.lines, r.Line())
		}
		out <- b
	}
}

// decisionLine is one row of the decisions file.
type decisionLine struct {
	Line      int         `json:"line"`
	RequestID string      `json:"request_id,omitempty"`
	Event     string      `json:"event,omitempty"`
	Decision  string      `json:"decision"`
	Score     float64     `json:"score"`
	Rules     []firedRule `json:"rules"`
	Degraded  bool        `json:"degraded,omitempty"`
	Label     *int        `json:"label,omitempty"`
}

type firedRule struct {
	Name   string  `json:"name"`
	Reason string  `json:"reason"`
	Weight float64 `json:"weight"`
}

func evalBatches(prog *vm.Program, opts Options, in <-chan *batch, out chan<- *batch) {
	m := prog.NewMachine()
	m.Models, m.Windows = opts.Models, opts.Windows
	if opts.Params != nil {
		m.SetParams(opts.Params)
	}
	rp := &replay{}
	k := len(prog.Windows)
	for b := range in {
		m.Models = opts.Models
		if opts.Prefetch != nil {
			if runner, err := opts.Prefetch(b.reqs); err == nil {
				m.Models = runner
			}
		}
		b.firedAt = append(b.firedAt, 0)
		if b.winVals != nil {
			m.Windows = rp
		}
		for i, req := range b.reqs {
			if b.winVals != nil {
				rp.vals = b.winVals[i*k : (i+1)*k]
			}
			d, err := m.Eval(req)
			if err != nil { // the reader checked events; cannot happen
				d = &vm.Decision{}
			}
			for _, f := range d.Fired {
				b.fired = append(b.fired, f.Rule)
			}
			b.scores, b.actions = append(b.scores, d.Score), append(b.actions, d.Action)
			b.firedAt = append(b.firedAt, len(b.fired))
			if opts.Out != nil {
				b.out = appendDecision(b.out, b.lines[i], req, d, b.labels[i])
			}
		}
		out <- b
	}
}

func appendDecision(buf []byte, line int, req *vm.Request, d *vm.Decision, label int) []byte {
	dl := decisionLine{Line: line, RequestID: req.ID, Event: req.Event, Decision: d.Action.String(),
		Score: d.Score, Rules: make([]firedRule, 0, len(d.Fired)), Degraded: d.Degraded}
	for _, f := range d.Fired {
		dl.Rules = append(dl.Rules, firedRule{Name: f.Name, Reason: f.Reason, Weight: f.Weight})
	}
	if label != dataset.Unlabelled {
		dl.Label = &label
	}
	data, _ := json.Marshal(dl)
	return append(append(buf, data...), '\n')
}

// writeInOrder accumulates and writes finished batches in input order.
func writeInOrder(done <-chan *batch, opts Options, stats *Stats, acc *report.Backtest) error {
	pending := map[int]*batch{}
	next := 0
	var err error
	for b := range done {
		pending[b.seq] = b
		for {
			nb, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			stats.Rows += len(nb.labels)
			for i, label := range nb.labels {
				acc.Add(nb.scores[i], actionNames[nb.actions[i]], nb.fired[nb.firedAt[i]:nb.firedAt[i+1]], label)
			}
			if opts.Out != nil && err == nil {
				_, err = opts.Out.Write(nb.out)
			}
			if opts.Progress != nil {
				opts.Progress(stats.Rows)
			}
			batchPool.Put(nb)
		}
	}
	return err
}
