package compiler

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/riskforge/riskforge/lang"
)

// Options tune what Check looks at beyond the source text.
type Options struct {
	// CheckFiles makes Check verify that list and model files exist,
	// resolving relative paths against the policy file's directory.
	CheckFiles bool
}

// Check resolves and type-checks a parsed policy. It returns the checked
// policy and every diagnostic found, sorted by position; the policy is
// usable only when the list holds no errors (warnings are fine).
func Check(f *lang.File, opts Options) (*Policy, lang.ErrorList) {
	c := &checker{
		opts:    opts,
		p:       &Policy{File: f, Types: map[lang.Expr]Type{}, Uses: map[*lang.Ident]*Symbol{}},
		symbols: map[string]*Symbol{},
		lets:    map[string]*Let{},
		state:   map[*Let]int{},
	}
	c.header(f)
	c.declare(f)
	c.checkInputs()
	c.checkLookups()
	c.checkLists()
	c.checkLets()
	c.checkModels()
	c.checkWindows()
	c.checkRules()
	c.checkDecide()
	c.unused()
	c.errs.RemoveMultiples()
	return c.p, c.errs
}

type checker struct {
	opts      Options
	factMemo  map[factKey]guards
	factWalks int // nodes facts looked at: linear in the expression (tested)
	p         *Policy
	errs      lang.ErrorList
	symbols   map[string]*Symbol
	names     []string // declaration order, for suggestions
	lets      map[string]*Let
	state     map[*Let]int // 0 unvisited, 1 in progress, 2 done
	decides   []*lang.DecideDecl
	inputs    []*lang.InputDecl
	events    *lang.EventsDecl
}

func (c *checker) header(f *lang.File) {
	if f.Policy == nil {
		c.errs.Add(lang.Pos{File: &f.Path, Line: 1, Col: 1}, `missing policy header: a policy starts with policy NAME version "V"`)
		return
	}
	c.p.Name = f.Policy.Name.Name
	if f.Policy.Version == nil {
		c.errs.Warn(f.Policy.Pos, "policy %q has no version; decisions and audit records name the version", c.p.Name)
		return
	}
	c.p.Version = f.Policy.Version.Value
	if strings.TrimSpace(c.p.Version) == "" {
		c.errs.Add(f.Policy.Version.Pos, "policy version must not be empty")
	}
}

// define adds a symbol, reporting a duplicate of an earlier declaration.
func (c *checker) define(kind SymbolKind, id *lang.Ident, index int) *Symbol {
	if prev, ok := c.symbols[id.Name]; ok {
		c.errs.Add(id.Pos, "%q is already declared as %s at %d:%d", id.Name, prev.Kind, prev.Pos.Line, prev.Pos.Col)
		return &Symbol{Kind: kind, Name: id.Name, Pos: id.Pos, Index: index, used: true}
	}
	s := &Symbol{Kind: kind, Name: id.Name, Pos: id.Pos, Index: index}
	c.symbols[id.Name] = s
	c.names = append(c.names, id.Name)
	return s
}

// declare registers every named declaration before any expression is
// checked, so declarations may come in any order.
func (c *checker) declare(f *lang.File) {
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *lang.EventsDecl:
			if c.events != nil {
				c.errs.Add(d.Pos, "events are already declared at %d:%d", c.events.Pos.Line, c.events.Pos.Col)
				continue
			}
			c.events = d
		case *lang.InputDecl:
			c.inputs = append(c.inputs, d)
			if len(c.inputs) > 1 {
				c.errs.Add(d.Pos, "a policy has one input block; merge this one into the block at %d:%d", c.inputs[0].Pos.Line, c.inputs[0].Pos.Col)
			}
			for _, fd := range d.Fields {
				in := &Input{Decl: fd, Optional: fd.Optional, Default: fd.Default, Min: math.Inf(-1), Max: math.Inf(1)}
				in.Sym = c.define(SymInput, fd.Name, len(c.p.Inputs))
				c.p.Inputs = append(c.p.Inputs, in)
			}
		case *lang.LookupDecl:
			c.declareLookup(d)
		case *lang.ListDecl:
			l := &List{Decl: d, Sym: c.define(SymList, d.Name, len(c.p.Lists))}
			c.p.Lists = append(c.p.Lists, l)
		case *lang.ModelDecl:
			m := &Model{Decl: d, Sym: c.define(SymModel, d.Name, len(c.p.Models))}
			m.Sym.Type = Float
			c.p.Models = append(c.p.Models, m)
		case *lang.WindowDecl:
			w := &Window{Decl: d, Sym: c.define(SymWindow, d.Name, len(c.p.Windows)), Agg: d.Agg.Name}
			c.p.Windows = append(c.p.Windows, w)
		case *lang.LetDecl:
			l := &Let{Decl: d, Sym: c.define(SymLet, d.Name, -1)}
			if _, dup := c.lets[d.Name.Name]; !dup {
				c.lets[d.Name.Name] = l
			}
		case *lang.RuleDecl:
			c.p.Rules = append(c.p.Rules, &Rule{Decl: d, Name: d.Name.Name})
		case *lang.DecideDecl:
			c.decides = append(c.decides, d)
		}
	}
	if c.events != nil {
		seen := map[string]bool{}
		for _, e := range c.events.Names {
			if seen[e.Name] {
				c.errs.Add(e.Pos, "event %q is listed twice", e.Name)
			}
			seen[e.Name] = true
			c.p.Events = append(c.p.Events, e.Name)
		}
	}
}

