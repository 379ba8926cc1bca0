package vm

import (
	bin "encoding/binary"
	"errors"
	"math"
	"time"
)

// ModelRunner runs the models a program declares. The VM owns this
// interface; the models package provides the ONNX implementation.
// Predict gets the features in the model's declared order and returns
// the selected output. It must be safe for concurrent use.
type ModelRunner interface {
	Predict(model int, features []float32) (float64, error)
}

// WindowKey identifies the entity a window aggregates over: a string key
// or a numeric one, whichever the window's `by` input is.
type WindowKey struct {
	Str string
	Num float64
}

// WindowObs is one window's part of a request: the key, the event time t
// (Unix seconds), the value (v, or s for count_distinct of strings) and
// whether the event counts in this window (its `on` events and `where`
// condition); a window that does not count the event is still read.
type WindowObs struct {
	Key  WindowKey
	T, V float64
	S    string
	Add  bool
}

// WindowStore keeps velocity windows. Observe gets every window of a
// request at once (obs[w] is window w), so a remote store can serve them
// in one round trip, adds the events whose Add is set and writes each
// window's aggregate, including the new event, to out[w]. An error means
// the store could not be reached: out then holds the store's declared
// fallback and the decision is marked degraded.
type WindowStore interface {
	Observe(obs []WindowObs, out []float64) error
}

// Request is one decoded request: the event name and a value per input.
// Num and Str are indexed by slot; Present by input index.
type Request struct {
	ID      string
	Event   string
	Num     []float64
	Str     []string
	Present []bool
	// Time is the evaluation time (Unix seconds) used by windows when the
	// policy has no `ts` input; zero means time.Now.
	Time float64
	// Degraded marks the decision degraded: the caller could not fetch a
	// lookup and its fields read as absent.
	Degraded bool
}

// NewRequest returns an empty request sized for p.
func (p *Program) NewRequest() *Request {
	return &Request{Num: make([]float64, p.NumSlots), Str: make([]string, p.StrSlots), Present: make([]bool, len(p.Inputs))}
}

// Reset clears r for reuse with the same program.
func (r *Request) Reset() {
	r.ID, r.Event, r.Time = "", "", 0
	clear(r.Num)
	clear(r.Str)
	clear(r.Present)
}

// Fired is a rule that fired in a decision.
type Fired struct {
	Rule   int
	Name   string
	Reason string
	Weight float64 // 0 for rules that force an action
	Forced bool
	Action Action // when Forced
	// AtLeast marks a forced action that is a floor (emit at_least).
	AtLeast bool
}

// ModelOutput is the value a model produced for a decision.
type ModelOutput struct {
	Name     string
	Value    float64
	Degraded bool // the model failed and on_error was used
	Ran      bool // false when no evaluated rule needed the model
}

// TraceStep is one executed instruction, recorded when tracing is on.
type TraceStep struct {
	PC     int
	Instr  Instr
	Line   int32
	Top    float64 // top of the number stack after the step (0 if empty)
	Depth  int     // depth of the number stack after the step
	SDepth int     // depth of the string stack after the step
}

// Decision is the outcome of evaluating one request. It belongs to the
// Machine that produced it and is overwritten by its next Eval.
type Decision struct {
	Action   Action
	Score    float64 // sigmoid(bias + sum of fired weights)
	Logit    float64 // bias + sum of fired weights
	Fired    []Fired
	Models   []ModelOutput
	Degraded bool
	Trace    []TraceStep // only when Machine.Trace is set
}

// Machine evaluates requests against one Program. It is not safe for
// concurrent use; take one per goroutine from Program.Machine (pooled).
type Machine struct {
	prog    *Program
	params  []float64
	f       []float64
	s       []string
	num     []float64 // slots
	str     []string
	present []bool
	fired   []bool
	ran     []bool
	feats   []float32
	obs     []WindowObs // this request's window events, flushed after the last window
	wout    []float64
	keyBuf  []byte
	event   int
	d       Decision

	// Models and Windows serve MODEL and OBSERVE; nil models make every
	// model call fall back to on_error, nil windows make them read 0.
	Models  ModelRunner
	Windows WindowStore
	// Trace records every executed instruction in Decision.Trace.
	Trace bool
}

