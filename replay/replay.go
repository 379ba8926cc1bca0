// Package replay evaluates rows of history through a compiled policy, in
// order as far as the policy needs it: the one loop behind riskc eval's
// backtest, training's column extraction and VM check, model prefetching
// and riskc eval --trace.
//
// Rows are cut into batches and evaluated by parallel workers. A policy
// with velocity windows depends on the order of its events, so a stage of
// its own feeds the windows in input order through the program's window
// prologue and records each row's aggregates; the workers then evaluate
// rows in parallel and read those recorded aggregates, which are exactly
// the values a run in input order would see. A program without a usable
// prologue (not made by the compiler) is evaluated in input order on one
// worker instead.
package replay

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/riskforge/riskforge/vm"
	"github.com/riskforge/riskforge/windows"
)

// BatchSize is the number of rows per batch.
const BatchSize = 512

// Options tune a replay.
type Options struct {
	Workers int            // 0: one per CPU
	Models  vm.ModelRunner // nil: every model call uses its on_error value
	Params  []float64      // parameter values to use instead of the program's
	Windows vm.WindowStore // nil: a fresh in-memory store
	// Prefetch, when set, is called with each batch of requests before it
	// is evaluated and returns the model runner for that batch: how eval
	// scores models in batches instead of one row at a time.
	Prefetch func(reqs []*vm.Request) (vm.ModelRunner, error)
	// Trace, when set, says which rows (by line) the VM evaluates with its
	// step trace on.
	Trace func(line int) bool
}

// Stats describe how a replay ran.
type Stats struct {
	Rows       int
	Workers    int
	Sequential bool // windows forced input order on one worker
	Replayed   bool // windows were fed in input order and replayed to parallel workers
}

// Source yields rows: a dataset.Reader in file order, or a
// dataset.Ordered in event-time order.
type Source interface {
	Next(req *vm.Request) (label int, err error)
	Line() int
}

// Batch is a run of consecutive rows. Res holds the caller's results for
// the batch; batches (and their Res) are recycled once Done returns, so a
// Done that keeps slices of Res must truncate, not drop, them.
type Batch[T any] struct {
	Seq    int           // batch number, from 0
	Start  int           // index of the first row in the whole replay
	Reqs   []*vm.Request // the rows
	Labels []int         // from a Source: each row's label
	Lines  []int         // from a Source: each row's line
	Res    T

	winVals []float64 // len(prog.Windows) aggregates per row, from the feed
	err     error     // the first error of the batch
	spare   []*vm.Request
}

// Handler receives the evaluated rows.
type Handler[T any] struct {
	// Row is called on a worker for every row of a batch, in order, with
	// the Machine that evaluated it (its slots hold the row's values) and
	// the decision. An error stops the replay.
	Row func(b *Batch[T], i int, m *vm.Machine, d *vm.Decision) error
	// Done, when set, is called on one goroutine with every evaluated
	// batch, in input order. An error stops the replay.
	Done func(b *Batch[T]) error
}

// Run evaluates every row of src with prog and hands the results to h.
// Rows are read into recycled requests.
func Run[T any](prog *vm.Program, src Source, opts Options, h Handler[T]) (Stats, error) {
	r := newRun(prog, opts, h, "line")
	r.produce = func(stop <-chan struct{}) error { return r.read(src, stop) }
	return r.run()
}

// Rows evaluates reqs, in their order, with prog and hands the results to
// h; a row's index in reqs is b.Start+i, and an error names it as row
// b.Start+i+1.
func Rows[T any](prog *vm.Program, reqs []*vm.Request, opts Options, h Handler[T]) (Stats, error) {
	r := newRun(prog, opts, h, "row")
	r.produce = func(stop <-chan struct{}) error {
		for seq, start := 0, 0; start < len(reqs); seq, start = seq+1, start+BatchSize {
			b := r.newBatch(seq)
			b.Start, b.Reqs = start, reqs[start:min(start+BatchSize, len(reqs))]
			if !r.send(b, stop) {
				return nil
			}
		}
		return nil
	}
	return r.run()
}