func (c *checker) checkInputs() {
	for _, in := range c.p.Inputs {
		fd := in.Decl
		t, ok := inputTypes[fd.Type.Name]
		if !ok {
			c.errs.Add(fd.Type.Pos, "unknown input type %q", fd.Type.Name).Hint = typeHint(fd.Type.Name)
			in.Sym.Type = Invalid
			continue
		}
		in.Sym.Type = t
		if fd.Optional && fd.Default != nil {
			c.errs.Add(fd.Default.Position(), "input %q is optional and has a default; choose one (a default makes it never missing)", fd.Name.Name)
		}
		if fd.Default != nil {
			c.checkDefault(in, t)
		}
		c.checkBounds(in, t)
	}
}

func typeHint(name string) string {
	if h := suggest(name, []string{"int", "float", "bool", "string", "time"}); h != "" {
		return h
	}
	return "types are int, float, bool, string and time"
}

func (c *checker) checkDefault(in *Input, t Type) {
	d := in.Decl.Default
	var got Type
	switch lit := d.(type) {
	case *lang.NumberLit:
		got = Float
		if lit.IsInt {
			got = Int
		}
	case *lang.StringLit:
		got = String
	case *lang.BoolLit:
		got = Bool
	case *lang.DurationLit:
		got = Duration
	}
	ok := got == t || (t == Float && got == Int)
	if t == Time {
		c.errs.Add(d.Position(), "input %q of type time cannot have a default", in.Sym.Name)
	} else if !ok {
		c.errs.Add(d.Position(), "default of input %q must be %s, got %s", in.Sym.Name, t, got)
	}
}

func (c *checker) checkBounds(in *Input, t Type) {
	for _, b := range in.Decl.Bounds {
		if !t.IsNumber() {
			c.errs.Add(b.Pos, "bounds apply to numeric inputs; %q is %s", in.Sym.Name, t)
			return
		}
		lo := b.Lo.(*lang.NumberLit).Value
		switch op := binaryOpOf(b.Op); op {
		case OpGe, OpGt:
			in.Min, in.MinOpen = lo, op == OpGt
		case OpLe, OpLt:
			in.Max, in.MaxOpen = lo, op == OpLt
		default: // between
			in.Min, in.Max = lo, b.Hi.(*lang.NumberLit).Value
		}
	}
	if in.Min > in.Max {
		c.errs.Add(in.Decl.Pos, "bounds of input %q leave no valid value (%g > %g)", in.Sym.Name, in.Min, in.Max)
	}
	if lit, ok := in.Default.(*lang.NumberLit); ok && (lit.Value < in.Min || lit.Value > in.Max) {
		c.errs.Add(lit.Pos, "default %s of input %q is outside its bounds", lit.Raw, in.Sym.Name)
	}
}

func (c *checker) checkLists() {
	for _, l := range c.p.Lists {
		d := l.Decl
		if d.File != nil {
			l.Sym.Type = StringList
			c.checkFile(d.File, "list")
			continue
		}
		if len(d.Items) == 0 {
			c.errs.Add(d.Pos, "list %q is empty", d.Name.Name)
			l.Sym.Type = StringList
			continue
		}
		l.Sym.Type = c.literalSet(d.Items)
	}
}