// NewMachine returns a machine for p using its own parameter values.
func (p *Program) NewMachine() *Machine {
	maxIn := 0
	for _, md := range p.Models {
		maxIn = max(maxIn, len(md.InputSlots))
	}
	m := &Machine{
		prog:    p,
		params:  p.ParamValues(),
		f:       make([]float64, 0, p.maxF),
		s:       make([]string, 0, p.maxS),
		num:     make([]float64, p.NumSlots),
		str:     make([]string, p.StrSlots),
		present: make([]bool, len(p.Inputs)),
		fired:   make([]bool, len(p.Rules)),
		ran:     make([]bool, len(p.Models)),
		feats:   make([]float32, maxIn),
		obs:     make([]WindowObs, len(p.Windows)),
		wout:    make([]float64, len(p.Windows)),
	}
	m.d.Fired = make([]Fired, 0, len(p.Rules))
	m.d.Models = make([]ModelOutput, len(p.Models))
	return m
}

// Machine takes a pooled machine for p; give it back with Release. The
// pool lives in the Program, so a replaced program and its machines are
// garbage once nothing refers to them.
func (p *Program) Machine() *Machine {
	if m, ok := p.machines.Get().(*Machine); ok {
		return m
	}
	return p.NewMachine()
}

// Release returns m to its program's pool.
func (m *Machine) Release() {
	m.Models, m.Windows, m.Trace = nil, nil, false
	for i := range m.params { // not ParamValues, which allocates
		m.params[i] = m.prog.Params[i].Value
	}
	m.prog.machines.Put(m)
}

// Program returns the program m evaluates.
func (m *Machine) Program() *Program { return m.prog }

// SetParams replaces the parameter values m uses (len must match).
func (m *Machine) SetParams(values []float64) {
	copy(m.params, values)
}

// ErrUnknownEvent is returned for an event the policy does not handle.
var ErrUnknownEvent = errors.New("unknown event")

// Eval evaluates req and returns the decision, valid until the next Eval.
func (m *Machine) Eval(req *Request) (*Decision, error) {
	p := m.prog
	m.event = p.EventIndex(req.Event)
	if m.event < 0 && p.EventsDeclared {
		return nil, ErrUnknownEvent
	}
	copy(m.num, req.Num)
	copy(m.str, req.Str)
	copy(m.present, req.Present)
	clear(m.fired)
	clear(m.ran)
	m.d.Fired = m.d.Fired[:0]
	m.d.Trace = m.d.Trace[:0]
	m.d.Degraded = false
	for i := range m.d.Models {
		m.d.Models[i] = ModelOutput{Name: p.Models[i].Name}
	}
	m.run(m.eventTime(req))
	m.decide()
	m.d.Degraded = m.d.Degraded || req.Degraded
	return &m.d, nil
}

func (m *Machine) eventTime(req *Request) float64 {
	if m.prog.TimeSlot >= 0 {
		return m.num[m.prog.TimeSlot]
	}
	if req.Time != 0 {
		return req.Time
	}
	return float64(time.Now().UnixNano()) / 1e9
}

