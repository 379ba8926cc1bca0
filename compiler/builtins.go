package compiler

import (
	"fmt"
	"math"
	"sort"

	"github.com/riskforge/riskforge/lang"
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

// builtins is the function library. exists, coalesce and if are special
// forms handled in call because they interact with optional-input guards.
var builtins = map[string]signature{
	"min":         {args: num2, variadic: true, result: resultArith},
	"max":         {args: num2, variadic: true, result: resultArith},
	"abs":         {args: num, result: resultSame},
	"round":       {args: num, result: Int},
	"floor":       {args: num, result: Int},
	"ceil":        {args: num, result: Int},
	"log":         {args: num, result: Float},
	"exp":         {args: num, result: Float},
	"sqrt":        {args: num, result: Float},
	"clamp":       {args: []argClass{argNumber, argNumber, argNumber}, result: Float},
	"lower":       {args: str, result: String},
	"upper":       {args: str, result: String},
	"len":         {args: str, result: Int},
	"contains":    {args: str2, result: Bool},
	"starts_with": {args: str2, result: Bool},
	"ends_with":   {args: str2, result: Bool},
	"hour":        {args: []argClass{argTime}, result: Int},
	"weekday":     {args: []argClass{argTime}, result: Int},
	"days":        {args: dur, result: Float},
	"hours":       {args: dur, result: Float},
	"minutes":     {args: dur, result: Float},
	"seconds":     {args: dur, result: Float},
}

// FunctionNames lists every function of the library, sorted.
func FunctionNames() []string {
	names := []string{"exists", "coalesce", "if", "failed"}
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (c *checker) call(e *lang.Call, g guards) Type {
	switch e.Fn.Name {
	case "exists":
		return c.exists(e)
	case "coalesce":
		return c.coalesce(e)
	case "if":
		return c.ifCall(e, g)
	case "failed":
		return c.failed(e)
	}
	sig, ok := builtins[e.Fn.Name]
	if !ok {
		err := c.errs.Add(e.Fn.Pos, "unknown function %q", e.Fn.Name)
		err.Hint = suggest(e.Fn.Name, FunctionNames())
		for _, a := range e.Args {
			c.expr(a, g)
		}
		return Invalid
	}
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
