package lang

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// Parse parses one policy file. On success the error is nil. On failure it
// is an ErrorList holding a syntax error for every declaration that did not
// parse (the file is re-parsed declaration by declaration to find them all),
// and the returned File holds whatever did parse.
func Parse(path string, src []byte) (*File, error) {
	file := &File{Path: path, Src: src}
	p := &converter{file: &file.Path}
	// Lexed once here for the nesting guard, the comments and recovery;
	// participle lexes again for the grammar.
	tokens, lexErr := lexAll(path, src)
	if pos, ok := tooDeep(tokens); !ok {
		// The parser and every later stage recurse on nesting; refuse it
		// before it can exhaust the stack.
		p.errs.Add(p.pos(pos), "expression nested more than %d levels deep", maxNesting)
		return file, p.errs
	}
	tree, err := policyParser.ParseBytes(path, src)
	if err == nil {
		p.fill(file, tree)
	} else {
		p.recover(file, src, tokens, lexErr)
	}
	file.Comments = p.comments(tokens)
	if len(p.errs) > 0 {
		p.errs.RemoveMultiples()
		return file, p.errs
	}
	return file, nil
}

// ParseExpr parses a single expression; used by tests and tools.
func ParseExpr(path string, src string) (Expr, error) {
	f, err := Parse(path, []byte("let __expr = "+src))
	if err != nil {
		return nil, err
	}
	if len(f.Decls) != 1 {
		return nil, fmt.Errorf("%s: not a single expression", path)
	}
	return f.Decls[0].(*LetDecl).Value, nil
}

// maxNesting bounds parentheses, brackets and runs of prefix operators
// (`not`, `-`): real policies stay far below it, and bounding it keeps
// every recursive stage safe whatever the input.
const maxNesting = 500

// tooDeep scans the tokens for nesting beyond maxNesting and returns the
// position where it is exceeded.
func tooDeep(tokens []lexer.Token) (lexer.Position, bool) {
	symbols := policyLexer.Symbols()
	space, comment := symbols["Whitespace"], symbols["Comment"]
	depth, prefix := 0, 0
	for _, t := range tokens {
		switch t.Value {
		case "(", "[":
			depth++
		case ")", "]":
			depth--
		}
		if t.Value == "not" || t.Value == "-" {
			prefix++
		} else if t.Type != space && t.Type != comment {
			prefix = 0
		}
		if depth > maxNesting || prefix > maxNesting {
			return t.Pos, false
		}
	}
	return lexer.Position{}, true
}

// topKeywords start a top-level declaration; recovery splits on them.
var topKeywords = map[string]bool{
	"policy": true, "events": true, "input": true, "list": true, "model": true, "lookup": true,
	"window": true, "let": true, "rule": true, "decide": true,
}

// recover parses each declaration on its own, so that one syntax error does
// not hide the next. A chunk starts at a top-level keyword in column 1.
// Text outside the chunk is blanked (newlines kept) so positions stay exact.
func (c *converter) recover(file *File, src []byte, tokens []lexer.Token, lexErr error) {
	var starts []int
	for _, t := range tokens {
		if t.Pos.Column == 1 && topKeywords[t.Value] {
			starts = append(starts, t.Pos.Offset)
		}
	}
	if lexErr != nil || len(starts) == 0 {
		_, err := policyParser.ParseBytes(file.Path, src)
		c.addParseError(err, tokens, 0, len(src))
		return
	}
	starts = append(starts, len(src))
	if starts[0] != 0 && strings.TrimSpace(string(src[:starts[0]])) != "" {
		starts = append([]int{0}, starts...)
	}
	for i := 0; i+1 < len(starts); i++ {
		chunk := blankOutside(src, starts[i], starts[i+1])
		tree, err := policyParser.ParseBytes(file.Path, chunk)
		if err != nil {
			c.addParseError(err, tokens, starts[i], starts[i+1])
			continue
		}
		c.fill(file, tree)
	}
}

func blankOutside(src []byte, from, to int) []byte {
	out := make([]byte, len(src))
	for i, b := range src {
		switch {
		case i >= from && i < to:
			out[i] = b
		case b == '\n':
			out[i] = '\n'
		default:
			out[i] = ' '
		}
	}
	return out
}