// decide combines fired rules into the score and the action.
func (m *Machine) decide() {
	p := m.prog
	d := &p.Decide
	logit := d.Bias
	if d.BiasParam >= 0 {
		logit = m.params[d.BiasParam]
	}
	forced, anyForced, floor := Approve, false, Approve
	for i := range m.d.Fired {
		f := &m.d.Fired[i]
		switch {
		case f.Forced && f.AtLeast:
			floor = max(floor, f.Action)
		case f.Forced:
			forced, anyForced = max(forced, f.Action), true
		default:
			logit += f.Weight
		}
	}
	m.d.Logit = logit
	m.d.Score = 1 / (1 + math.Exp(-logit))
	m.d.Action = d.Choose(m.d.Score, m.params, forced, anyForced, floor)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// fire records rule r as fired.
func (m *Machine) fire(r int) {
	rule := &m.prog.Rules[r]
	m.fired[r] = true
	w := rule.WeightUnder(m.params)
	if rule.Forces {
		w = 0
	}
	m.d.Fired = append(m.d.Fired, Fired{Rule: r, Name: rule.Name, Reason: rule.Reason, Weight: w, Forced: rule.Forces, Action: rule.Action, AtLeast: rule.AtLeast})
}

// listens reports whether rule r runs for the current event.
func (m *Machine) listens(r int) bool {
	ev := m.prog.ruleEvents[r]
	return ev == nil || (m.event >= 0 && ev[m.event])
}

// model returns model i's output, running it on first use.
func (m *Machine) model(i int) float64 {
	md := &m.prog.Models[i]
	if m.ran[i] {
		return m.num[md.Slot]
	}
	m.ran[i] = true
	out := &m.d.Models[i]
	out.Ran = true
	v := md.OnError
	if m.Models == nil {
		out.Degraded = true
	} else {
		feats := m.feats[:len(md.InputSlots)]
		for j, s := range md.InputSlots {
			feats[j] = float32(m.num[s])
		}
		r, err := m.Models.Predict(i, feats)
		if err != nil || math.IsNaN(r) {
			out.Degraded = true
		} else {
			v = r
		}
	}
	if out.Degraded {
		m.d.Degraded = true
	}
	out.Value = v
	m.num[md.Slot] = v
	return v
}

// observe records window w's event; after the last window (the compiler
// emits them in order, the verifier checks it) the store gets them all at
// once and the aggregates go to their slots.
func (m *Machine) observe(w int, t, v float64, s string, cond float64) {
	win := &m.prog.Windows[w]
	o := &m.obs[w]
	o.T, o.V, o.S = t, v, s
	o.Add = cond != 0 && m.windowListens(w)
	o.Key = m.windowKey(win)
	if w < len(m.obs)-1 {
		return
	}
	if m.Windows == nil {
		clear(m.wout)
	} else if err := m.Windows.Observe(m.obs, m.wout); err != nil {
		m.d.Degraded = true
	}
	for i := range m.prog.Windows {
		m.num[m.prog.Windows[i].Slot] = m.wout[i]
		m.obs[i].S = ""
	}
}

// windowKey reads a window's key: the input itself for one key, or for a
// tuple an encoding of every part (type tag, length, bytes) that no two
// different tuples share.
func (m *Machine) windowKey(win *Window) WindowKey {
	if len(win.Keys) == 1 {
		if k := win.Keys[0]; k.String {
			return WindowKey{Str: m.str[k.Slot]}
		} else {
			return WindowKey{Num: m.num[k.Slot]}
		}
	}
	b := m.keyBuf[:0]
	for _, k := range win.Keys {
		if k.String {
			s := m.str[k.Slot]
			b = append(b, 's')
			b = bin.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		} else {
			b = append(b, 'n')
			b = bin.LittleEndian.AppendUint64(b, math.Float64bits(m.num[k.Slot]))
		}
	}
	m.keyBuf = b
	return WindowKey{Str: string(b)}
}

// windowListens reports whether window w counts the current event.
func (m *Machine) windowListens(w int) bool {
	ev := m.prog.windowEvents[w]
	return ev == nil || (m.event >= 0 && ev[m.event])
}

// NumSlot returns number slot i after the last evaluation: how tools
// such as the trainer read values a program stored (see compiler.ProbeProgram).
func (m *Machine) NumSlot(i uint32) float64 { return m.num[i] }

// FiredRule reports whether rule r fired in the last evaluation.
func (m *Machine) FiredRule(r int) bool { return m.fired[r] }

const minLog = -744.4400719213812 // ln of the smallest positive float64

func hourOf(t float64) float64 {
	sec := math.Mod(math.Floor(t), 86400)
	if sec < 0 {
		sec += 86400
	}
	return math.Floor(sec / 3600)
}

func weekdayOf(t float64) float64 {
	days := math.Floor(t / 86400)
	wd := math.Mod(days+4, 7) // 1970-01-01 was a Thursday
	if wd < 0 {
		wd += 7
	}
	return wd
}

func safeDiv(x, y float64) float64 {
	if y == 0 {
		return 0
	}
	return x / y
}

func safeMod(x, y float64) float64 {
	if y == 0 {
		return 0
	}
	return math.Mod(x, y)
}

func safeLog(x float64) float64 {
	if x <= 0 {
		return minLog
	}
	return math.Log(x)
}

func safeSqrt(x float64) float64 {
	if x < 0 {
		return 0
	}
	return math.Sqrt(x)
}
