package lang

// Node is any syntax tree node; Pos is where its text starts.
type Node interface {
	Position() Pos
}

// File is one parsed policy source file.
type File struct {
	Path     string
	Src      []byte
	Policy   *PolicyDecl
	Decls    []Decl
	Comments []*Comment // every comment of the file, in source order
}

// Position implements Node.
func (f *File) Position() Pos {
	if f.Policy != nil {
		return f.Policy.Pos
	}
	return Pos{File: &f.Path}
}

// Comment is a `#` or `//` comment, kept so the printer can re-emit it.
type Comment struct {
	Pos  Pos
	Text string // including the leading # or //
}

// Decl is a top-level declaration.
type Decl interface {
	Node
	declNode()
}

// PolicyDecl is the `policy NAME version "V"` header.
type PolicyDecl struct {
	Pos     Pos
	Name    *Ident
	Version *StringLit // nil when omitted
}

// EventsDecl declares the event types rules may listen to: `events a, b`.
type EventsDecl struct {
	Pos   Pos
	Names []*Ident
}

// InputDecl is the `input { ... }` block describing request features.
type InputDecl struct {
	Pos    Pos
	Fields []*Field
	Rbrace Pos
}

// Field is one input feature: `name type [optional|default v] [bounds]`.
type Field struct {
	Pos      Pos
	Name     *Ident
	Type     *Ident
	Optional bool
	Default  Expr     // a literal, or nil
	Bounds   []*Bound // value constraints checked on decode
}

// Bound constrains an input's value: `>= 0`, `< 100`, or `between 1 and 5`.
type Bound struct {
	Pos Pos
	Op  string // ">=", ">", "<=", "<" or "between"
	Lo  Expr   // the bound for comparisons; the lower bound for between
	Hi  Expr   // upper bound for between, else nil
}

// ListDecl is `list NAME = file "path"` or `list NAME = [lit, ...]`.
type ListDecl struct {
	Pos   Pos
	Name  *Ident
	File  *StringLit // file-backed list, or nil
	Items []Expr     // inline literal items when File is nil
}

// ModelDecl is `model NAME = onnx "path" { ... }`.
type ModelDecl struct {
	Pos         Pos
	Name        *Ident
	Kind        *Ident // "onnx"
	Path        *StringLit
	Inputs      []*Ident   // feature order of the input tensor
	Output      *StringLit // output tensor name
	OutputIndex *NumberLit // index into the output, or nil for 0
	Timeout     *DurationLit
	OnError     *NumberLit // fallback value when the model fails
	Rbrace      Pos
}

// LookupDecl is `lookup NAME = redis "profile:{user_id}" { ... }`: stored
// features fetched by a key built from inputs, read as NAME.FIELD.
type LookupDecl struct {
	Pos     Pos
	Name    *Ident
	Kind    *Ident     // "redis" or "http"
	Key     *StringLit // key (redis) or URL (http) template with {input} holes
	Fields  []*LookupField
	TTL     *DurationLit
	Timeout *DurationLit
	OnError *Ident // "absent", the only fallback so far
	Rbrace  Pos
}

// LookupField is one `name type` entry of a lookup's fields.
type LookupField struct {
	Pos  Pos
	Name *Ident
	Type *Ident
}

// WindowDecl is `window NAME = agg(expr?) over DURATION by KEY
// [on EVENTS] [where CONDITION]`; KEY is an input or a tuple `(a, b)`.
type WindowDecl struct {
	Pos   Pos
	Name  *Ident
	Agg   *Ident // count, sum, avg, min, max, count_distinct
	Arg   Expr   // nil for count()
	Over  *DurationLit
	By    []*Ident // one input, or the parts of a tuple key
	Tuple bool     // By was written in parentheses
	On    []*Ident // events the window counts; empty: every event
	Where Expr     // condition an event must meet to count; nil: none
}

// LetDecl is `let NAME = expr`, computed once per request.
type LetDecl struct {
	Pos   Pos
	Name  *Ident
	Value Expr
}

// RuleDecl is `rule NAME [on EVENTS] when EXPR emit ACTION reason "..."`.
type RuleDecl struct {
	Pos    Pos
	Name   *Ident
	On     []*Ident // empty: every event
	When   Expr
	Emit   *Emit
	Reason *StringLit
}

// Emit is what a firing rule contributes: a score weight or a forced
// action, which overrides the score's action (`emit review`) or is a
// floor under it (`emit at_least review`).
type Emit struct {
	Pos     Pos
	Score   Expr   // weight expression for `emit score W`, else nil
	AtLeast bool   // the action is a floor: `emit at_least ACTION`
	Action  *Ident // reject, review or approve when Score is nil
}

// DecideDecl turns the score into an action.
type DecideDecl struct {
	Pos       Pos
	Bias      Expr // nil when omitted (bias 0)
	BiasPos   Pos
	Cuts      []*Cut
	Otherwise *Ident
	Rbrace    Pos
}

// Cut is one `ACTION when score >= T` line of a decide block.
type Cut struct {
	Pos       Pos
	Action    *Ident
	Op        string // ">=" or ">"
	Threshold Expr
}

