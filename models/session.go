package models

import (
	"fmt"
	"math"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// slot is one session serving single-row calls, with its tensors and run
// options allocated once. One call at a time uses a slot.
//
// Timeouts: each slot has a timer (time.AfterFunc, created once and reset
// per call, so no goroutine is started per call) that sets the terminate
// flag of the slot's RunOptions when the deadline passes during a Run.
// onnxruntime checks the flag between the graph's nodes, so the Run
// returns with an error at the next node boundary; a single long node
// (one big tree ensemble, say) is not interrupted, and the caller waits
// for it to end. The result of a call that passed its deadline is never
// used: it is a timeout, and the flag is cleared before the slot is reused.
type slot struct {
	m    *model
	sess *ort.AdvancedSession // tensor outputs: bound to in and out
	in   *ort.Tensor[float32] // [1, features]
	out  ort.Value            // tensor outputs: preallocated from the probe's shape
	o32  []float32
	o64  []float64
	ins  []ort.Value // {in}, for the shared session (map outputs)
	ro   *ort.RunOptions
	tm   *time.Timer
	one  [1]float64 // the value read from a map output

	mu       sync.Mutex // guards the fields below, shared with the timer
	running  bool
	fired    bool
	deadline time.Time
}

func newSlot(m *model, data []byte, so *ort.SessionOptions) (_ *slot, err error) {
	s := &slot{m: m}
	defer func() {
		if err != nil {
			s.destroy()
		}
	}()
	if s.in, err = ort.NewEmptyTensor[float32](ort.NewShape(1, int64(m.features))); err != nil {
		return nil, err
	}
	s.ins = []ort.Value{s.in}
	if s.ro, err = ort.NewRunOptions(); err != nil {
		return nil, err
	}
	s.tm = time.AfterFunc(time.Hour, s.expire)
	s.tm.Stop()
	switch m.sel.kind {
	case outFloat:
		t, e := ort.NewEmptyTensor[float32](m.outShape)
		s.out, s.o32, err = t, t.GetData(), e
	case outDouble:
		t, e := ort.NewEmptyTensor[float64](m.outShape)
		s.out, s.o64, err = t, t.GetData(), e
	default:
		return s, nil // maps run on the shared session
	}
	if err != nil {
		s.out = nil
		return nil, err
	}
	s.sess, err = ort.NewAdvancedSessionWithONNXData(data, []string{m.facts.inName}, []string{m.facts.outName},
		[]ort.Value{s.in}, []ort.Value{s.out}, so)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// expire runs on the timer's goroutine when a deadline passes.
func (s *slot) expire() {
	s.mu.Lock()
	if s.running && !time.Now().Before(s.deadline) {
		s.fired = true
		s.ro.Terminate()
	}
	s.mu.Unlock()
}

// run evaluates one row. The slot is the caller's until it returns.
// A zero deadline means no timeout.
func (s *slot) run(features []float32, deadline time.Time) (float64, error) {
	copy(s.in.GetData(), features)
	if !deadline.IsZero() {
		wait := time.Until(deadline)
		if wait <= 0 {
			return math.NaN(), ErrTimeout
		}
		s.mu.Lock()
		s.running, s.fired, s.deadline = true, false, deadline
		s.mu.Unlock()
		s.tm.Reset(wait)
	}

	var v float64
	var err error
	if s.sess != nil {
		err = s.sess.RunWithOptions(s.ro)
		if err == nil {
			if s.o32 != nil {
				v = float64(s.o32[s.m.sel.col])
			} else {
				v = s.o64[s.m.sel.col]
			}
		}
	} else {
		v, err = s.runShared()
	}

	fired := false
	if !deadline.IsZero() {
		s.tm.Stop()
		s.mu.Lock()
		s.running = false
		fired = s.fired
		if fired {
			s.fired = false
			s.ro.UnsetTerminate()
		}
		s.mu.Unlock()
	}
	if fired {
		return math.NaN(), ErrTimeout
	}
	if err != nil {
		return math.NaN(), fmt.Errorf("model %q: %w", s.m.info.Name, err)
	}
	return v, nil
}

// runShared runs the row on the model's shared session; onnxruntime
// allocates the output.
func (s *slot) runShared() (float64, error) {
	outs := []ort.Value{nil}
	if err := s.m.dyn.RunWithOptions(s.ins, outs, s.ro); err != nil {
		return 0, err
	}
	defer outs[0].Destroy()
	if err := s.m.sel.read(outs[0], s.one[:]); err != nil {
		return 0, err
	}
	return s.one[0], nil
}

func (s *slot) destroy() {
	if s.tm != nil {
		s.tm.Stop()
	}
	if s.sess != nil {
		s.sess.Destroy()
	}
	if s.out != nil {
		s.out.Destroy()
	}
	if s.in != nil {
		s.in.Destroy()
	}
	if s.ro != nil {
		s.ro.Destroy()
	}
}
