package vm

import (
	"fmt"
	"sync"
)

// Type is the run-time type of an input, mirrored from the compiler so the
// artifact is self-describing.
type Type uint8

// Input types.
const (
	TInt Type = iota + 1
	TFloat
	TBool
	TString
	TTime
)

var typeNames = [...]string{0: "invalid", TInt: "int", TFloat: "float", TBool: "bool", TString: "string", TTime: "time"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "invalid"
}

// IsString reports whether values of t live in string slots.
func (t Type) IsString() bool { return t == TString }

// Action is the outcome of a decision; stronger actions have larger values.
type Action uint8

// Actions, weakest first: when several rules force actions the strongest wins.
const (
	Approve Action = iota
	Review
	Reject
)

var actionNames = [...]string{"approve", "review", "reject"}

// String returns the action's name.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "invalid"
}

// ParseAction maps a name to its Action.
func ParseAction(s string) (Action, bool) {
	for i, n := range actionNames {
		if n == s {
			return Action(i), true
		}
	}
	return 0, false
}

// Input describes one request feature and where it is stored.
type Input struct {
	Name     string
	Type     Type
	Slot     uint32 // number or string slot, by Type
	Optional bool
	Default  *Value // nil: required (unless Optional)
	Min, Max float64
	MinOpen  bool
	MaxOpen  bool
}

// Lookup is a declared source of stored features. The VM does not fetch
// (it does no I/O): the caller builds the key from the request, fetches
// the record and fills the Fields inputs (optional) before Eval, setting
// Request.Degraded when the fetch failed.
type Lookup struct {
	Name     string
	Source   string // redis or http
	Template string // the key (redis) or URL (http) as written
	Key      []LookupKeyPart
	Fields   []int32 // input indices; input names are NAME.FIELD
	TTL      float64 // seconds
	Timeout  float64 // seconds
}

// LookupKeyPart is literal text of a lookup key, or the value of Input (>= 0).
type LookupKeyPart struct {
	Lit   string
	Input int32
}

// Value is a literal value: a default or a parameter.
type Value struct {
	Num float64
	Str string
}

// ParamKind says what a parameter is in the source.
type ParamKind uint8

// Parameter kinds.
const (
	Threshold ParamKind = iota // a literal compared against a feature
	Weight                     // a rule's score weight
	Bias                       // the decide block's bias
	Cutoff                     // a decide threshold on the score
)

var paramKindNames = [...]string{"threshold", "weight", "bias", "cutoff"}

func (k ParamKind) String() string {
	if int(k) < len(paramKindNames) {
		return paramKindNames[k]
	}
	return "invalid"
}

// Param is one tunable number of the policy. Re-tuning a policy changes
// Params' values, never the code.
type Param struct {
	Name  string // e.g. "overdue.dti", "overdue.weight", "decide.bias"
	Kind  ParamKind
	Value float64
	IsInt bool   // compared against an int feature: stays an integer
	Unit  string // "" for numbers, "s" when the literal was a duration
	Line  int32  // source position of the literal
	Col   int32
	Off   int32 // byte span of the literal in the source
	End   int32
}

// List is a set used by `in`: a file-backed list or an inline literal set.
type List struct {
	Name    string   // "" for an inline set
	Path    string   // file the list came from, "" for inline
	Digest  [32]byte // SHA-256 of the file content
	Strings []string // for string lists
	Nums    []float64
	IsNum   bool
}

// Model is a declared model call.
type Model struct {
	Name       string
	Path       string
	Digest     [32]byte // SHA-256 of the model file when known
	InputSlots []uint32 // number slots, in tensor order
	Output     string
	Index      uint32
	TimeoutSec float64
	OnError    float64
	Slot       uint32 // number slot receiving the output
}

// Window is a declared velocity aggregate.
type Window struct {
	Name    string
	Agg     string // count, count_distinct, sum, avg, min, max
	OverSec float64
	Keys    []KeyPart // the `by` inputs: one, or a tuple
	Events  []uint32  // indexes into Program.Events it counts; empty = every event
	Where   string    // the `where` condition's source text, for signatures; "" = none
	Slot    uint32    // number slot receiving the aggregate
}

// KeyPart is one input of a window key.
type KeyPart struct {
	Slot   uint32
	String bool // the input lives in a string slot
}

// Rule is a rule's metadata; its condition is in Code.
type Rule struct {
	Name        string
	Reason      string
	Events      []uint32 // indexes into Program.Events; empty = every event
	Forces      bool
	Action      Action // when Forces
	AtLeast     bool   // with Forces: Action is a floor, not an override
	WeightParam int32  // index into Params, or -1 when the weight is fixed
	Weight      float64
	End         uint32 // pc just past the rule's code
	Line        int32
}

// WeightUnder is the rule's score weight under parameter values params
// (a Machine's, or Program.ParamValues): its parameter's value, or the
// fixed weight.
func (r *Rule) WeightUnder(params []float64) float64 {
	if r.WeightParam >= 0 {
		return params[r.WeightParam]
	}
	return r.Weight
}

// Cut is one `ACTION when score >= T` line of the decide block.
type Cut struct {
	Action    Action
	Inclusive bool
	Param     int32 // -1: fixed, use Value
	Value     float64
}

// Decide turns the score into an action.
type Decide struct {
	BiasParam int32 // -1: fixed, use Bias
	Bias      float64
	Cuts      []Cut
	Otherwise Action
}

