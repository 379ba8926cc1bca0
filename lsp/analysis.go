package lsp

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// Declaration kinds, as hover and document symbols name them.
const (
	kindInput  = "input"
	kindLet    = "let"
	kindList   = "list"
	kindModel  = "model"
	kindWindow = "window"
	kindRule   = "rule"
)

// decl is one named declaration of a policy.
type decl struct {
	kind string
	name *lang.Ident
	node lang.Node // the declaration (a *lang.Field for inputs)
	sym  *compiler.Symbol
	rule *compiler.Rule
	refs []*lang.Ident // every occurrence, the declaration's name first
}

// occurrence is a name in the source and the declaration it refers to.
type occurrence struct {
	start, end int
	id         *lang.Ident
	decl       *decl
}

// analysis is everything the server knows about one version of a
// document: the parse, the check, the compiled program when the policy
// has no errors, and an index of names.
type analysis struct {
	text     *text
	file     *lang.File
	pol      *compiler.Policy // nil when the file did not parse at all
	prog     *vm.Program      // nil unless the policy checked clean; see program
	compiled bool
	diags    lang.ErrorList
	decls    []*decl
	occ      []occurrence // sorted by start
}

// analyze parses and checks src. A file with syntax errors is still
// checked, declaration by declaration, for navigation (its checker
// diagnostics are dropped: they would be noise after a syntax error), so
// go-to-definition keeps working while a line is half typed.
func analyze(p *parser, path, src string) *analysis {
	a := &analysis{text: newText(src)}
	f, errs := p.parse(path, src)
	a.file, a.diags = f, errs
	pol, diags := compiler.Check(f, compiler.Options{CheckFiles: path != ""})
	a.pol = pol
	if errs == nil {
		a.diags = diags
	}
	a.index()
	return a
}

// program compiles the policy for the parameter table hover shows; nil
// when it has errors. Compiling costs as much as checking, so it happens
// on the first hover after an edit, not on every keystroke.
func (a *analysis) program() *vm.Program {
	if !a.compiled {
		a.compiled = true
		if a.pol != nil && !a.diags.HasErrors() {
			a.prog, _, _ = compiler.Compile(a.pol, compiler.CompileOptions{ReadFile: readOrEmpty})
		}
	}
	return a.prog
}

// readOrEmpty reads list files for compilation; a missing file compiles
// as an empty list (the checker already reported it), so hover still shows
// parameter values.
func readOrEmpty(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil
	}
	return data, nil
}

// index collects the declarations and every reference to them.
func (a *analysis) index() {
	bySym := map[*compiler.Symbol]*decl{}
	add := func(kind string, id *lang.Ident, node lang.Node) *decl {
		if id == nil {
			return nil
		}
		d := &decl{kind: kind, name: id, node: node, refs: []*lang.Ident{id}}
		a.decls = append(a.decls, d)
		return d
	}
	if p := a.pol; p != nil {
		for _, in := range p.Inputs {
			bySym[in.Sym] = add(kindInput, in.Decl.Name, in.Decl)
		}
		for _, l := range p.Lists {
			bySym[l.Sym] = add(kindList, l.Decl.Name, l.Decl)
		}
		for _, m := range p.Models {
			bySym[m.Sym] = add(kindModel, m.Decl.Name, m.Decl)
		}
		for _, w := range p.Windows {
			bySym[w.Sym] = add(kindWindow, w.Decl.Name, w.Decl)
		}
		for _, l := range p.Lets {
			bySym[l.Sym] = add(kindLet, l.Decl.Name, l.Decl)
		}
		for _, r := range p.Rules {
			if d := add(kindRule, r.Decl.Name, r.Decl); d != nil {
				d.rule = r
			}
		}
		for s, d := range bySym {
			if d != nil {
				d.sym = s
			}
		}
		for id, s := range p.Uses {
			if d := bySym[s]; d != nil && id != d.name {
				d.refs = append(d.refs, id)
			}
		}
	}
	for _, d := range a.decls {
		sort.Slice(d.refs[1:], func(i, j int) bool { return d.refs[1+i].Pos.Offset < d.refs[1+j].Pos.Offset })
		for _, id := range d.refs {
			start := a.text.posOffset(id.Pos)
			a.occ = append(a.occ, occurrence{start: start, end: start + len(id.Name), id: id, decl: d})
		}
	}
	sort.Slice(a.decls, func(i, j int) bool { return a.decls[i].name.Pos.Offset < a.decls[j].name.Pos.Offset })
	sort.Slice(a.occ, func(i, j int) bool { return a.occ[i].start < a.occ[j].start })
}

// at returns the name at byte offset off (a cursor just after a name
// counts, as editors place it there), or nil.
func (a *analysis) at(off int) *occurrence {
	i := sort.Search(len(a.occ), func(i int) bool { return a.occ[i].end >= off })
	if i < len(a.occ) && a.occ[i].start <= off {
		return &a.occ[i]
	}
	return nil
}

// param returns the tunable parameter whose literal covers off, or nil.
func (a *analysis) param(off int) *vm.Param {
	if a.program() == nil {
		return nil
	}
	for i := range a.prog.Params {
		p := &a.prog.Params[i]
		if int(p.Off) <= off && off < int(p.End) {
			return p
		}
	}
	return nil
}