// literalSet checks the items of an inline list and returns its type.
func (c *checker) literalSet(items []lang.Expr) Type {
	var t Type // callers report an empty list themselves
	for _, it := range items {
		var et Type
		switch it.(type) {
		case *lang.StringLit:
			et = StringList
		case *lang.NumberLit:
			et = NumberList
		default:
			c.errs.Add(it.Position(), "list items must be string or number literals")
			return Invalid
		}
		if t == Invalid {
			t = et
		} else if et != t {
			c.errs.Add(it.Position(), "list mixes strings and numbers")
			return Invalid
		}
	}
	return t
}

// checkFile reports a list or model file that does not exist.
func (c *checker) checkFile(path *lang.StringLit, what string) {
	if path.Value == "" {
		c.errs.Add(path.Pos, "%s file path is empty", what)
		return
	}
	if !c.opts.CheckFiles {
		return
	}
	full := ResolvePath(c.p.File.Path, path.Value)
	if _, err := os.Stat(full); err != nil {
		c.errs.Add(path.Pos, "%s file %q not found (looked at %s)", what, path.Value, full)
	}
}

// ResolvePath resolves a path written in a policy against the directory
// of the policy file.
func ResolvePath(policyPath, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(policyPath), p)
}

func (c *checker) checkLets() {
	for _, d := range c.p.File.Decls {
		if ld, ok := d.(*lang.LetDecl); ok {
			if l := c.lets[ld.Name.Name]; l != nil && l.Decl == ld {
				c.resolveLet(l)
			}
		}
	}
}

// resolveLet types a let on first use, detecting cycles, and appends it to
// Policy.Lets after the lets it depends on.
func (c *checker) resolveLet(l *Let) Type {
	switch c.state[l] {
	case 1:
		c.errs.Add(l.Decl.Name.Pos, "let %q refers to itself through a cycle", l.Sym.Name)
		l.Sym.Type = Invalid
		c.state[l] = 2
		return Invalid
	case 2:
		return l.Sym.Type
	}
	c.state[l] = 1
	t := c.expr(l.Decl.Value, nil)
	if c.state[l] == 2 { // a cycle was reported while checking the body
		return Invalid
	}
	if t.IsList() {
		c.errs.Add(l.Decl.Value.Position(), "let %q cannot hold a list; declare it with list", l.Sym.Name)
		t = Invalid
	}
	l.Sym.Type = t
	l.Sym.Index = len(c.p.Lets)
	c.p.Lets = append(c.p.Lets, l)
	c.state[l] = 2
	return t
}

func (c *checker) checkModels() {
	for _, m := range c.p.Models {
		d := m.Decl
		if d.Kind.Name != "onnx" {
			c.errs.Add(d.Kind.Pos, "unknown model kind %q; supported: onnx", d.Kind.Name)
		}
		c.checkFile(d.Path, "model")
		if len(d.Inputs) == 0 {
			c.errs.Add(d.Rbrace, "model %q needs inputs [...] naming its features in tensor order", d.Name.Name)
		}
		for _, id := range d.Inputs {
			m.Inputs = append(m.Inputs, c.modelInput(d, id))
		}
		if d.Output == nil {
			c.errs.Add(d.Rbrace, "model %q needs an output \"NAME\" line", d.Name.Name)
		}
		if ix := d.OutputIndex; ix != nil && (!ix.IsInt || ix.Value < 0) {
			c.errs.Add(ix.Pos, "output index must be a non-negative integer")
		}
		if d.OnError == nil {
			c.errs.Add(d.Rbrace, "model %q needs on_error VALUE: the score to use when the model fails (fail-open or fail-closed is a choice)", d.Name.Name)
		}
		m.Timeout = 0.05
		if d.Timeout != nil {
			m.Timeout = d.Timeout.Seconds
			if m.Timeout <= 0 || m.Timeout > 10 {
				c.errs.Add(d.Timeout.Pos, "model timeout must be between 1ms and 10s")
			}
		}
	}
}

func (c *checker) modelInput(d *lang.ModelDecl, id *lang.Ident) *Symbol {
	t := c.expr(id, nil)
	s := c.p.Uses[id]
	if s == nil {
		return nil
	}
	switch {
	case s.Kind == SymModel || s.Kind == SymList:
		c.errs.Add(id.Pos, "model input %q must be an input, let or window, not %s", id.Name, s.Kind.article())
	case t != Invalid && !t.IsNumber() && t != Bool:
		c.errs.Add(id.Pos, "model input %q must be a number (or bool), got %s", id.Name, t)
	}
	return s
}