func lexAll(path string, src []byte) ([]lexer.Token, error) {
	lex, err := policyLexer.LexString(path, string(src))
	if err != nil {
		return nil, err
	}
	var out []lexer.Token
	for {
		t, err := lex.Next()
		if err != nil {
			return out, err
		}
		if t.EOF() {
			return out, nil
		}
		out = append(out, t)
	}
}

func (c *converter) comments(tokens []lexer.Token) []*Comment {
	commentType := policyLexer.Symbols()["Comment"]
	var out []*Comment
	for _, t := range tokens {
		if t.Type == commentType {
			out = append(out, &Comment{Pos: c.pos(t.Pos), Text: strings.TrimRight(t.Value, " \t\r")})
		}
	}
	return out
}

// addParseError reports a parse error of the declaration in src[from:to].
func (c *converter) addParseError(err error, tokens []lexer.Token, from, to int) {
	var pe participle.Error
	if errors.As(err, &pe) {
		if pos, msg, ok := explainSyntax(pe.Message(), pe.Position(), tokens, from, to); ok {
			c.errs.Add(c.pos(pos), "%s", msg)
			return
		}
		msg := readableGrammarNames.Replace(pe.Message())
		c.errs = append(c.errs, &Error{Pos: c.pos(pe.Position()), Msg: "syntax error: " + msg, Hint: syntaxHint(msg)})
		return
	}
	c.errs.Add(Pos{File: c.file}, "syntax error: %v", err)
}

// readableGrammarNames turns participle's production names into words.
var readableGrammarNames = strings.NewReplacer(
	"GString", "string", "GIdent", "name", "GOr", "expression", "GAnd", "expression",
	"GNot", "expression", "GCmp", "expression", "GAdd", "expression", "GUnary", "value",
	"GSigned", "number", "GEmit", "(score W | reject | review | approve)", "GDur", "duration",
	"GLiteral", "literal", "GFieldMod", "field option", "GDecideItem", "decide line",
	"GModelOpt", "model option", "GDecl", "declaration", "GRange", "range",
	"GCmpTail", "comparison", "GPrimary", "value", "GCall", "call", "GFixed", "number",
)

// syntaxHint suggests the usual fix for a few common slips.
func syntaxHint(msg string) string {
	switch {
	case strings.Contains(msg, `"=" (expected`) || strings.Contains(msg, `unexpected token "="`):
		return `comparison is written "=="`
	case strings.Contains(msg, `"&"`) || strings.Contains(msg, `"|"`):
		return `logical operators are written "and", "or", "not"`
	case strings.Contains(msg, `unexpected token "\""`):
		return "strings end on the same line with a closing \""
	case strings.Contains(msg, `"!"`):
		return `negation is written "not", inequality "!="`
	}
	return ""
}

// converter turns the participle parse tree into the AST.
type converter struct {
	file *string
	errs ErrorList
}

func (c *converter) pos(p lexer.Position) Pos {
	return Pos{File: c.file, Line: int32(p.Line), Col: int32(p.Column), Offset: int32(p.Offset)}
}

// rbrace is the position of a block's closing brace: the grammar's
// EndPos for the block lies just after it.
func (c *converter) rbrace(end lexer.Position) Pos {
	p := c.pos(end)
	p.Col--
	p.Offset--
	return p
}

func (c *converter) fill(file *File, t *gFile) {
	if t.Header != nil {
		if len(file.Decls) > 0 {
			c.errs.Add(c.pos(t.Header.Pos), "the policy header must come first in the file")
		}
		if file.Policy != nil {
			c.errs.Add(c.pos(t.Header.Pos), "duplicate policy header")
		} else {
			file.Policy = &PolicyDecl{Pos: c.pos(t.Header.Pos), Name: c.ident(t.Header.Name)}
			if t.Header.Version != nil {
				file.Policy.Version = c.str(t.Header.Version)
			}
		}
	}
	for _, d := range t.Decls {
		file.Decls = append(file.Decls, c.decl(d))
	}
}

func (c *converter) ident(g *gIdent) *Ident {
	if g == nil {
		return nil
	}
	return &Ident{Pos: c.pos(g.Pos), Name: g.Name}
}

func (c *converter) idents(gs []*gIdent) []*Ident {
	out := make([]*Ident, len(gs))
	for i, g := range gs {
		out[i] = c.ident(g)
	}
	return out
}

func (c *converter) str(g *gString) *StringLit {
	if g == nil {
		return nil
	}
	return &StringLit{Pos: c.pos(g.Pos), Value: g.Value}
}