func (*EventsDecl) declNode() {}
func (*InputDecl) declNode()  {}
func (*ListDecl) declNode()   {}
func (*ModelDecl) declNode()  {}
func (*LookupDecl) declNode() {}
func (*WindowDecl) declNode() {}
func (*LetDecl) declNode()    {}
func (*RuleDecl) declNode()   {}
func (*DecideDecl) declNode() {}

// Position implements Node.
func (d *PolicyDecl) Position() Pos { return d.Pos }

// Position implements Node.
func (d *EventsDecl) Position() Pos { return d.Pos }

// Position implements Node.
func (d *InputDecl) Position() Pos { return d.Pos }

// Position implements Node.
func (d *Field) Position() Pos { return d.Pos }

// Position implements Node.
func (d *Bound) Position() Pos { return d.Pos }

// Position implements Node.
func (d *ListDecl) Position() Pos { return d.Pos }

// Position implements Node.
func (d *ModelDecl) Position() Pos { return d.Pos }

// Position implements Node.
func (d *LookupDecl) Position() Pos { return d.Pos }

// Position implements Node.
func (d *LookupField) Position() Pos { return d.Pos }

// Position implements Node.
func (d *WindowDecl) Position() Pos { return d.Pos }

// Position implements Node.
func (d *LetDecl) Position() Pos { return d.Pos }

// Position implements Node.
func (d *RuleDecl) Position() Pos { return d.Pos }

// Position implements Node.
func (d *Emit) Position() Pos { return d.Pos }

// Position implements Node.
func (d *DecideDecl) Position() Pos { return d.Pos }

// Position implements Node.
func (d *Cut) Position() Pos { return d.Pos }

// Expr is an expression node.
type Expr interface {
	Node
	exprNode()
}

// Ident is a name: of a declaration, or a reference to one.
type Ident struct {
	Pos  Pos
	Name string
}

// NumberLit is a numeric literal. A leading minus is folded into the
// literal, so `-2` is one NumberLit; End is the offset just past its text,
// which lets the trainer rewrite the number in place.
type NumberLit struct {
	Pos   Pos
	End   int32
	Raw   string // source text without `fixed`, e.g. "-2.50"
	Value float64
	IsInt bool // written without '.' or exponent
	Fixed bool // `fixed`: excluded from training
}

// DurationLit is a duration literal such as 90s, 1h30m or 7d.
type DurationLit struct {
	Pos     Pos
	End     int32
	Raw     string
	Seconds float64
	Fixed   bool
}

// StringLit is a double-quoted string literal (Value is unquoted).
type StringLit struct {
	Pos   Pos
	Value string
}

// BoolLit is true or false.
type BoolLit struct {
	Pos   Pos
	Value bool
}

// ListLit is an inline set `[a, b, c]`, the right side of `in`.
type ListLit struct {
	Pos   Pos
	Items []Expr
}

// Call is a function call `fn(args...)`.
type Call struct {
	Pos  Pos
	Fn   *Ident
	Args []Expr
}

// Unary is `-x` or `not x`.
type Unary struct {
	Pos Pos
	Op  string // "-" or "not"
	X   Expr
}

// Binary is `x OP y` for arithmetic, comparison, and/or, `in`, `not in`.
type Binary struct {
	Pos   Pos // of X
	OpPos Pos
	Op    string
	X, Y  Expr
}

// Between is `x between lo and hi` (inclusive on both ends).
type Between struct {
	Pos       Pos
	X, Lo, Hi Expr
}

// Paren is a parenthesised expression, kept so the printer preserves it.
type Paren struct {
	Pos Pos
	X   Expr
}

func (*Ident) exprNode()       {}
func (*NumberLit) exprNode()   {}
func (*DurationLit) exprNode() {}
func (*StringLit) exprNode()   {}
func (*BoolLit) exprNode()     {}
func (*ListLit) exprNode()     {}
func (*Call) exprNode()        {}
func (*Unary) exprNode()       {}
func (*Binary) exprNode()      {}
func (*Between) exprNode()     {}
func (*Paren) exprNode()       {}

// Position implements Node.
func (x *Ident) Position() Pos { return x.Pos }

// Position implements Node.
func (x *NumberLit) Position() Pos { return x.Pos }

// Position implements Node.
func (x *DurationLit) Position() Pos { return x.Pos }

// Position implements Node.
func (x *StringLit) Position() Pos { return x.Pos }

// Position implements Node.
func (x *BoolLit) Position() Pos { return x.Pos }

// Position implements Node.
func (x *ListLit) Position() Pos { return x.Pos }

// Position implements Node.
func (x *Call) Position() Pos { return x.Pos }

// Position implements Node.
func (x *Unary) Position() Pos { return x.Pos }

// Position implements Node.
func (x *Binary) Position() Pos { return x.Pos }

// Position implements Node.
func (x *Between) Position() Pos { return x.Pos }

// Position implements Node.
func (x *Paren) Position() Pos { return x.Pos }

// Unparen strips any number of enclosing parentheses.
func Unparen(e Expr) Expr {
	for {
		p, ok := e.(*Paren)
		if !ok {
			return e
		}
		e = p.X
	}
}
