package lsp

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tliron/glsp"
	protocol "github.com/tliron/glsp/protocol_3_16"

	"github.com/riskforge/riskforge/compiler"
)

// recorder is a glsp context that keeps the last published diagnostics.
func recorder(last *protocol.PublishDiagnosticsParams) *glsp.Context {
	return &glsp.Context{Notify: func(method string, params any) {
		if p, ok := params.(protocol.PublishDiagnosticsParams); ok {
			*last = p
		}
	}}
}

// inBounds reports whether r lies inside t.
func inBounds(t *text, r protocol.Range) bool {
	end := t.position(len(t.src))
	ok := func(p protocol.Position) bool {
		return p.Line < end.Line || p.Line == end.Line && p.Character <= end.Character
	}
	return ok(r.Start) && ok(r.End) && (r.Start.Line < r.End.Line || r.Start.Line == r.End.Line && r.Start.Character <= r.End.Character)
}

// FuzzLSPDidChange applies a random incremental edit (positions may be
// past the end, reversed, or inside a multi-byte character) to the test
// policy and then asks for everything the server answers at a random
// position: nothing may panic and every range answered must lie inside
// the edited text.
func FuzzLSPDidChange(f *testing.F) {
	f.Add(uint32(23), uint32(19), uint32(23), uint32(22), "dtti", uint32(23), uint32(20))
	f.Add(uint32(0), uint32(0), uint32(99), uint32(0), "", uint32(0), uint32(0))
	f.Add(uint32(5), uint32(200), uint32(2), uint32(1), "é\n€😀 rule x when", uint32(5), uint32(3))
	f.Add(uint32(26), uint32(0), uint32(26), uint32(0), "rule y when (((", uint32(26), uint32(5))
	f.Add(uint32(9), uint32(0), uint32(9), uint32(0), "}", uint32(12), uint32(8))
	f.Fuzz(func(t *testing.T, l1, c1, l2, c2 uint32, ins string, hl, hc uint32) {
		s := New()
		var last protocol.PublishDiagnosticsParams
		ctx := recorder(&last)
		if err := s.didOpen(ctx, &protocol.DidOpenTextDocumentParams{TextDocument: protocol.TextDocumentItem{URI: testURI, Version: 1, Text: testPolicy}}); err != nil {
			t.Fatal(err)
		}
		r := protocol.Range{Start: protocol.Position{Line: l1 % 40, Character: c1 % 120}, End: protocol.Position{Line: l2 % 40, Character: c2 % 120}}
		err := s.didChange(ctx, &protocol.DidChangeTextDocumentParams{
			TextDocument:   protocol.VersionedTextDocumentIdentifier{TextDocumentIdentifier: protocol.TextDocumentIdentifier{URI: testURI}, Version: 2},
			ContentChanges: []any{protocol.TextDocumentContentChangeEvent{Range: &r, Text: ins}},
		})
		if err != nil {
			t.Fatal(err)
		}
		a, _ := s.doc(testURI)
		sameParse(t, testPolicy, a.text.src)
		for _, d := range last.Diagnostics {
			if !inBounds(a.text, d.Range) {
				t.Fatalf("diagnostic %q at %+v outside the text", d.Message, d.Range)
			}
		}
		checkAnswers(t, s, a, protocol.Position{Line: hl % 40, Character: hc % 120})
	})
}