// run is one replay: a producer of batches, the window feed stage, the
// workers and the in-order consumer, connected by channels.
type run[T any] struct {
	prog     *vm.Program
	opts     Options
	h        Handler[T]
	unit     string // "line" or "row", for errors
	stats    Stats
	feed     *windowFeed
	produce  func(stop <-chan struct{}) error
	produced chan *Batch[T] // batches from produce, to the window feed stage
	free     chan *Batch[T] // consumed batches, for newBatch to reuse
}

func newRun[T any](prog *vm.Program, opts Options, h Handler[T], unit string) *run[T] {
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	return &run[T]{prog: prog, opts: opts, h: h, unit: unit, free: make(chan *Batch[T], 4*opts.Workers+4)}
}

func (r *run[T]) run() (Stats, error) {
	workers := r.opts.Workers
	r.stats.Workers = workers
	if len(r.prog.Windows) > 0 {
		if r.opts.Windows == nil {
			r.opts.Windows = windows.NewMemory(r.prog, 0)
		}
		var err error
		if r.feed, err = newWindowFeed(r.prog, r.opts.Windows); err != nil {
			// Not a compiler-made program: evaluate in input order instead.
			workers, r.stats.Workers, r.stats.Sequential = 1, 1, true
		} else {
			r.stats.Replayed = true
		}
	}
	stop := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }) }
	r.produced = make(chan *Batch[T], workers*2)
	batches := make(chan *Batch[T], workers*2)
	done := make(chan *Batch[T], workers*2)
	var readErr error
	go func() {
		defer close(r.produced)
		readErr = r.produce(stop)
	}()
	// A stage of its own feeds the windows in input order, so that
	// parsing, window upkeep and evaluation run at the same time.
	go func() {
		defer close(batches)
		for b := range r.produced {
			if r.feed != nil && b.err == nil {
				b.err = feedBatch(r.feed, b, r.unit)
			}
			batches <- b
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.evalBatches(batches, done)
		}()
	}
	go func() { wg.Wait(); close(done) }()
	err := r.inOrder(done, halt)
	halt()
	return r.stats, errors.Join(readErr, err)
}

// send passes a read batch on unless the replay has stopped.
func (r *run[T]) send(b *Batch[T], stop <-chan struct{}) bool {
	select {
	case r.produced <- b:
		return true
	case <-stop:
		return false
	}
}

// newBatch returns an empty batch, reusing a recycled one (its requests,
// result slices and window buffer) when there is one.
func (r *run[T]) newBatch(seq int) *Batch[T] {
	select {
	case b := <-r.free:
		*b = Batch[T]{Seq: seq, Res: b.Res, spare: b.spare, Reqs: b.Reqs[:0], Labels: b.Labels[:0], Lines: b.Lines[:0], winVals: b.winVals[:0]}
		return b
	default:
		return &Batch[T]{Seq: seq}
	}
}

// request returns the next request to fill: a recycled one when there is
// one.
func (b *Batch[T]) request(prog *vm.Program) *vm.Request {
	if n := len(b.Reqs); n < len(b.spare) {
		return b.spare[n]
	}
	req := prog.NewRequest()
	b.spare = append(b.spare, req)
	return req
}

// read fills batches from src.
func (r *run[T]) read(src Source, stop <-chan struct{}) error {
	start := 0
	for seq := 0; ; seq++ {
		b := r.newBatch(seq)
		b.Start, b.Reqs = start, b.Reqs[:0]
		for len(b.Reqs) < BatchSize {
			req := b.request(r.prog)
			label, err := src.Next(req)
			if errors.Is(err, io.EOF) {
				if len(b.Reqs) > 0 {
					r.send(b, stop)
				}
				return nil
			}
			if err != nil {
				if len(b.Reqs) > 0 {
					r.send(b, stop)
				}
				return err
			}
			b.Reqs, b.Labels, b.Lines = append(b.Reqs, req), append(b.Labels, label), append(b.Lines, src.Line())
		}
		start += len(b.Reqs)
		if !r.send(b, stop) {
			return nil
		}
	}
}