var windowAggs = map[string]bool{"count": true, "count_distinct": true, "sum": true, "avg": true, "min": true, "max": true}

func (c *checker) checkWindows() {
	for _, w := range c.p.Windows {
		c.checkWindow(w)
	}
	if len(c.p.Windows) > 0 && !c.hasEventTime() {
		e := c.errs.Warn(c.p.Windows[0].Decl.Pos, "policy has windows but no required `ts time` input: served, windows use arrival time; riskc eval and train refuse it on data, where every row would be the same instant")
		e.Hint = "declare `ts time` in the input block: the event time, Unix seconds or RFC 3339"
	}
}

// hasEventTime reports whether the policy declares the event time input
// windows use (a required `ts` of type time).
func (c *checker) hasEventTime() bool {
	for _, in := range c.p.Inputs {
		if in.Sym.Name == "ts" && in.Sym.Type == Time && !in.Optional {
			return true
		}
	}
	return false
}

func (c *checker) checkWindow(w *Window) {
	d := w.Decl
	w.Sym.Type = Float
	switch {
	case !windowAggs[w.Agg]:
		e := c.errs.Add(d.Agg.Pos, "unknown window aggregate %q", w.Agg)
		e.Hint = suggest(w.Agg, []string{"count", "count_distinct", "sum", "avg", "min", "max"})
		if e.Hint == "" {
			e.Hint = "use count, count_distinct, sum, avg, min or max"
		}
	case w.Agg == "count":
		w.Sym.Type = Int
		if d.Arg != nil {
			c.errs.Add(d.Arg.Position(), "count() takes no argument; use count_distinct(x) to count distinct values")
		}
	case d.Arg == nil:
		c.errs.Add(d.Agg.Pos, "%s(...) needs an argument", w.Agg)
	case w.Agg == "count_distinct":
		w.Sym.Type = Int
		if t := c.expr(d.Arg, nil); t != Invalid && t != String && t != Int && t != Bool {
			c.errs.Add(d.Arg.Position(), "count_distinct needs a string, int or bool value, got %s", t)
		}
	default:
		if t := c.expr(d.Arg, nil); t != Invalid && !t.IsNumber() {
			c.errs.Add(d.Arg.Position(), "%s needs a number, got %s", w.Agg, t)
		}
	}
	if d.Arg != nil {
		c.inputsOnly(d.Arg, "window arguments")
	}
	if d.Over.Seconds <= 0 {
		c.errs.Add(d.Over.Pos, "window length must be positive")
	}
	c.windowKeys(w)
	c.windowEvents(w)
	if d.Where != nil {
		if t := c.expr(d.Where, nil); t != Invalid && t != Bool {
			c.errs.Add(d.Where.Position(), "where condition of window %q must be bool, got %s", w.Sym.Name, t)
		}
		c.inputsOnly(d.Where, "window conditions")
	}
}

// windowKeys resolves a window's `by` inputs. Keys are read before any
// let or guard, so only required string or int inputs qualify; an
// optional input gets its own message rather than an exists() hint that
// cannot apply here.
func (c *checker) windowKeys(w *Window) {
	seen := map[string]bool{}
	for _, id := range w.Decl.By {
		if seen[id.Name] {
			c.errs.Add(id.Pos, "window key %q is listed twice", id.Name)
			continue
		}
		seen[id.Name] = true
		s := c.lookup(id)
		if s == nil {
			continue
		}
		if s.Kind != SymInput {
			c.errs.Add(id.Pos, "window key %q must be an input, not %s", id.Name, s.Kind.article())
			continue
		}
		in := c.p.Inputs[s.Index]
		switch {
		case in.Optional:
			e := c.errs.Add(id.Pos, "window key %q is an optional input; keys must always be present", id.Name)
			e.Hint = "declare " + id.Name + " without optional, or give it a default"
		case s.Type != String && s.Type != Int:
			c.errs.Add(id.Pos, "window key %q must be a required string or int input, got %s", id.Name, s.Type)
		default:
			w.By = append(w.By, s)
		}
	}
}

// windowEvents checks a window's `on` events like a rule's.
func (c *checker) windowEvents(w *Window) {
	for _, on := range w.Decl.On {
		w.On = append(w.On, on.Name)
		if c.events != nil && !contains(c.p.Events, on.Name) {
			e := c.errs.Add(on.Pos, "unknown event %q; the policy declares events %s", on.Name, strings.Join(c.p.Events, ", "))
			e.Hint = suggest(on.Name, c.p.Events)
		}
	}
}