func (c *converter) decl(d *gDecl) Decl {
	switch {
	case d.Events != nil:
		return &EventsDecl{Pos: c.pos(d.Events.Pos), Names: c.idents(d.Events.Names)}
	case d.Input != nil:
		return c.input(d.Input)
	case d.List != nil:
		l := &ListDecl{Pos: c.pos(d.List.Pos), Name: c.ident(d.List.Name), File: c.str(d.List.File)}
		for _, it := range d.List.Items {
			l.Items = append(l.Items, c.literal(it))
		}
		if l.File == nil && l.Items == nil {
			l.Items = []Expr{}
		}
		return l
	case d.Model != nil:
		return c.model(d.Model)
	case d.Lookup != nil:
		return c.lookup(d.Lookup)
	case d.Window != nil:
		w := d.Window
		out := &WindowDecl{Pos: c.pos(w.Pos), Name: c.ident(w.Name), Agg: c.ident(w.Agg), Over: c.dur(w.Over),
			By: c.idents(w.By), Tuple: w.Tuple, On: c.idents(w.On)}
		if len(out.On) == 0 {
			out.On = nil
		}
		if w.Arg != nil {
			out.Arg = c.or(w.Arg)
		}
		if w.Where != nil {
			out.Where = c.or(w.Where)
		}
		return out
	case d.Let != nil:
		return &LetDecl{Pos: c.pos(d.Let.Pos), Name: c.ident(d.Let.Name), Value: c.or(d.Let.Value)}
	case d.Rule != nil:
		return c.rule(d.Rule)
	default:
		return c.decide(d.Decide)
	}
}

func (c *converter) input(g *gInput) *InputDecl {
	in := &InputDecl{Pos: c.pos(g.Pos), Rbrace: c.rbrace(g.EndPos)}
	for _, gf := range g.Fields {
		f := &Field{Pos: c.pos(gf.Pos), Name: c.ident(gf.Name), Type: c.ident(gf.Type)}
		for _, m := range gf.Mods {
			switch {
			case m.Optional:
				if f.Optional {
					c.errs.Add(c.pos(m.Pos), "duplicate optional on input %q", gf.Name.Name)
				}
				f.Optional = true
			case m.Default != nil:
				if f.Default != nil {
					c.errs.Add(c.pos(m.Pos), "duplicate default on input %q", gf.Name.Name)
				}
				f.Default = c.literal(m.Default)
			case m.Between != nil:
				f.Bounds = append(f.Bounds, &Bound{Pos: c.pos(m.Pos), Op: "between", Lo: c.signed(m.Between.Lo), Hi: c.signed(m.Between.Hi)})
			default:
				f.Bounds = append(f.Bounds, &Bound{Pos: c.pos(m.Pos), Op: m.Op, Lo: c.signed(m.Bound)})
			}
		}
		in.Fields = append(in.Fields, f)
	}
	return in
}

func (c *converter) model(g *gModel) *ModelDecl {
	m := &ModelDecl{Pos: c.pos(g.Pos), Name: c.ident(g.Name), Kind: c.ident(g.Kind), Path: c.str(g.Path), Rbrace: c.rbrace(g.EndPos)}
	seen := map[string]bool{}
	for _, o := range g.Opts {
		name := modelOptName(o)
		if seen[name] {
			c.errs.Add(c.pos(o.Pos), "duplicate %s in model %q", name, g.Name.Name)
		}
		seen[name] = true
		switch {
		case o.Inputs != nil:
			m.Inputs = append([]*Ident{}, c.idents(o.Inputs.Items)...)
		case o.Output != nil:
			m.Output = c.str(o.Output)
			if o.Index != nil {
				m.OutputIndex = c.signed(o.Index)
			}
		case o.Timeout != nil:
			m.Timeout = c.dur(o.Timeout)
		case o.OnError != nil:
			m.OnError = c.signed(o.OnError)
		}
	}
	return m
}

