package lsp

import (
	"errors"
	"sort"
	"strings"

	"github.com/tliron/glsp"
	protocol "github.com/tliron/glsp/protocol_3_16"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/lang"
)

// cursor returns the analysis of a document and the byte offset of pos.
func (s *Server) cursor(uri protocol.DocumentUri, pos protocol.Position) (*analysis, int, error) {
	a, err := s.doc(uri)
	if err != nil {
		return nil, 0, err
	}
	return a, a.text.offset(pos), nil
}

// hover shows what the name under the cursor is, or the parameter behind
// the number under it.
func (s *Server) hover(_ *glsp.Context, p *protocol.HoverParams) (*protocol.Hover, error) {
	a, off, err := s.cursor(p.TextDocument.URI, p.Position)
	if err != nil {
		return nil, err
	}
	var md string
	var start, end int
	if prm := a.param(off); prm != nil {
		md, start, end = hoverParam(prm), int(prm.Off), int(prm.End)
	} else if o := a.at(off); o != nil {
		md, start, end = a.hover(o.decl), o.start, o.end
	} else {
		return nil, nil
	}
	r := a.text.rng(start, end)
	return &protocol.Hover{Contents: protocol.MarkupContent{Kind: protocol.MarkupKindMarkdown, Value: md}, Range: &r}, nil
}

func (s *Server) definition(_ *glsp.Context, p *protocol.DefinitionParams) (any, error) {
	a, off, err := s.cursor(p.TextDocument.URI, p.Position)
	if err != nil {
		return nil, err
	}
	o := a.at(off)
	if o == nil {
		return nil, nil
	}
	return []protocol.Location{a.location(p.TextDocument.URI, o.decl.name)}, nil
}

func (s *Server) references(_ *glsp.Context, p *protocol.ReferenceParams) ([]protocol.Location, error) {
	a, off, err := s.cursor(p.TextDocument.URI, p.Position)
	if err != nil {
		return nil, err
	}
	o := a.at(off)
	if o == nil {
		return []protocol.Location{}, nil
	}
	out := []protocol.Location{}
	for i, id := range o.decl.refs {
		if i == 0 && !p.Context.IncludeDeclaration {
			continue
		}
		out = append(out, a.location(p.TextDocument.URI, id))
	}
	return out, nil
}

func (a *analysis) location(uri protocol.DocumentUri, id *lang.Ident) protocol.Location {
	start := a.text.posOffset(id.Pos)
	return protocol.Location{URI: uri, Range: a.text.rng(start, start+len(id.Name))}
}

// keywords are the words of the language, offered by completion.
var keywords = []string{
	"policy", "version", "events", "input", "list", "file", "model", "onnx", "window", "over", "by",
	"let", "rule", "on", "when", "emit", "score", "reject", "review", "approve", "reason",
	"decide", "bias", "otherwise", "and", "or", "not", "in", "between", "true", "false", "fixed",
	"optional", "default", "int", "float", "bool", "string", "time",
	"count", "sum", "avg", "min", "max", "count_distinct",
	"inputs", "output", "timeout", "on_error",
}

// completion offers every declared name, function and keyword; clients
// filter by what is typed.
func (s *Server) completion(_ *glsp.Context, p *protocol.CompletionParams) (any, error) {
	a, err := s.doc(p.TextDocument.URI)
	if err != nil {
		return nil, err
	}
	var items []protocol.CompletionItem
	for _, d := range a.decls {
		kind, detail := completionKind[d.kind], d.kind+" "+d.typeOf()
		items = append(items, protocol.CompletionItem{Label: d.name.Name, Kind: &kind, Detail: &detail})
	}
	fn := protocol.CompletionItemKindFunction
	for _, f := range compiler.FunctionNames() {
		detail := "function"
		items = append(items, protocol.CompletionItem{Label: f, Kind: &fn, Detail: &detail})
	}
	kw := protocol.CompletionItemKindKeyword
	for _, k := range keywords {
		items = append(items, protocol.CompletionItem{Label: k, Kind: &kw})
	}
	return items, nil
}

var completionKind = map[string]protocol.CompletionItemKind{
	kindInput: protocol.CompletionItemKindField, kindLet: protocol.CompletionItemKindVariable,
	kindList: protocol.CompletionItemKindEnum, kindModel: protocol.CompletionItemKindClass,
	kindWindow: protocol.CompletionItemKindEvent, kindRule: protocol.CompletionItemKindMethod,
}

var symbolKind = map[string]protocol.SymbolKind{
	kindInput: protocol.SymbolKindField, kindLet: protocol.SymbolKindVariable,
	kindList: protocol.SymbolKindArray, kindModel: protocol.SymbolKindClass,
	kindWindow: protocol.SymbolKindEvent, kindRule: protocol.SymbolKindFunction,
}

// documentSymbol outlines the policy: the input block with its fields,
// then every list, model, window, let, rule and the decide block, each
// spanning its declaration.
func (s *Server) documentSymbol(_ *glsp.Context, p *protocol.DocumentSymbolParams) (any, error) {
	a, err := s.doc(p.TextDocument.URI)
	if err != nil {
		return nil, err
	}
	out := []protocol.DocumentSymbol{}
	if a.file == nil {
		return out, nil
	}
	byNode := map[lang.Node]*decl{}
	for _, d := range a.decls {
		byNode[d.node] = d
	}
	starts := a.declStarts()
	for i, dn := range a.file.Decls {
		start, end := a.text.posOffset(dn.Position()), a.declEnd(starts, i)
		sym := protocol.DocumentSymbol{Range: a.text.rng(start, end), SelectionRange: a.text.rng(start, start)}
		switch n := dn.(type) {
		case *lang.InputDecl:
			sym.Name, sym.Kind = "input", protocol.SymbolKindStruct
			for _, f := range n.Fields {
				if d := byNode[f]; d != nil {
					sym.Children = append(sym.Children, a.symbol(d, a.text.posOffset(f.Pos), a.text.lineEnd(int(f.Pos.Line)-1)))
				}
			}
		case *lang.DecideDecl:
			sym.Name, sym.Kind = "decide", protocol.SymbolKindNamespace
		default:
			d := byNode[dn]
			if d == nil {
				continue // events, or a declaration the checker rejected
			}
			sym = a.symbol(d, start, end)
		}
		out = append(out, sym)
	}
	return out, nil
}