// inputsOnly reports names in e that are not inputs: windows are fed
// before any let, model or other window is computed.
func (c *checker) inputsOnly(e lang.Expr, what string) {
	lang.Inspect(e, func(n lang.Node) bool {
		if id, ok := n.(*lang.Ident); ok {
			if s := c.p.Uses[id]; s != nil && s.Kind != SymInput {
				c.errs.Add(id.Pos, "%s may only use inputs; %q is %s", what, id.Name, s.Kind.article())
			}
		}
		return true
	})
}

func (c *checker) checkRules() {
	if len(c.p.Rules) == 0 && c.p.File.Policy != nil {
		// An error, not a warning: every request would get the decide
		// block's otherwise action, which is what a truncated file (cut
		// before its first rule) looks like.
		c.errs.Add(c.p.File.Policy.Pos, "policy %q has no rules: every request would get the same action; a policy needs at least one rule", c.p.Name)
	}
	seen := map[string]*lang.RuleDecl{}
	var events []string
	if c.events != nil {
		events = c.p.Events
	}
	for _, r := range c.p.Rules {
		d := r.Decl
		if prev, ok := seen[r.Name]; ok {
			c.errs.Add(d.Name.Pos, "rule %q is already declared at %d:%d", r.Name, prev.Name.Pos.Line, prev.Name.Pos.Col)
		}
		seen[r.Name] = d
		for _, on := range d.On {
			r.On = append(r.On, on.Name)
			if c.events != nil && !contains(events, on.Name) {
				e := c.errs.Add(on.Pos, "unknown event %q; the policy declares events %s", on.Name, strings.Join(events, ", "))
				e.Hint = suggest(on.Name, events)
			}
		}
		if t := c.expr(d.When, nil); t != Invalid && t != Bool {
			c.errs.Add(d.When.Position(), "condition of rule %q must be bool, got %s", r.Name, t)
		} else if t == Bool {
			c.constantCondition(r)
		}
		c.checkEmit(r)
		if strings.TrimSpace(d.Reason.Value) == "" {
			c.errs.Add(d.Reason.Pos, "reason of rule %q is empty; say why it fires", r.Name)
		}
		c.reasonNumbers(r)
	}
}

// reasonNumbers warns about a number in a rule's reason that looks like a
// stale threshold: within a factor of two of a number the condition
// compares with, but none of them ("income under 150" over `income <
// 180`; riskc train moves thresholds, and rewrites only reasons that
// quote the old value). Numbers far from every threshold ("in 24 hours"
// over `spend > 3000`) are other facts and pass.
func (c *checker) reasonNumbers(r *Rule) {
	d := r.Decl
	var lits []float64
	lang.Inspect(d.When, func(n lang.Node) bool {
		switch n := n.(type) {
		case *lang.NumberLit:
			lits = append(lits, n.Value)
		case *lang.DurationLit:
			for _, x := range lang.NumbersIn(n.Raw) {
				lits = append(lits, x.Value)
			}
		}
		return true
	})
	if len(lits) == 0 {
		return
	}
	for _, x := range lang.NumbersIn(d.Reason.Value) {
		if slices.Contains(lits, x.Value) {
			continue
		}
		for _, l := range lits {
			if ratio := x.Value / l; ratio >= 0.5 && ratio <= 2 {
				c.errs.Warn(d.Reason.Pos, "reason of rule %q quotes %s, but its condition compares with %s; update the reason", r.Name, x.Text, strconv.FormatFloat(l, 'g', -1, 64))
				return
			}
		}
	}
}

func (c *checker) constantCondition(r *Rule) {
	v, ok := constEval(r.Decl.When)
	if !ok || v.kind != Bool {
		return
	}
	if v.b {
		c.errs.Warn(r.Decl.When.Position(), "rule %q always fires: its condition is always true", r.Name)
	} else {
		c.errs.Warn(r.Decl.When.Position(), "rule %q can never fire: its condition is always false", r.Name)
	}
}