func (r *run[T]) evalBatches(in <-chan *Batch[T], out chan<- *Batch[T]) {
	m := r.prog.NewMachine()
	m.Models, m.Windows = r.opts.Models, r.opts.Windows
	if r.opts.Params != nil {
		m.SetParams(r.opts.Params)
	}
	rp := &recorded{}
	k := len(r.prog.Windows)
	for b := range in {
		if b.err == nil {
			b.err = r.evalBatch(m, rp, k, b)
		}
		out <- b
	}
}

func (r *run[T]) evalBatch(m *vm.Machine, rp *recorded, k int, b *Batch[T]) error {
	m.Models = r.opts.Models
	if r.opts.Prefetch != nil {
		runner, err := r.opts.Prefetch(b.Reqs)
		if err != nil {
			return fmt.Errorf("%s %d: scoring models: %w", r.unit, b.where(0), err)
		}
		m.Models = runner
	}
	if r.feed != nil {
		m.Windows = rp
	}
	for i, req := range b.Reqs {
		if r.feed != nil {
			rp.vals = b.winVals[i*k : (i+1)*k]
		}
		if r.opts.Trace != nil {
			m.Trace = b.Lines != nil && r.opts.Trace(b.Lines[i])
		}
		d, err := m.Eval(req)
		if err != nil {
			return fmt.Errorf("%s %d: %w", r.unit, b.where(i), err)
		}
		if err := r.h.Row(b, i, m, d); err != nil {
			return err
		}
	}
	return nil
}

// where is row i's line, or its 1-based index when there are no lines.
func (b *Batch[T]) where(i int) int {
	if b.Lines != nil {
		return b.Lines[i]
	}
	return b.Start + i + 1
}

// inOrder hands finished batches to Done in input order and recycles
// them. After the first error it stops the reader and drains the rest.
func (r *run[T]) inOrder(done <-chan *Batch[T], halt func()) error {
	pending := map[int]*Batch[T]{}
	next := 0
	var err error
	for b := range done {
		pending[b.Seq] = b
		for {
			nb, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if err == nil {
				err = nb.err
				if err == nil && r.h.Done != nil {
					err = r.h.Done(nb)
				}
				if err == nil {
					r.stats.Rows += len(nb.Reqs)
				} else {
					halt()
				}
			}
			select {
			case r.free <- nb:
			default:
			}
		}
	}
	return err
}

// windowFeed feeds the windows in input order through the program's
// window prologue and records each row's aggregates, so workers can
// evaluate rows in parallel and still see exactly the window values a run
// in input order would.
type windowFeed struct {
	prologue *vm.Program
	m        *vm.Machine
	k        int
}

func newWindowFeed(prog *vm.Program, store vm.WindowStore) (*windowFeed, error) {
	prologue, err := prog.WindowPrologue()
	if err != nil {
		return nil, err
	}
	m := prologue.NewMachine()
	m.Windows = store
	return &windowFeed{prologue: prologue, m: m, k: len(prologue.Windows)}, nil
}

// feedBatch feeds a batch's requests through f and records their window
// aggregates in b.winVals, which is sized once per recycled batch (a
// buffer grown row by row was a measurable cost).
func feedBatch[T any](f *windowFeed, b *Batch[T], unit string) error {
	n := len(b.Reqs) * f.k
	if cap(b.winVals) < n {
		b.winVals = make([]float64, n, max(n, BatchSize*f.k))
	}
	vals := b.winVals[:n]
	b.winVals = vals
	for i, req := range b.Reqs {
		if _, err := f.m.Eval(req); err != nil {
			return fmt.Errorf("%s %d: %w", unit, b.where(i), err)
		}
		row := vals[i*f.k : (i+1)*f.k]
		for j, w := range f.prologue.Windows {
			row[j] = f.m.NumSlot(w.Slot)
		}
	}
	return nil
}

// recorded is a worker's WindowStore when windows are fed: it answers
// with the recorded aggregates of the row being evaluated.
type recorded struct{ vals []float64 }

func (r *recorded) Observe(_ []vm.WindowObs, out []float64) error {
	copy(out, r.vals)
	return nil
}