func (c *converter) lookup(g *gLookup) *LookupDecl {
	l := &LookupDecl{Pos: c.pos(g.Pos), Name: c.ident(g.Name), Kind: c.ident(g.Kind), Key: c.str(g.Key), Rbrace: c.rbrace(g.EndPos)}
	seen := map[string]bool{}
	for _, o := range g.Opts {
		name := "on_error"
		switch {
		case o.Fields != nil:
			name = "fields"
			for _, f := range o.Fields.Items {
				l.Fields = append(l.Fields, &LookupField{Pos: c.pos(f.Pos), Name: c.ident(f.Name), Type: c.ident(f.Type)})
			}
		case o.TTL != nil:
			name, l.TTL = "ttl", c.dur(o.TTL)
		case o.Timeout != nil:
			name, l.Timeout = "timeout", c.dur(o.Timeout)
		default:
			l.OnError = c.ident(o.OnError)
		}
		if seen[name] {
			c.errs.Add(c.pos(o.Pos), "duplicate %s in lookup %q", name, g.Name.Name)
		}
		seen[name] = true
	}
	return l
}

func modelOptName(o *gModelOpt) string {
	switch {
	case o.Inputs != nil:
		return "inputs"
	case o.Output != nil:
		return "output"
	case o.Timeout != nil:
		return "timeout"
	}
	return "on_error"
}

func (c *converter) rule(g *gRule) *RuleDecl {
	r := &RuleDecl{Pos: c.pos(g.Pos), Name: c.ident(g.Name), On: c.idents(g.On), When: c.or(g.When), Reason: c.str(g.Reason)}
	r.Emit = &Emit{Pos: c.pos(g.Emit.Pos)}
	if g.Emit.Score != nil {
		r.Emit.Score = c.unary(g.Emit.Score)
	} else {
		r.Emit.Action = c.ident(g.Emit.Action)
		r.Emit.AtLeast = g.Emit.AtLeast
	}
	return r
}

func (c *converter) decide(g *gDecide) *DecideDecl {
	d := &DecideDecl{Pos: c.pos(g.Pos), Rbrace: c.rbrace(g.EndPos)}
	for _, it := range g.Items {
		switch {
		case it.Bias != nil:
			if d.Bias != nil {
				c.errs.Add(c.pos(it.Pos), "duplicate bias in decide block")
			}
			d.Bias, d.BiasPos = c.signed(it.Bias), c.pos(it.Pos)
		case it.Otherwise != nil:
			if d.Otherwise != nil {
				c.errs.Add(c.pos(it.Pos), "duplicate otherwise in decide block")
			}
			d.Otherwise = c.ident(it.Otherwise)
		default:
			d.Cuts = append(d.Cuts, &Cut{Pos: c.pos(it.Pos), Action: c.ident(it.Action), Op: it.Op, Threshold: c.signed(it.Threshold)})
		}
	}
	return d
}

func (c *converter) literal(g *gLiteral) Expr {
	p := c.pos(g.Pos)
	switch {
	case g.Number != nil:
		return c.signed(g.Number)
	case g.Duration != nil:
		return c.duration(p, *g.Duration, false, p.Offset+int32(len(*g.Duration)))
	case g.String != nil:
		return &StringLit{Pos: p, Value: *g.String}
	default:
		return &BoolLit{Pos: p, Value: *g.Bool == "true"}
	}
}

func (c *converter) signed(g *gSigned) *NumberLit {
	raw := g.Number
	if g.Neg {
		raw = "-" + raw
	}
	return c.number(c.pos(g.Pos), raw, g.Fixed, int32(g.EndPos.Offset))
}

func (c *converter) number(p Pos, raw string, fixed bool, end int32) *NumberLit {
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsInf(v, 0) {
		c.errs.Add(p, "number %s is out of range", raw)
	}
	return &NumberLit{Pos: p, End: end, Raw: raw, Value: v, IsInt: !strings.ContainsAny(raw, ".eE"), Fixed: fixed}
}

func (c *converter) dur(g *gDur) *DurationLit {
	return c.duration(c.pos(g.Pos), g.Raw, g.Fixed, int32(g.EndPos.Offset))
}