func (c *checker) checkEmit(r *Rule) {
	e := r.Decl.Emit
	if e.Score == nil {
		a, ok := ParseAction(e.Action.Name)
		if !ok {
			c.errs.Add(e.Action.Pos, "unknown action %q", e.Action.Name).Hint = actionHint(e.Action.Name)
		}
		r.Forces, r.Action, r.AtLeast = true, a, e.AtLeast
		if e.AtLeast && a == Approve {
			c.errs.Add(e.Action.Pos, "at_least approve changes nothing: every decision is at least approve").Hint = "write emit approve to override the score, or emit at_least review"
		}
		return
	}
	t := c.expr(e.Score, nil)
	lit, isLit := lang.Unparen(e.Score).(*lang.NumberLit)
	switch {
	case t == Invalid:
	case !t.IsNumber():
		c.errs.Add(e.Score.Position(), "score weight must be a number, got %s", t)
	case !isLit:
		c.errs.Add(e.Score.Position(), "score weight must be a number literal (it is a trainable parameter), not an expression")
	default:
		r.Weight = lit
	}
}

func actionHint(name string) string {
	if h := suggest(name, []string{"reject", "review", "approve"}); h != "" {
		return h
	}
	return "actions are reject, review and approve"
}

func (c *checker) checkDecide() {
	if len(c.decides) == 0 {
		for _, r := range c.p.Rules {
			if !r.Forces && r.Weight != nil {
				c.errs.Warn(r.Decl.Emit.Pos, "rule %q emits a score but the policy has no decide block, so scores never change the action", r.Name)
				break
			}
		}
		return
	}
	for _, d := range c.decides[1:] {
		c.errs.Add(d.Pos, "a policy has one decide block; another is at %d:%d", c.decides[0].Pos.Line, c.decides[0].Pos.Col)
	}
	d := c.decides[0]
	out := &Decide{Decl: d}
	if d.Bias != nil {
		out.Bias = d.Bias.(*lang.NumberLit)
	}
	c.checkCuts(d, out)
	if d.Otherwise == nil {
		c.errs.Add(d.Rbrace, "decide block needs an otherwise ACTION line for scores below every threshold")
	} else if a, ok := ParseAction(d.Otherwise.Name); !ok {
		c.errs.Add(d.Otherwise.Pos, "unknown action %q", d.Otherwise.Name).Hint = actionHint(d.Otherwise.Name)
	} else {
		out.Otherwise = a
		if len(d.Cuts) > 0 && d.Cuts[len(d.Cuts)-1].Pos.Line > d.Otherwise.Pos.Line {
			c.errs.Add(d.Otherwise.Pos, "otherwise must be the last line of the decide block")
		}
	}
	c.p.Decide = out
}

func (c *checker) checkCuts(d *lang.DecideDecl, out *Decide) {
	seen := map[Action]bool{}
	prev := math.Inf(1)
	for _, cut := range d.Cuts {
		a, ok := ParseAction(cut.Action.Name)
		switch {
		case !ok:
			c.errs.Add(cut.Action.Pos, "unknown action %q", cut.Action.Name).Hint = actionHint(cut.Action.Name)
		case a == Approve:
			c.errs.Add(cut.Action.Pos, "approve cannot have a score threshold; it is the otherwise case").Hint = "write: otherwise approve"
		case seen[a]:
			c.errs.Add(cut.Action.Pos, "action %s appears twice in the decide block", a)
		}
		seen[a] = true
		th := cut.Threshold.(*lang.NumberLit)
		switch {
		case th.Value < 0 || th.Value > 1:
			c.errs.Add(th.Pos, "decide threshold %s is outside [0, 1]; the score is a probability", th.Raw)
		case th.Value >= prev:
			e := c.errs.Add(th.Pos, "decide thresholds must decrease from top to bottom: %s comes after %g", th.Raw, prev)
			e.Hint = "lines are tried top to bottom and the first match wins"
		}
		prev = th.Value
		out.Cuts = append(out.Cuts, Cut{Action: a, Inclusive: binaryOpOf(cut.Op) == OpGe, Threshold: th})
	}
}

// unused warns about lists, models, windows and lets nothing refers to.
func (c *checker) unused() {
	for _, name := range c.names {
		s := c.symbols[name]
		if s.Kind != SymInput && !s.used {
			c.errs.Warn(s.Pos, "%s %q is declared and not used", s.Kind, name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CheckSource parses and checks one policy source. Syntax errors stop
// before checking (a half-parsed file would only add follow-on noise).
func CheckSource(path string, src []byte, opts Options) (*Policy, lang.ErrorList) {
	f, err := lang.Parse(path, src)
	if err != nil {
		var list lang.ErrorList
		if !errors.As(err, &list) {
			list.Add(lang.Pos{File: &path}, "%v", err)
		}
		return nil, list
	}
	return Check(f, opts)
}