// checkAnswers asks hover, definition, references, symbols, tokens and
// formatting at p and checks every range.
func checkAnswers(t *testing.T, s *Server, a *analysis, p protocol.Position) {
	tp := protocol.TextDocumentPositionParams{TextDocument: protocol.TextDocumentIdentifier{URI: testURI}, Position: p}
	var ranges []protocol.Range
	if h, err := s.hover(nil, &protocol.HoverParams{TextDocumentPositionParams: tp}); err != nil {
		t.Fatal(err)
	} else if h != nil {
		ranges = append(ranges, *h.Range)
	}
	def, err := s.definition(nil, &protocol.DefinitionParams{TextDocumentPositionParams: tp})
	if err != nil {
		t.Fatal(err)
	}
	if locs, ok := def.([]protocol.Location); ok {
		for _, l := range locs {
			ranges = append(ranges, l.Range)
		}
	}
	refs, err := s.references(nil, &protocol.ReferenceParams{TextDocumentPositionParams: tp, Context: protocol.ReferenceContext{IncludeDeclaration: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range refs {
		ranges = append(ranges, l.Range)
	}
	syms, err := s.documentSymbol(nil, &protocol.DocumentSymbolParams{TextDocument: tp.TextDocument})
	if err != nil {
		t.Fatal(err)
	}
	for _, sym := range syms.([]protocol.DocumentSymbol) {
		ranges = append(ranges, sym.Range, sym.SelectionRange)
		for _, c := range sym.Children {
			ranges = append(ranges, c.Range, c.SelectionRange)
		}
	}
	if edits, err := s.formatting(nil, &protocol.DocumentFormattingParams{TextDocument: tp.TextDocument}); err == nil {
		for _, e := range edits {
			ranges = append(ranges, e.Range)
		}
	}
	for _, r := range ranges {
		if !inBounds(a.text, r) {
			t.Fatalf("answer range %+v outside the text", r)
		}
	}
	if _, err := s.semanticTokens(nil, &protocol.SemanticTokensParams{TextDocument: tp.TextDocument}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.completion(nil, &protocol.CompletionParams{TextDocumentPositionParams: tp}); err != nil {
		t.Fatal(err)
	}
}

// bigPolicy returns a policy with n rules, each reading a let, an input
// and a tunable threshold.
func bigPolicy(n int) string {
	var b strings.Builder
	b.WriteString("policy big version \"1\"\n\ninput {\n  user_id string\n  amount float >= 0\n  income float default 0\n  ts time\n}\n\n")
	b.WriteString("window apps_1h = count() over 1h by user_id\nlet dti = amount / max(income, 1)\n\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "rule r%d when dti > %d.5 and amount > %d and apps_1h > 2 emit score 0.%d reason \"synthetic rule\"\n", i, i%7, 100+i, 1+i%9)
	}
	b.WriteString("\ndecide { bias -3.0 reject when score >= 0.85 review when score >= 0.5 otherwise approve }\n")
	return b.String()
}

// BenchmarkLSPDiagnostics500Rules measures an edit to a 500-rule policy
// until its diagnostics are published (parse, check, compile for hover,
// index) — what the user waits for after a keystroke. Its peer,
// BenchmarkLSPPeerCheck500Rules, is `riskc check`'s work on the same text.
func BenchmarkLSPDiagnostics500Rules(b *testing.B) {
	src := bigPolicy(500)
	s := New()
	var last protocol.PublishDiagnosticsParams
	ctx := recorder(&last)
	s.didOpen(ctx, &protocol.DidOpenTextDocumentParams{TextDocument: protocol.TextDocumentItem{URI: testURI, Version: 1, Text: src}})
	if len(last.Diagnostics) != 0 {
		b.Fatalf("the benchmark policy has diagnostics: %+v", last.Diagnostics[0])
	}
	line := protocol.UInteger(strings.Count(src[:strings.Index(src, "rule r250 ")], "\n"))
	// Keystrokes in the middle: type a digit into r250's threshold (5.5 ->
	// 15.5), then delete it; every later declaration moves by one byte.
	insert := protocol.Range{Start: protocol.Position{Line: line, Character: 21}, End: protocol.Position{Line: line, Character: 21}}
	remove := protocol.Range{Start: protocol.Position{Line: line, Character: 21}, End: protocol.Position{Line: line, Character: 22}}
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		change := protocol.TextDocumentContentChangeEvent{Range: &insert, Text: "1"}
		if i%2 == 1 {
			change = protocol.TextDocumentContentChangeEvent{Range: &remove, Text: ""}
		}
		s.didChange(ctx, &protocol.DidChangeTextDocumentParams{
			TextDocument:   protocol.VersionedTextDocumentIdentifier{TextDocumentIdentifier: protocol.TextDocumentIdentifier{URI: testURI}, Version: protocol.Integer(i + 2)},
			ContentChanges: []any{change},
		})
		if len(last.Diagnostics) != 0 {
			b.Fatalf("edit %d produced diagnostics: %s", i, last.Diagnostics[0].Message)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/edit")
}

// BenchmarkLSPPeerCheck500Rules is the checker alone on the same policy.
func BenchmarkLSPPeerCheck500Rules(b *testing.B) {
	src := []byte(bigPolicy(500))
	for i := 0; i < b.N; i++ {
		if _, diags := compiler.CheckSource("big.risk", src, compiler.Options{}); len(diags) != 0 {
			b.Fatal(diags)
		}
	}
}

// cpuTime is the CPU time this process has used: on a machine shared with
// other jobs it shows the work an edit costs apart from waiting for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
