package compiler

import (
	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// Policy is a checked policy: every declaration resolved and typed. It is
// the input of lowering; nothing in it can fail to compile.
type Policy struct {
	File    *lang.File
	Name    string
	Version string
	Events  []string // declared events; empty when the policy declares none
	Inputs  []*Input
	Lists   []*List
	Models  []*Model
	Lookups []*Lookup
	Windows []*Window
	Lets    []*Let // in dependency order: a let comes after every let it uses
	Rules   []*Rule
	Decide  *Decide // nil when the policy has no decide block

	// Types holds the type of every checked expression.
	Types map[lang.Expr]Type
	// Uses maps every name reference in an expression to its symbol.
	Uses map[*lang.Ident]*Symbol
}

// SymbolKind says what a name refers to.
type SymbolKind uint8

// Kinds of symbols.
const (
	SymInput SymbolKind = iota
	SymList
	SymModel
	SymWindow
	SymLet
)

var symbolKindNames = [...]string{"input", "list", "model", "window", "let"}

func (k SymbolKind) String() string { return symbolKindNames[k] }

// article returns the kind with its indefinite article: "an input".
func (k SymbolKind) article() string {
	if k == SymInput {
		return "an input"
	}
	return "a " + k.String()
}

// Symbol is a named declaration that expressions can refer to.
type Symbol struct {
	Kind  SymbolKind
	Name  string
	Type  Type
	Pos   lang.Pos
	Index int // position in the Policy slice of its kind
	used  bool
}

// Input is one declared request feature.
type Input struct {
	Sym      *Symbol
	Decl     *lang.Field
	Optional bool
	Default  lang.Expr // literal or nil
	Min, Max float64   // bounds; -Inf/+Inf when absent
	MinOpen  bool      // Min excluded (`> N`)
	MaxOpen  bool      // Max excluded (`< N`)
	lookup   bool      // a lookup's field (LOOKUP.FIELD)
}

// List is a declared set of values.
type List struct {
	Sym  *Symbol
	Decl *lang.ListDecl
}

// Model is a declared ONNX model; its value is a float.
type Model struct {
	Sym     *Symbol
	Decl    *lang.ModelDecl
	Inputs  []*Symbol
	Timeout float64 // seconds
}

// Window is a declared velocity aggregate.
type Window struct {
	Sym  *Symbol
	Decl *lang.WindowDecl
	Agg  string
	By   []*Symbol // the key's inputs (a tuple when more than one)
	On   []string  // events counted; empty: every event
}

// Let is a named expression computed once per request.
type Let struct {
	Sym  *Symbol
	Decl *lang.LetDecl
}

// Action is what a decision says to do; the VM defines it.
type Action = vm.Action

// Actions, weakest first: when several rules force actions the strongest wins.
const (
	Approve = vm.Approve
	Review  = vm.Review
	Reject  = vm.Reject
)

// ParseAction maps an action name to its Action.
func ParseAction(s string) (Action, bool) { return vm.ParseAction(s) }

// Rule is a checked rule.
type Rule struct {
	Decl   *lang.RuleDecl
	Name   string
	On     []string // empty: every event
	Forces bool     // emits an action instead of a score
	Action Action   // when Forces
	// AtLeast makes Action a floor (`emit at_least review`): the
	// decision is at least Action, never lowered by it.
	AtLeast bool
	Weight  *lang.NumberLit
}

// Decide is the checked decide block.
type Decide struct {
	Decl      *lang.DecideDecl
	Bias      *lang.NumberLit // nil: 0
	Cuts      []Cut
	Otherwise Action
}

// Cut is one `ACTION when score >= T` line.
type Cut struct {
	Action    Action
	Inclusive bool // >= rather than >
	Threshold *lang.NumberLit
}