// typeOf returns the checked type of a declaration's value.
func (d *decl) typeOf() string {
	if d.sym != nil && d.sym.Type != compiler.Invalid {
		return d.sym.Type.String()
	}
	return "?"
}

// hover describes a declaration in Markdown: its kind, name and type, and
// what it is made of (an input's constraints, a let's expression, a
// window's aggregate, a model's inputs and output, a rule's effect).
func (a *analysis) hover(d *decl) string {
	var b strings.Builder
	switch n := d.node.(type) {
	case *lang.Field:
		fmt.Fprintf(&b, "input `%s`: %s", n.Name.Name, d.typeOf())
		if n.Optional {
			b.WriteString(", optional (use under exists())")
		}
		if n.Default != nil {
			fmt.Fprintf(&b, ", default %s", lang.FormatExpr(n.Default))
		}
		for _, bd := range n.Bounds {
			if bd.Op == "between" {
				fmt.Fprintf(&b, ", between %s and %s", lang.FormatExpr(bd.Lo), lang.FormatExpr(bd.Hi))
			} else {
				fmt.Fprintf(&b, ", %s %s", bd.Op, lang.FormatExpr(bd.Lo))
			}
		}
	case *lang.LetDecl:
		fmt.Fprintf(&b, "let `%s`: %s\n\n```risk\n%s = %s\n```", n.Name.Name, d.typeOf(), n.Name.Name, lang.FormatExpr(n.Value))
	case *lang.ListDecl:
		fmt.Fprintf(&b, "list `%s`: %s", n.Name.Name, d.typeOf())
		if n.File != nil {
			fmt.Fprintf(&b, ", from file %q", n.File.Value)
		} else {
			fmt.Fprintf(&b, ", %d inline items", len(n.Items))
		}
	case *lang.WindowDecl:
		arg := ""
		if n.Arg != nil {
			arg = lang.FormatExpr(n.Arg)
		}
		fmt.Fprintf(&b, "window `%s`: %s — %s(%s) over %s by %s", n.Name.Name, d.typeOf(), n.Agg.Name, arg, n.Over.Raw, windowKeyText(n))
	case *lang.ModelDecl:
		a.hoverModel(&b, n)
	case *lang.RuleDecl:
		a.hoverRule(&b, d)
	}
	return b.String()
}

func (a *analysis) hoverModel(b *strings.Builder, n *lang.ModelDecl) {
	fmt.Fprintf(b, "model `%s`: float — onnx %q\n\ninputs:", n.Name.Name, n.Path.Value)
	for _, in := range n.Inputs {
		typ := "?"
		if s := a.pol.Uses[in]; s != nil {
			typ = s.Type.String()
		}
		fmt.Fprintf(b, " `%s` %s,", in.Name, typ)
	}
	s := strings.TrimSuffix(b.String(), ",")
	b.Reset()
	b.WriteString(s)
	out, idx := "(first output)", "0"
	if n.Output != nil {
		out = fmt.Sprintf("%q", n.Output.Value)
	}
	if n.OutputIndex != nil {
		idx = n.OutputIndex.Raw
	}
	fmt.Fprintf(b, "\n\noutput: %s[%s]", out, idx)
	if n.Timeout != nil {
		fmt.Fprintf(b, ", timeout %s", n.Timeout.Raw)
	}
	if n.OnError != nil {
		fmt.Fprintf(b, ", on_error %s", n.OnError.Raw)
	}
}

func (a *analysis) hoverRule(b *strings.Builder, d *decl) {
	n := d.node.(*lang.RuleDecl)
	fmt.Fprintf(b, "rule `%s`", n.Name.Name)
	if len(n.On) > 0 {
		var on []string
		for _, e := range n.On {
			on = append(on, e.Name)
		}
		fmt.Fprintf(b, " on %s", strings.Join(on, ", "))
	}
	switch {
	case n.Emit == nil:
	case n.Emit.Score != nil:
		fmt.Fprintf(b, " — emit score %s", lang.FormatExpr(n.Emit.Score))
		if a.program() != nil {
			if i := a.prog.ParamIndex(n.Name.Name + ".weight"); i >= 0 {
				fmt.Fprintf(b, " (parameter `%s` = %g)", a.prog.Params[i].Name, a.prog.Params[i].Value)
			}
		}
	case n.Emit.Action != nil:
		fmt.Fprintf(b, " — emit %s", n.Emit.Action.Name)
	}
	if n.Reason != nil {
		fmt.Fprintf(b, "\n\nreason: %q", n.Reason.Value)
	}
}

// hoverParam describes a tunable number.
func hoverParam(p *vm.Param) string {
	s := fmt.Sprintf("%s parameter `%s` = %g%s", p.Kind, p.Name, p.Value, p.Unit)
	if p.IsInt {
		s += " (integer)"
	}
	return s + "\n\ntrainable: `riskc train` may move it; write `fixed` before the number to pin it."
}

// windowKeyText is a window's key as written: one input or a tuple.
func windowKeyText(n *lang.WindowDecl) string {
	names := make([]string, len(n.By))
	for i, id := range n.By {
		names[i] = id.Name
	}
	if len(names) == 1 && !n.Tuple {
		return names[0]
	}
	return "(" + strings.Join(names, ", ") + ")"
}