// Choose is the one definition of the action a decision gets: the
// action of the first cut-off the score passes (cut-off values read from
// params when they are parameters), else Otherwise; a forced action
// (anyForced) overrides that, since an allow-list approve beats a high
// score and forced is the strongest of them; and a floor (emit at_least)
// raises the result, never lowers it. The Machine decides with it, and
// training calls it to re-decide rows under moved cut-offs.
func (d *Decide) Choose(score float64, params []float64, forced Action, anyForced bool, floor Action) Action {
	action := d.Otherwise
	for _, c := range d.Cuts {
		th := c.Value
		if c.Param >= 0 {
			th = params[c.Param]
		}
		if score > th || (c.Inclusive && score == th) {
			action = c.Action
			break
		}
	}
	if anyForced {
		action = forced
	}
	return max(action, floor)
}

// Program is a compiled policy. It is immutable once built and safe to
// share between goroutines; per-request state lives in a Machine.
type Program struct {
	Name         string
	Version      string
	SourcePath   string
	Source       string
	SourceSHA256 [32]byte

	// Events are the policy's declared events, or, when it declares none
	// (EventsDeclared false), the events its rules name in `on`. Only a
	// declared list restricts which events a request may carry.
	Events         []string
	EventsDeclared bool
	Inputs         []Input
	NumSlots       uint32
	StrSlots       uint32
	Params         []Param
	NumConsts      []float64
	StrConsts      []string
	Lists          []List
	Models         []Model
	Lookups        []Lookup
	Windows        []Window
	Rules          []Rule
	Decide         Decide

	// TimeSlot is the number slot of the event time input `ts`, or -1
	// when the policy has none (windows then use the evaluation time).
	TimeSlot int32

	Code  []Instr
	Lines []int32 // source line of each instruction

	// Filled by Prepare:
	maxF, maxS   int
	eventIndex   map[string]int
	inputIndex   map[string]int
	sets         []set
	ruleEvents   [][]bool   // [rule][event]
	windowEvents [][]bool   // [window][event]
	machines     *sync.Pool // per program, so a copy that is Prepared gets its own
}

// set is a list prepared for O(1) membership.
type set struct {
	strs map[string]struct{}
	nums map[float64]struct{}
}

// Prepare verifies the program and builds its lookup tables. Compile and
// Decode call it; a Program built by hand must call it before use.
func (p *Program) Prepare() error {
	if err := p.verify(); err != nil {
		return err
	}
	p.machines = &sync.Pool{}
	p.eventIndex = make(map[string]int, len(p.Events))
	for i, e := range p.Events {
		p.eventIndex[e] = i
	}
	p.inputIndex = make(map[string]int, len(p.Inputs))
	for i, in := range p.Inputs {
		p.inputIndex[in.Name] = i
	}
	p.sets = make([]set, len(p.Lists))
	for i, l := range p.Lists {
		p.sets[i] = newSet(l)
	}
	p.ruleEvents = make([][]bool, len(p.Rules))
	for i, r := range p.Rules {
		p.ruleEvents[i] = p.eventMask(r.Events)
	}
	p.windowEvents = make([][]bool, len(p.Windows))
	for i, w := range p.Windows {
		p.windowEvents[i] = p.eventMask(w.Events)
	}
	return nil
}

// eventMask marks, by index into p.Events, the events a rule or window
// names; nil when it names none and so applies to every event.
func (p *Program) eventMask(events []uint32) []bool {
	if len(events) == 0 {
		return nil
	}
	mask := make([]bool, len(p.Events))
	for _, e := range events {
		mask[e] = true
	}
	return mask
}

func newSet(l List) set {
	var s set
	if l.IsNum {
		s.nums = make(map[float64]struct{}, len(l.Nums))
		for _, v := range l.Nums {
			s.nums[v] = struct{}{}
		}
		return s
	}
	s.strs = make(map[string]struct{}, len(l.Strings))
	for _, v := range l.Strings {
		s.strs[v] = struct{}{}
	}
	return s
}

// InputIndex returns the index in Inputs of the named feature, or -1.
func (p *Program) InputIndex(name string) int {
	if i, ok := p.inputIndex[name]; ok {
		return i
	}
	return -1
}

// EventIndex returns the index of an event name, or -1.
func (p *Program) EventIndex(name string) int {
	if i, ok := p.eventIndex[name]; ok {
		return i
	}
	return -1
}

// ParamIndex returns the index of the named parameter, or -1.
func (p *Program) ParamIndex(name string) int {
	for i, prm := range p.Params {
		if prm.Name == name {
			return i
		}
	}
	return -1
}

// ParamValues returns a fresh copy of the parameter values, for callers
// that evaluate the program with tuned numbers (see Machine.SetParams).
func (p *Program) ParamValues() []float64 {
	v := make([]float64, len(p.Params))
	for i, prm := range p.Params {
		v[i] = prm.Value
	}
	return v
}

func (p *Program) String() string {
	return fmt.Sprintf("policy %s version %q (%d rules, %d params)", p.Name, p.Version, len(p.Rules), len(p.Params))
}

// WindowPrologue returns a program that only feeds the velocity windows:
// the window code that starts every program (compiled before any let or
// rule), then HALT. Replaying history through it in file order, and
// serving the recorded aggregates to the full program, lets a backtest
// evaluate rows in parallel without changing any window value.
func (p *Program) WindowPrologue() (*Program, error) {
	end := 0
	for pc, in := range p.Code {
		if in.Op == OBSERVE || in.Op == OBSERVES {
			end = pc + 1
		}
	}
	q := *p
	q.Code = append(append([]Instr(nil), p.Code[:end]...), Instr{Op: HALT})
	q.Lines = append(append([]int32(nil), p.Lines[:end]...), 0)
	q.Rules = nil
	if err := q.Prepare(); err != nil {
		return nil, fmt.Errorf("window prologue: %w", err)
	}
	return &q, nil
}