var durationUnits = map[string]float64{"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}

// ParseDuration converts a duration literal such as "1h30m" to seconds.
func ParseDuration(raw string) (float64, error) {
	total, s := 0.0, raw
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		j := i
		for j < len(s) && (s[j] < '0' || s[j] > '9') {
			j++
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		unit, ok := durationUnits[s[i:j]]
		if i == 0 || err != nil || !ok {
			return 0, fmt.Errorf("bad duration %q", raw)
		}
		total += n * unit
		s = s[j:]
	}
	return total, nil
}

func (c *converter) duration(p Pos, raw string, fixed bool, end int32) *DurationLit {
	secs, err := ParseDuration(raw)
	if err != nil {
		c.errs.Add(p, "%v", err)
	}
	return &DurationLit{Pos: p, End: end, Raw: raw, Seconds: secs, Fixed: fixed}
}

func (c *converter) or(g *gOr) Expr {
	x := c.and(g.Left)
	for _, r := range g.Right {
		y := c.and(r)
		x = &Binary{Pos: x.Position(), OpPos: c.opPos(r.Pos, "or"), Op: "or", X: x, Y: y}
	}
	return x
}

// opPos approximates the operator's place: participle records where the
// right operand starts, so step back over the keyword and one space.
func (c *converter) opPos(right lexer.Position, op string) Pos {
	p := c.pos(right)
	back := int32(len(op) + 1)
	if p.Col > back {
		p.Col -= back
		p.Offset -= back
	}
	return p
}

func (c *converter) and(g *gAnd) Expr {
	x := c.not(g.Left)
	for _, r := range g.Right {
		y := c.not(r)
		x = &Binary{Pos: x.Position(), OpPos: c.opPos(r.Pos, "and"), Op: "and", X: x, Y: y}
	}
	return x
}

func (c *converter) not(g *gNot) Expr {
	if g.Not != nil {
		return &Unary{Pos: c.pos(g.Pos), Op: "not", X: c.not(g.Not)}
	}
	return c.cmp(g.Cmp)
}

func (c *converter) cmp(g *gCmp) Expr {
	x := c.add(g.Left)
	t := g.Tail
	if t == nil {
		return x
	}
	if t.Between != nil {
		return &Between{Pos: x.Position(), X: x, Lo: c.add(t.Between.Lo), Hi: c.add(t.Between.Hi)}
	}
	op := t.Op
	if op == "notin" {
		op = "not in"
	}
	return &Binary{Pos: x.Position(), OpPos: c.pos(t.Pos), Op: op, X: x, Y: c.add(t.Right)}
}

func (c *converter) add(g *gAdd) Expr {
	x := c.mul(g.Left)
	for _, r := range g.Right {
		x = &Binary{Pos: x.Position(), OpPos: c.pos(r.Pos), Op: r.Op, X: x, Y: c.mul(r.X)}
	}
	return x
}

func (c *converter) mul(g *gMul) Expr {
	x := c.unary(g.Left)
	for _, r := range g.Right {
		x = &Binary{Pos: x.Position(), OpPos: c.pos(r.Pos), Op: r.Op, X: x, Y: c.unary(r.X)}
	}
	return x
}

func (c *converter) unary(g *gUnary) Expr {
	if g.Neg == nil {
		return c.primary(g.Primary)
	}
	x := c.unary(g.Neg)
	p := c.pos(g.Pos)
	switch lit := x.(type) {
	case *NumberLit:
		// Fold the sign into the literal so `-2` is one threshold.
		if !lit.Fixed && !strings.HasPrefix(lit.Raw, "-") {
			return c.number(p, "-"+lit.Raw, false, lit.End)
		}
	}
	return &Unary{Pos: p, Op: "-", X: x}
}

func (c *converter) primary(g *gPrimary) Expr {
	p := c.pos(g.Pos)
	end := int32(g.EndPos.Offset)
	switch {
	case g.Fixed != nil:
		f := g.Fixed
		if f.Duration != nil {
			return c.duration(p, *f.Duration, true, end)
		}
		raw := *f.Number
		if f.Neg {
			raw = "-" + raw
		}
		return c.number(p, raw, true, end)
	case g.Number != nil:
		return c.number(p, *g.Number, false, end)
	case g.Duration != nil:
		return c.duration(p, *g.Duration, false, end)
	case g.String != nil:
		return &StringLit{Pos: p, Value: *g.String}
	case g.Bool != nil:
		return &BoolLit{Pos: p, Value: *g.Bool == "true"}
	case g.List != nil:
		l := &ListLit{Pos: p, Items: []Expr{}}
		for _, it := range g.List.Items {
			l.Items = append(l.Items, c.or(it))
		}
		return l
	case g.Call != nil:
		call := &Call{Pos: p, Fn: c.ident(g.Call.Fn)}
		for _, a := range g.Call.Args {
			call.Args = append(call.Args, c.or(a))
		}
		return call
	case g.Name != nil:
		return &Ident{Pos: p, Name: *g.Name}
	default:
		return &Paren{Pos: p, X: c.or(g.Paren)}
	}
}
