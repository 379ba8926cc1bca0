package compiler

import (
	"fmt"
	"math"
	"sort"

	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// argClass is what a builtin accepts in one argument position.
type argClass uint8

const (
	argNumber argClass = iota
	argString
	argTime
	argDuration
)

var argClassNames = [...]string{"a number", "a string", "a time", "a duration"}

func (a argClass) accepts(t Type) bool {
	switch a {
	case argNumber:
		return t.IsNumber()
	case argString:
		return t == String
	case argTime:
		return t == Time
	default:
		return t == Duration
	}
}

// Result rules of builtins whose result type depends on the arguments.
const (
	resultSame  Type = 100 + iota // the first argument's type
	resultArith                   // int if every argument is int, else float
)

// signature describes a builtin with ordinary (eagerly checked) arguments.
type signature struct {
	args     []argClass
	variadic bool // the last class repeats; at least len(args) arguments
	result   Type
}

var (
	num  = []argClass{argNumber}
	num2 = []argClass{argNumber, argNumber}
	str  = []argClass{argString}
	str2 = []argClass{argString, argString}
	dur  = []argClass{argDuration}
)

// builtinForm is how a builtin is checked and lowered.
type builtinForm uint8

const (
	formOrdinary builtinForm = iota // arguments checked against sig; one instruction
	formUnit                        // days(d) and friends: lowered to d / Unit seconds
	formExists                      // special forms, checked and lowered on their own
	formCoalesce                    // (they interact with optional-input guards)
	formIf
	formFailed // failed(LOOKUP): reads the lookup's hidden input failed(LOOKUP)
)

// foldKind is how codegen folds a call whose arguments are constant.
type foldKind uint8

const (
	foldNone   foldKind = iota
	foldUnary           // vm.EvalUnary(Opcode, x)
	foldString          // vm.EvalString(Opcode, s, t)
)

// Builtin is one function of the library, defined once: the checker reads
// its signature, the lowerer its form and unit, codegen its opcode and
// folding, and the training graph (package rules) its name.
type Builtin struct {
	Name   string
	form   builtinForm
	sig    signature
	Opcode vm.Opcode // the instruction of an ordinary builtin
	Count  bool      // the instruction's operand is the argument count (min, max)
	fold   foldKind
	Unit   float64 // formUnit: seconds per unit
}

// builtinTable is the function library.
var builtinTable = []*Builtin{
	{Name: "exists", form: formExists},
	{Name: "coalesce", form: formCoalesce},
	{Name: "if", form: formIf},
	{Name: "failed", form: formFailed},
	{Name: "min", sig: signature{args: num2, variadic: true, result: resultArith}, Opcode: vm.MIN, Count: true},
	{Name: "max", sig: signature{args: num2, variadic: true, result: resultArith}, Opcode: vm.MAX, Count: true},
	{Name: "abs", sig: signature{args: num, result: resultSame}, Opcode: vm.ABS, fold: foldUnary},
	{Name: "round", sig: signature{args: num, result: Int}, Opcode: vm.ROUND, fold: foldUnary},
	{Name: "floor", sig: signature{args: num, result: Int}, Opcode: vm.FLOOR, fold: foldUnary},
	{Name: "ceil", sig: signature{args: num, result: Int}, Opcode: vm.CEIL, fold: foldUnary},
	{Name: "log", sig: signature{args: num, result: Float}, Opcode: vm.LOG, fold: foldUnary},
	{Name: "exp", sig: signature{args: num, result: Float}, Opcode: vm.EXP, fold: foldUnary},
	{Name: "sqrt", sig: signature{args: num, result: Float}, Opcode: vm.SQRT, fold: foldUnary},
	{Name: "clamp", sig: signature{args: []argClass{argNumber, argNumber, argNumber}, result: Float}, Opcode: vm.CLAMP},
	{Name: "lower", sig: signature{args: str, result: String}, Opcode: vm.LOWER},
	{Name: "upper", sig: signature{args: str, result: String}, Opcode: vm.UPPER},
	{Name: "len", sig: signature{args: str, result: Int}, Opcode: vm.LEN},
	{Name: "contains", sig: signature{args: str2, result: Bool}, Opcode: vm.CONTAIN, fold: foldString},
	{Name: "starts_with", sig: signature{args: str2, result: Bool}, Opcode: vm.STARTS, fold: foldString},
	{Name: "ends_with", sig: signature{args: str2, result: Bool}, Opcode: vm.ENDS, fold: foldString},
	{Name: "hour", sig: signature{args: []argClass{argTime}, result: Int}, Opcode: vm.HOUR, fold: foldUnary},
	{Name: "weekday", sig: signature{args: []argClass{argTime}, result: Int}, Opcode: vm.WEEKDAY, fold: foldUnary},
	{Name: "days", form: formUnit, sig: signature{args: dur, result: Float}, Unit: 86400},
	{Name: "hours", form: formUnit, sig: signature{args: dur, result: Float}, Unit: 3600},
	{Name: "minutes", form: formUnit, sig: signature{args: dur, result: Float}, Unit: 60},
	{Name: "seconds", form: formUnit, sig: signature{args: dur, result: Float}, Unit: 1},
}

// builtins finds a builtin by name.
var builtins = func() map[string]*Builtin {
	m := make(map[string]*Builtin, len(builtinTable))
	for _, b := range builtinTable {
		m[b.Name] = b
	}
	return m
}()

// FunctionNames lists every function of the library, sorted.
func FunctionNames() []string {
	names := make([]string, 0, len(builtinTable))
	for _, b := range builtinTable {
		names = append(names, b.Name)
	}
	sort.Strings(names)
	return names
}

func (c *checker) call(e *lang.Call, g guards) Type {
	b, ok := builtins[e.Fn.Name]
	if !ok {
		err := c.errs.Add(e.Fn.Pos, "unknown function %q", e.Fn.Name)
		err.Hint = suggest(e.Fn.Name, FunctionNames())
		for _, a := range e.Args {
			c.expr(a, g)
		}
		return Invalid
	}
	switch b.form {
	case formExists:
		return c.exists(e)
	case formCoalesce:
		return c.coalesce(e)
	case formIf:
		return c.ifCall(e, g)
	case formFailed:
		return c.failed(e)
	}
	sig := b.sig
	types := make([]Type, len(e.Args))
	for i, a := range e.Args {
		types[i] = c.expr(a, g)
	}
	if !c.arity(e, len(sig.args), sig.variadic) {
		return Invalid
	}
	for i, t := range types {
		class := sig.args[min(i, len(sig.args)-1)]
		if t == Invalid {
			return Invalid
		}
		if !class.accepts(t) {
			c.errs.Add(e.Args[i].Position(), "argument %d of %s must be %s, got %s", i+1, e.Fn.Name, argClassNames[class], t)
			return Invalid
		}
	}
	switch sig.result {
	case resultSame:
		return types[0]
	case resultArith:
		r := Int
		for _, t := range types {
			r = arith(r, t)
		}
		return r
	}
	return sig.result
}

// maxVariadic bounds min and max so one instruction covers a call.
const maxVariadic = 64

// arity reports (and returns false) when a call has the wrong number of
// arguments.
func (c *checker) arity(e *lang.Call, want int, variadic bool) bool {
	n := len(e.Args)
	if variadic && n > maxVariadic {
		c.errs.Add(e.Pos, "%s takes at most %d arguments, got %d", e.Fn.Name, maxVariadic, n)
		return false
	}
	if n == want || (variadic && n >= want) {
		return true
	}
	atLeast := ""
	if variadic {
		atLeast = "at least "
	}
	c.errs.Add(e.Pos, "%s takes %s%d argument%s, got %d", e.Fn.Name, atLeast, want, plural(want), n)
	return false
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// optionalArg returns the optional input named by a call's first argument,
// reporting anything else.
func (c *checker) optionalArg(e *lang.Call) *Input {
	id, ok := lang.Unparen(e.Args[0]).(*lang.Ident)
	if !ok {
		c.errs.Add(e.Args[0].Position(), "%s takes the name of an optional input", e.Fn.Name)
		return nil
	}
	s := c.lookup(id)
	if s == nil {
		return nil
	}
	if s.Kind != SymInput {
		c.errs.Add(id.Pos, "%s takes an optional input; %q is %s", e.Fn.Name, id.Name, s.Kind.article())
		return nil
	}
	in := c.p.Inputs[s.Index]
	c.p.Types[e.Args[0]] = s.Type
	if !in.Optional {
		c.errs.Warn(id.Pos, "input %q is not optional, so it is always present", id.Name).Hint = fmt.Sprintf("declare it as: %s %s optional", id.Name, s.Type)
	}
	return in
}

func (c *checker) exists(e *lang.Call) Type {
	if !c.arity(e, 1, false) {
		return Invalid
	}
	c.optionalArg(e)
	return Bool
}

// failed checks failed(LOOKUP): true when this decision's fetch of the
// lookup failed or timed out (its fields then read absent, as for a
// missing record), so a rule can tell a store that is down from a key
// that is not there. It reads a bool input named "failed(LOOKUP)",
// default false, that riskd sets from the fetch; no source text can name
// it, and a replay reads it from a data column of that name (false when
// the data has none).
func (c *checker) failed(e *lang.Call) Type {
	if !c.arity(e, 1, false) {
		return Invalid
	}
	id, ok := lang.Unparen(e.Args[0]).(*lang.Ident)
	var lk *Lookup
	var names []string
	for _, l := range c.p.Lookups {
		names = append(names, l.Decl.Name.Name)
		if ok && l.Decl.Name.Name == id.Name {
			lk = l
		}
	}
	if lk == nil {
		err := c.errs.Add(e.Args[0].Position(), "failed takes the name of a lookup, e.g. failed(profile)")
		if ok {
			err.Hint = suggest(id.Name, names)
		}
		return Invalid
	}
	in := c.failedInput(lk)
	c.p.Uses[id] = in.Sym
	c.p.Types[e.Args[0]] = Bool
	return Bool
}

// failedInput returns the hidden input failed(LOOKUP), declaring it the
// first time a rule asks.
func (c *checker) failedInput(lk *Lookup) *Input {
	name := "failed(" + lk.Decl.Name.Name + ")"
	if s := c.symbols[name]; s != nil {
		return c.p.Inputs[s.Index]
	}
	pos := lk.Decl.Name.Pos
	ident := &lang.Ident{Pos: pos, Name: name}
	no := &lang.BoolLit{Pos: pos}
	in := &Input{Decl: &lang.Field{Pos: pos, Name: ident, Type: &lang.Ident{Pos: pos, Name: "bool"}, Default: no},
		Default: no, Min: math.Inf(-1), Max: math.Inf(1)}
	// Not in c.names: no suggestion offers a name source cannot spell.
	in.Sym = &Symbol{Kind: SymInput, Name: name, Pos: pos, Index: len(c.p.Inputs), Type: Bool, used: true}
	c.symbols[name] = in.Sym
	c.p.Inputs = append(c.p.Inputs, in)
	return in
}

func (c *checker) coalesce(e *lang.Call) Type {
	if !c.arity(e, 2, false) {
		return Invalid
	}
	in := c.optionalArg(e)
	fallback := c.expr(e.Args[1], nil)
	if in == nil || fallback == Invalid {
		return Invalid
	}
	t := in.Sym.Type
	if fallback != t && !(t.IsNumber() && fallback.IsNumber()) {
		c.errs.Add(e.Args[1].Position(), "coalesce fallback must be %s like %q, got %s", t, in.Sym.Name, fallback)
		return Invalid
	}
	if t.IsNumber() {
		return arith(t, fallback)
	}
	return t
}

func (c *checker) ifCall(e *lang.Call, g guards) Type {
	if !c.arity(e, 3, false) {
		for _, a := range e.Args {
			c.expr(a, g)
		}
		return Invalid
	}
	cond := c.expr(e.Args[0], g)
	a := c.expr(e.Args[1], g.with(c.facts(e.Args[0], true)))
	b := c.expr(e.Args[2], g.with(c.facts(e.Args[0], false)))
	if cond == Invalid || a == Invalid || b == Invalid {
		return Invalid
	}
	if cond != Bool {
		c.errs.Add(e.Args[0].Position(), "condition of if must be bool, got %s", cond)
		return Invalid
	}
	switch {
	case a.IsNumber() && b.IsNumber():
		return arith(a, b)
	case a != b:
		c.errs.Add(e.Pos, "branches of if must have the same type, got %s and %s", a, b)
		return Invalid
	}
	return a
}