func (a *analysis) symbol(d *decl, start, end int) protocol.DocumentSymbol {
	ns := a.text.posOffset(d.name.Pos)
	detail := d.kind + " " + d.typeOf()
	if d.kind == kindRule {
		detail = "rule"
	}
	return protocol.DocumentSymbol{
		Name: d.name.Name, Detail: &detail, Kind: symbolKind[d.kind],
		Range: a.text.rng(start, max(end, ns+len(d.name.Name))), SelectionRange: a.text.rng(ns, ns+len(d.name.Name)),
	}
}

// declStarts returns the byte offset where each top-level declaration starts.
func (a *analysis) declStarts() []int {
	var starts []int
	for _, d := range a.file.Decls {
		starts = append(starts, a.text.posOffset(d.Position()))
	}
	return starts
}

// declEnd returns where declaration i ends: before the next one (or the
// end of the text), with trailing blank space and comments left out.
func (a *analysis) declEnd(starts []int, i int) int {
	end := len(a.text.src)
	if i+1 < len(starts) {
		end = starts[i+1]
	}
	end = max(end, starts[i])
	for {
		trimmed := strings.TrimRight(a.text.src[starts[i]:end], " \t\r\n")
		end = starts[i] + len(trimmed)
		// drop a comment line that belongs to the next declaration
		nl := strings.LastIndexByte(trimmed, '\n')
		if nl < 0 || !strings.HasPrefix(strings.TrimSpace(trimmed[nl+1:]), "#") && !strings.HasPrefix(strings.TrimSpace(trimmed[nl+1:]), "//") {
			return end
		}
		end = starts[i] + nl
	}
}

// errNoFormat is answered when the text does not parse.
var errNoFormat = errors.New("the policy has syntax errors; fix them before formatting")

// formatting replaces the whole text with `riskc fmt`'s layout (no edit
// when it is already formatted).
func (s *Server) formatting(_ *glsp.Context, p *protocol.DocumentFormattingParams) ([]protocol.TextEdit, error) {
	a, err := s.doc(p.TextDocument.URI)
	if err != nil {
		return nil, err
	}
	if a.file == nil || hasSyntaxError(a) {
		return nil, errNoFormat
	}
	out := string(lang.Format(a.file))
	if out == a.text.src {
		return []protocol.TextEdit{}, nil
	}
	return []protocol.TextEdit{{Range: a.text.rng(0, len(a.text.src)), NewText: out}}, nil
}

func hasSyntaxError(a *analysis) bool {
	for _, d := range a.diags {
		if strings.HasPrefix(d.Msg, "syntax error") || strings.HasPrefix(d.Msg, "nesting") {
			return true
		}
	}
	return false
}

// Semantic token types and modifiers this server uses (the legend).
var (
	tokenTypes     = []string{"parameter", "variable", "enum", "class", "event", "function", "number"}
	tokenModifiers = []string{"declaration"}
	tokenOf        = map[string]int{kindInput: 0, kindLet: 1, kindList: 2, kindModel: 3, kindWindow: 4, kindRule: 5}
)

const tokenNumber = 6

// semanticTokens colours names by what they refer to (inputs, lets,
// lists, models, windows, rules) and marks tunable numbers, which a
// TextMate grammar cannot tell from fixed ones.
func (s *Server) semanticTokens(_ *glsp.Context, p *protocol.SemanticTokensParams) (*protocol.SemanticTokens, error) {
	a, err := s.doc(p.TextDocument.URI)
	if err != nil {
		return nil, err
	}
	type tok struct{ start, end, typ, mods int }
	var toks []tok
	for _, o := range a.occ {
		mods := 0
		if o.id == o.decl.name {
			mods = 1
		}
		toks = append(toks, tok{o.start, o.end, tokenOf[o.decl.kind], mods})
	}
	if a.program() != nil {
		for _, prm := range a.prog.Params {
			toks = append(toks, tok{int(prm.Off), int(prm.End), tokenNumber, 0})
		}
	}
	sort.Slice(toks, func(i, j int) bool { return toks[i].start < toks[j].start })
	data := []protocol.UInteger{}
	var line, char protocol.UInteger
	last := -1
	for _, t := range toks {
		if t.start < last || t.end > len(a.text.src) {
			continue // overlapping or stale: the protocol allows neither
		}
		sp, ep := a.text.position(t.start), a.text.position(t.end)
		if ep.Line != sp.Line || ep.Character <= sp.Character {
			continue
		}
		dl, dc := sp.Line-line, sp.Character
		if dl == 0 {
			dc = sp.Character - char
		}
		data = append(data, dl, dc, ep.Character-sp.Character, protocol.UInteger(t.typ), protocol.UInteger(t.mods))
		line, char, last = sp.Line, sp.Character, t.end
	}
	return &protocol.SemanticTokens{Data: data}, nil
}
