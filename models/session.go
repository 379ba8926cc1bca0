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
	rows int                  // rows per Run
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
	return newRowsSlot(m, data, so, 1)
}

// newRowsSlot returns a slot whose tensors hold rows rows (rows > 1 only
// for tensor outputs whose first dimension is the batch).
func newRowsSlot(m *model, data []byte, so *ort.SessionOptions, rows int) (_ *slot, err error) {
	s := &slot{m: m, rows: rows}
	defer func() {
		if err != nil {
			s.destroy()
		}
	}()
	if s.in, err = ort.NewEmptyTensor[float32](ort.NewShape(int64(rows), int64(m.features))); err != nil {
		return nil, err
	}
	outShape := m.outShape
	if rows > 1 {
		outShape = append(ort.Shape(nil), m.outShape...)
		outShape[0] = int64(rows)
	}
	s.ins = []ort.Value{s.in}
	if s.ro, err = ort.NewRunOptions(); err != nil {
		return nil, err
	}
	s.tm = time.AfterFunc(time.Hour, s.expire)
	s.tm.Stop()
	switch m.sel.kind {
	case outFloat:
		t, e := ort.NewEmptyTensor[float32](outShape)
		s.out, s.o32, err = t, t.GetData(), e
	case outDouble:
		t, e := ort.NewEmptyTensor[float64](outShape)
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
	if !s.begin(deadline) {
		return math.NaN(), ErrTimeout
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
	if err = s.finish(deadline, err); err != nil {
		return math.NaN(), err
	}
	return v, nil
}

// runRows evaluates the slot's rows, already written to its input
// tensor, and writes the declared value of each row to out.
func (s *slot) runRows(out []float64, deadline time.Time) error {
	if !s.begin(deadline) {
		return ErrTimeout
	}
	err := s.sess.RunWithOptions(s.ro)
	if err == nil {
		w, col := s.m.sel.width, s.m.sel.col
		for r := range out {
			if s.o32 != nil {
				out[r] = float64(s.o32[r*w+col])
			} else {
				out[r] = s.o64[r*w+col]
			}
		}
	}
	return s.finish(deadline, err)
}

// begin arms the slot's timer for a Run with the deadline (none when
// zero); false: the deadline has passed.
func (s *slot) begin(deadline time.Time) bool {
	if deadline.IsZero() {
		return true
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		return false
	}
	s.mu.Lock()
	s.running, s.fired, s.deadline = true, false, deadline
	s.mu.Unlock()
	s.tm.Reset(wait)
	return true
}

// finish disarms the timer after a Run and returns the call's error:
// ErrTimeout when the timer fired, else the Run's error named.
func (s *slot) finish(deadline time.Time, err error) error {
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
		return ErrTimeout
	}
	if err != nil {
		return fmt.Errorf("model %q: %w", s.m.info.Name, err)
	}
	return nil
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
