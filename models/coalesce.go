package models

import (
	"math"
	"runtime"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// Coalescing concurrent single-row calls of one model into one Run
// (Options.Coalesce). onnxruntime's cost per Run is mostly fixed (3–4 µs
// here for either example model; a second row adds 0.1–1 µs), so rows
// that arrive together are cheaper run together.
//
// There is no timer. A call that finds no batch forming starts one and
// leads it: it yields its core once (runtime.Gosched), so that requests
// already runnable can reach the model and join, then closes the batch
// and runs it on a free set of sessions; the call that fills a batch
// closes and runs it at once instead. Calls arriving after the close form
// the next batch, which runs as soon as a session set is free, in
// parallel with the first (there are Options.Sessions sets, GOMAXPROCS by
// default): no call waits behind another batch's Run. On an idle server
// the yield returns at once and a call runs alone; under load a call
// waits until its batch fills or one pass of the runnable goroutines
// ends, plus its batch's Run, within its deadline.

// coalescer groups one model's concurrent calls.
type coalescer struct {
	m       *model
	maxRows int
	// sets holds the free session sets; a set's slots[n-1] runs batches
	// of n rows.
	sets chan *slotSet
	all  []*slotSet

	mu      sync.Mutex
	forming *group // the batch taking members, nil when none is
	formed  uint64 // batches started: tells a leader whether forming is still its own
}

type slotSet struct {
	slots []*slot
	out   []float64
}

// group is one batch: its leader and the calls that joined it.
type group struct {
	members []*waiter
}

// waiter is one call in a batch.
type waiter struct {
	features []float32
	deadline time.Time
	v        float64
	err      error
	done     chan struct{} // cap 1: the result is set
}

var (
	waiters = sync.Pool{New: func() any { return &waiter{done: make(chan struct{}, 1)} }}
	groups  = sync.Pool{New: func() any { return &group{} }}
)

func newCoalescer(m *model, data []byte, so *ort.SessionOptions, sets, maxRows int) (*coalescer, error) {
	c := &coalescer{m: m, maxRows: maxRows, sets: make(chan *slotSet, sets)}
	for range sets {
		set := &slotSet{out: make([]float64, maxRows)}
		c.all = append(c.all, set)
		for rows := 1; rows <= maxRows; rows++ {
			s, err := newRowsSlot(m, data, so, rows)
			if err != nil {
				c.destroy()
				return nil, err
			}
			set.slots = append(set.slots, s)
		}
		c.sets <- set
	}
	return c, nil
}

// predict runs one row through c, alone or with others.
func (c *coalescer) predict(features []float32, deadline time.Time) (float64, error) {
	w := waiters.Get().(*waiter)
	w.features, w.deadline = features, deadline
	c.mu.Lock()
	if g := c.forming; g != nil {
		g.members = append(g.members, w)
		if len(g.members) < c.maxRows {
			c.mu.Unlock()
			<-w.done
			return w.result()
		}
		c.forming = nil // full: this call runs it, the next starts another
		c.mu.Unlock()
		c.lead(g, w)
		return w.result()
	}
	g := groups.Get().(*group)
	g.members = append(g.members[:0], w)
	c.forming = g
	c.formed++
	mine := c.formed
	c.mu.Unlock()
	runtime.Gosched() // let requests already runnable join the batch
	c.mu.Lock()
	if c.forming != nil && c.formed == mine {
		c.forming = nil // still open: close and run it
		c.mu.Unlock()
		c.lead(g, w)
		return w.result()
	}
	c.mu.Unlock()
	<-w.done // a call that filled it ran it
	return w.result()
}

// result returns the call's result and recycles w.
func (w *waiter) result() (float64, error) {
	v, err := w.v, w.err
	w.features = nil
	waiters.Put(w)
	return v, err
}

// lead runs a closed batch on a free session set (waiting for one within
// the batch's deadline), hands each member its result and recycles g.
// runner is the member running it, which reads its result on return.
func (c *coalescer) lead(g *group, runner *waiter) {
	batch := g.members
	deadline := batch[0].deadline
	for _, w := range batch[1:] {
		if !w.deadline.IsZero() && (deadline.IsZero() || w.deadline.Before(deadline)) {
			deadline = w.deadline
		}
	}
	var set *slotSet
	select {
	case set = <-c.sets:
	default:
		var expired <-chan time.Time
		var t *time.Timer
		if !deadline.IsZero() {
			t = time.NewTimer(time.Until(deadline))
			expired = t.C
		}
		select {
		case set = <-c.sets:
		case <-expired:
		}
		if t != nil {
			t.Stop()
		}
	}
	if set == nil {
		for _, w := range batch {
			w.v, w.err = math.NaN(), ErrTimeout
		}
	} else {
		c.m.met.runs.Inc()
		c.run(set, batch, deadline)
		c.sets <- set
	}
	for _, w := range batch {
		if w != runner {
			w.done <- struct{}{}
		}
	}
	clear(g.members)
	groups.Put(g)
}

// run evaluates a batch on set and sets each call's result. If the batch
// Run fails, each row is run alone so that one row's failure is that
// row's alone.
func (c *coalescer) run(set *slotSet, batch []*waiter, deadline time.Time) {
	n := len(batch)
	s := set.slots[n-1]
	in := s.in.GetData()
	for j, w := range batch {
		copy(in[j*c.m.features:], w.features)
	}
	out := set.out[:n]
	err := s.runRows(out, deadline)
	if err != nil && n > 1 {
		for _, w := range batch {
			w.v, w.err = set.slots[0].run(w.features, w.deadline)
		}
		return
	}
	for j, w := range batch {
		w.v, w.err = out[j], err
		if err != nil {
			w.v = math.NaN()
		}
	}
}

func (c *coalescer) destroy() {
	for _, set := range c.all {
		for _, s := range set.slots {
			s.destroy()
		}
	}
}
