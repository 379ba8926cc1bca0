package models

import (
	"math"
	"runtime"
	"sync"
	"time"
)

// Coalescing concurrent single-row calls of one model into one Run
// (Options.Coalesce). onnxruntime's cost per Run is mostly fixed (3–4 µs
// here for either example model; a second row adds 0.1–1 µs), so rows
// that arrive together are cheaper run together.
//
// There is no timer: the first caller to find no batch forming becomes
// the leader, yields its core once (runtime.Gosched) so that requests
// already runnable can reach the model and join, then takes up to
// maxRows queued rows and runs them. Calls arriving during that Run
// queue up; when it ends the oldest of them leads the next batch at once.
// On an idle server the yield returns at once and a call runs alone; the
// wait is bounded by one pass of the runnable goroutines plus one Run.

// coalescer groups one model's concurrent calls.
type coalescer struct {
	m *model
	// slots[n-1] runs batches of n rows. Only the leader uses them.
	slots   []*slot
	mu      sync.Mutex
	leading bool // a leader is collecting or running a batch
	queue   []*waiter
	batch   []*waiter // the leader's batch (leader only)
	out     []float64
}

// waiter is one call waiting in a coalescer's queue.
type waiter struct {
	features []float32
	deadline time.Time
	v        float64
	err      error
	lead     bool          // woken to lead the next batch
	done     chan struct{} // cap 1: result ready, or lead
}

var waiters = sync.Pool{New: func() any { return &waiter{done: make(chan struct{}, 1)} }}

// predict runs one row through c, alone or with others.
func (c *coalescer) predict(features []float32, deadline time.Time) (float64, error) {
	w := waiters.Get().(*waiter)
	w.features, w.deadline, w.lead = features, deadline, false
	c.mu.Lock()
	c.queue = append(c.queue, w)
	if c.leading {
		c.mu.Unlock()
		<-w.done
	} else {
		c.leading = true
		c.mu.Unlock()
		runtime.Gosched() // let requests already runnable join the batch
		w.lead = true
	}
	if w.lead {
		c.lead()
	}
	v, err := w.v, w.err
	w.features = nil
	waiters.Put(w)
	return v, err
}

// lead takes the queued calls (the leader's own first), runs them and
// hands the lead to the oldest call that queued meanwhile.
func (c *coalescer) lead() {
	c.mu.Lock()
	n := min(len(c.queue), len(c.slots))
	c.batch = append(c.batch[:0], c.queue[:n]...)
	rest := copy(c.queue, c.queue[n:])
	clear(c.queue[rest:])
	c.queue = c.queue[:rest]
	c.mu.Unlock()

	c.m.met.runs.Inc()
	c.run(c.batch)
	// The leader is batch[0]: it reads its own result when lead returns.
	for _, w := range c.batch[1:] {
		w.done <- struct{}{}
	}
	clear(c.batch) // before the next leader may use it

	c.mu.Lock()
	var next *waiter
	if len(c.queue) > 0 {
		next = c.queue[0]
		next.lead = true
	} else {
		c.leading = false
	}
	c.mu.Unlock()
	if next != nil {
		next.done <- struct{}{}
	}
}

// run evaluates a batch and sets each call's result. The batch's
// deadline is its earliest; if the batch Run fails, each row is run alone
// so that one row's failure is that row's alone.
func (c *coalescer) run(batch []*waiter) {
	n := len(batch)
	s := c.slots[n-1]
	in := s.in.GetData()
	deadline := batch[0].deadline
	for j, w := range batch {
		copy(in[j*c.m.features:], w.features)
		if !w.deadline.IsZero() && (deadline.IsZero() || w.deadline.Before(deadline)) {
			deadline = w.deadline
		}
	}
	out := c.out[:n]
	err := s.runRows(out, deadline)
	if err != nil && n > 1 {
		for _, w := range batch {
			w.v, w.err = c.slots[0].run(w.features, w.deadline)
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
	for _, s := range c.slots {
		s.destroy()
	}
}
