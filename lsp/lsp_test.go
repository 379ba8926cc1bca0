package lsp

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sourcegraph/jsonrpc2"
	protocol "github.com/tliron/glsp/protocol_3_16"

	"github.com/riskforge/riskforge/lang"
)

// testPolicy has one of each declaration the server navigates.
const testPolicy = `policy t version "1"
events apply

input {
  user_id string
  amount  float >= 0
  income  float default 0
  ts      time
}

list vip = ["u-1", "u-2"]

window apps_1h = count() over 1h by user_id

model risk = onnx "m.onnx" {
  inputs   [amount, income]
  output   "probabilities" [1]
  timeout  20ms
  on_error 0.5
}

let dti = amount / max(income, 1)

rule high_dti when dti > 0.45 emit score 1.4 reason "high debt-to-income"
rule burst when apps_1h > fixed 3 emit review reason "burst"
rule risky when risk > 0.7 and user_id not in vip emit score 2 reason "model says risky"

decide { bias -3.0 reject when score >= 0.85 review when score >= 0.5 otherwise approve }
`

const testURI = protocol.DocumentUri("untitled:t.risk")

// client is an LSP client over an in-memory pipe: the real JSON-RPC
// framing and messages, as an editor sends them.
type client struct {
	t     *testing.T
	conn  *jsonrpc2.Conn
	diags chan protocol.PublishDiagnosticsParams
}

func newClient(t *testing.T) *client {
	t.Helper()
	srvEnd, cliEnd := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { New().Serve(ctx, srvEnd); close(done) }()
	c := &client{t: t, diags: make(chan protocol.PublishDiagnosticsParams, 16)}
	c.conn = jsonrpc2.NewConn(ctx, jsonrpc2.NewBufferedStream(cliEnd, jsonrpc2.VSCodeObjectCodec{}), jsonrpc2.HandlerWithError(
		func(_ context.Context, _ *jsonrpc2.Conn, r *jsonrpc2.Request) (any, error) {
			if r.Method == "textDocument/publishDiagnostics" {
				var p protocol.PublishDiagnosticsParams
				if err := json.Unmarshal(*r.Params, &p); err != nil {
					t.Errorf("publishDiagnostics: %v", err)
				}
				c.diags <- p
			}
			return nil, nil
		}))
	t.Cleanup(func() {
		c.conn.Close()
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("server did not stop after the client disconnected")
		}
	})
	var init protocol.InitializeResult
	c.call("initialize", protocol.InitializeParams{}, &init)
	if init.ServerInfo == nil || init.ServerInfo.Name != Name {
		t.Fatalf("initialize: serverInfo %+v", init.ServerInfo)
	}
	c.notify("initialized", struct{}{})
	return c
}

func (c *client) call(method string, params, result any) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.conn.Call(ctx, method, params, result); err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
}

func (c *client) notify(method string, params any) {
	c.t.Helper()
	if err := c.conn.Notify(context.Background(), method, params); err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
}

// nextDiags waits for the next publishDiagnostics.
func (c *client) nextDiags() protocol.PublishDiagnosticsParams {
	c.t.Helper()
	select {
	case d := <-c.diags:
		return d
	case <-time.After(10 * time.Second):
		c.t.Fatal("no publishDiagnostics within 10s")
	}
	return protocol.PublishDiagnosticsParams{}
}

func (c *client) open(src string) protocol.PublishDiagnosticsParams {
	c.t.Helper()
	c.notify("textDocument/didOpen", protocol.DidOpenTextDocumentParams{TextDocument: protocol.TextDocumentItem{URI: testURI, LanguageID: "risk", Version: 1, Text: src}})
	return c.nextDiags()
}

// pos returns the position of the n-th (0-based) occurrence of needle in
// src plus delta characters (ASCII sources only).
func pos(t *testing.T, src, needle string, n, delta int) protocol.Position {
	t.Helper()
	off := -1
	for i := 0; i <= n; i++ {
		j := strings.Index(src[off+1:], needle)
		if j < 0 {
			t.Fatalf("%q occurs fewer than %d times", needle, n+1)
		}
		off += 1 + j
	}
	off += delta
	line := strings.Count(src[:off], "\n")
	return protocol.Position{Line: protocol.UInteger(line), Character: protocol.UInteger(off - strings.LastIndex(src[:off], "\n") - 1)}
}

func at(p protocol.Position) protocol.TextDocumentPositionParams {
	return protocol.TextDocumentPositionParams{TextDocument: protocol.TextDocumentIdentifier{URI: testURI}, Position: p}
}

// TestLSPDiagnosticsFollowEdits opens a policy with a misspelt name,
// expects the error on that name's range, fixes it with an incremental
// edit and expects the diagnostics to clear; then breaks the syntax.
func TestLSPDiagnosticsFollowEdits(t *testing.T) {
	c := newClient(t)
	bad := strings.Replace(testPolicy, "and user_id not", "and user_idd not", 1)
	d := c.open(bad)
	if len(d.Diagnostics) != 1 {
		t.Fatalf("want 1 diagnostic, got %+v", d.Diagnostics)
	}
	want := protocol.Range{Start: pos(t, bad, "user_idd", 0, 0), End: pos(t, bad, "user_idd", 0, 8)}
	if got := d.Diagnostics[0]; got.Range != want || !strings.Contains(got.Message, `unknown name "user_idd"`) || *got.Severity != protocol.DiagnosticSeverityError {
		t.Fatalf("diagnostic %+v at %+v, want an error about user_idd at %+v", got, got.Range, want)
	}
	if d.Version == nil || *d.Version != 1 {
		t.Errorf("diagnostics version %v, want 1", d.Version)
	}

	// Delete the extra "d": an incremental edit of one character.
	fix := protocol.Range{Start: pos(t, bad, "user_idd", 0, 7), End: pos(t, bad, "user_idd", 0, 8)}
	c.notify("textDocument/didChange", protocol.DidChangeTextDocumentParams{
		TextDocument:   protocol.VersionedTextDocumentIdentifier{TextDocumentIdentifier: protocol.TextDocumentIdentifier{URI: testURI}, Version: 2},
		ContentChanges: []any{protocol.TextDocumentContentChangeEvent{Range: &fix, Text: ""}},
	})
	if d := c.nextDiags(); len(d.Diagnostics) != 0 || d.Diagnostics == nil {
		t.Fatalf("after the fix want an empty (non-null) list, got %+v", d.Diagnostics)
	}

	// A syntax error on the burst rule's line: `=` for `==`.
	broken := strings.Replace(testPolicy, "apps_1h > fixed 3", "apps_1h = fixed 3", 1)
	c.notify("textDocument/didChange", protocol.DidChangeTextDocumentParams{
		TextDocument:   protocol.VersionedTextDocumentIdentifier{TextDocumentIdentifier: protocol.TextDocumentIdentifier{URI: testURI}, Version: 3},
		ContentChanges: []any{protocol.TextDocumentContentChangeEventWhole{Text: broken}},
	})
	d = c.nextDiags()
	if len(d.Diagnostics) != 1 || d.Diagnostics[0].Range.Start != pos(t, broken, "apps_1h = fixed", 0, 8) || !strings.Contains(d.Diagnostics[0].Message, "syntax error") {
		t.Fatalf("want one syntax error on the burst rule's line, got %+v", d.Diagnostics)
	}
	// didSave re-checks (lists and models may have changed on disk).
	c.notify("textDocument/didSave", protocol.DidSaveTextDocumentParams{TextDocument: protocol.TextDocumentIdentifier{URI: testURI}})
	if d2 := c.nextDiags(); len(d2.Diagnostics) != 1 {
		t.Fatalf("didSave: %+v", d2.Diagnostics)
	}
	var edits []protocol.TextEdit
	err := c.conn.Call(context.Background(), "textDocument/formatting", protocol.DocumentFormattingParams{TextDocument: protocol.TextDocumentIdentifier{URI: testURI}}, &edits)
	if err == nil || !strings.Contains(err.Error(), "syntax errors") {
		t.Fatalf("formatting a broken policy: err %v, edits %v", err, edits)
	}
}

// TestLSPFormatting formats a badly laid out policy into riskc fmt's output.
func TestLSPFormatting(t *testing.T) {
	c := newClient(t)
	messy := strings.ReplaceAll(testPolicy, "rule high_dti when", "rule   high_dti\n    when")
	c.open(messy)
	var edits []protocol.TextEdit
	c.call("textDocument/formatting", protocol.DocumentFormattingParams{TextDocument: protocol.TextDocumentIdentifier{URI: testURI}}, &edits)
	f, err := lang.Parse("t.risk", []byte(messy))
	if err != nil {
		t.Fatal(err)
	}
	want := string(lang.Format(f))
	if len(edits) != 1 || edits[0].NewText != want || edits[0].Range.Start != (protocol.Position{}) || edits[0].Range.End != pos(t, messy+"$", "$", 0, 0) {
		t.Fatalf("formatting edits %+v; want the whole text replaced by riskc fmt's output", edits)
	}
}

// TestLSPHover checks hover on a threshold, a rule weight, a model, an
// input reference and a window.
func TestLSPHover(t *testing.T) {
	c := newClient(t)
	c.open(testPolicy)
	cases := []struct {
		at   protocol.Position
		want []string
	}{
		{pos(t, testPolicy, "0.45", 0, 1), []string{"threshold parameter `high_dti.dti` = 0.45"}},
		{pos(t, testPolicy, "score 1.4", 0, 7), []string{"weight parameter `high_dti.weight` = 1.4"}},
		{pos(t, testPolicy, "risk > 0.7", 0, 2), []string{"model `risk`", "`amount` float", "`income` float", `"probabilities"[1]`, "on_error 0.5"}},
		{pos(t, testPolicy, "amount /", 0, 0), []string{"input `amount`: float", ">= 0"}},
		{pos(t, testPolicy, "apps_1h >", 0, 3), []string{"window `apps_1h`: int", "count() over 1h by user_id"}},
		{pos(t, testPolicy, "dti >", 0, 1), []string{"let `dti`: float", "amount / max(income, 1)"}},
		{pos(t, testPolicy, "high_dti", 0, 2), []string{"rule `high_dti`", "emit score 1.4", "high debt-to-income"}},
	}
	for _, tc := range cases {
		var h struct {
			Contents protocol.MarkupContent `json:"contents"`
		}
		c.call("textDocument/hover", protocol.HoverParams{TextDocumentPositionParams: at(tc.at)}, &h)
		text := h.Contents.Value
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("hover at %+v = %q; want it to contain %q", tc.at, text, w)
			}
		}
	}
	var none json.RawMessage
	c.call("textDocument/hover", protocol.HoverParams{TextDocumentPositionParams: at(pos(t, testPolicy, "\n\nlist", 0, 1))}, &none)
	if string(none) != "null" {
		t.Errorf("hover on a blank line: %s, want null", none)
	}
}

// TestLSPDefinitionAndReferences navigates from uses to declarations of
// an input, a let, a list, a model and a window, and lists references.
func TestLSPDefinitionAndReferences(t *testing.T) {
	c := newClient(t)
	c.open(testPolicy)
	cases := []struct{ use, decl string }{
		{"amount /", "amount  float"},
		{"dti >", "dti ="},
		{"vip emit", "vip ="},
		{"risk >", "risk ="},
		{"apps_1h >", "apps_1h ="},
		{"user_id not", "user_id string"},
		{"burst when", "burst when"}, // a rule: its own declaration
	}
	for _, tc := range cases {
		var locs []protocol.Location
		c.call("textDocument/definition", protocol.DefinitionParams{TextDocumentPositionParams: at(pos(t, testPolicy, tc.use, 0, 1))}, &locs)
		name := strings.Fields(tc.decl)[0]
		want := protocol.Range{Start: pos(t, testPolicy, tc.decl, 0, 0), End: pos(t, testPolicy, tc.decl, 0, len(name))}
		if len(locs) != 1 || locs[0].Range != want || locs[0].URI != testURI {
			t.Errorf("definition of %q: %+v, want %+v", tc.use, locs, want)
		}
	}
	// amount: declared once, used in the model's inputs and the let.
	var refs []protocol.Location
	c.call("textDocument/references", protocol.ReferenceParams{TextDocumentPositionParams: at(pos(t, testPolicy, "amount  float", 0, 0)), Context: protocol.ReferenceContext{IncludeDeclaration: true}}, &refs)
	if len(refs) != 3 {
		t.Fatalf("references of amount: %+v, want 3", refs)
	}
	c.call("textDocument/references", protocol.ReferenceParams{TextDocumentPositionParams: at(pos(t, testPolicy, "amount  float", 0, 0)), Context: protocol.ReferenceContext{IncludeDeclaration: false}}, &refs)
	if len(refs) != 2 || refs[0].Range.Start != pos(t, testPolicy, "amount, income]", 0, 0) {
		t.Fatalf("references of amount without the declaration: %+v", refs)
	}
	// user_id is the window's key as well as a rule's operand.
	c.call("textDocument/references", protocol.ReferenceParams{TextDocumentPositionParams: at(pos(t, testPolicy, "user_id", 0, 0)), Context: protocol.ReferenceContext{IncludeDeclaration: true}}, &refs)
	if len(refs) != 3 {
		t.Fatalf("references of user_id: %+v, want 3", refs)
	}
}

// TestLSPCompletionSymbolsTokens checks the outline, completion and
// semantic tokens.
func TestLSPCompletionSymbolsTokens(t *testing.T) {
	c := newClient(t)
	c.open(testPolicy)
	var syms []protocol.DocumentSymbol
	c.call("textDocument/documentSymbol", protocol.DocumentSymbolParams{TextDocument: protocol.TextDocumentIdentifier{URI: testURI}}, &syms)
	var names []string
	for _, s := range syms {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, " "); got != "input vip apps_1h risk dti high_dti burst risky decide" {
		t.Fatalf("symbols %q", got)
	}
	if len(syms[0].Children) != 4 || syms[0].Children[1].Name != "amount" {
		t.Fatalf("input children %+v", syms[0].Children)
	}
	if r := syms[3].Range; r.Start.Line != pos(t, testPolicy, "model risk", 0, 0).Line || r.End.Line != pos(t, testPolicy, "}\n\nlet", 0, 0).Line {
		t.Fatalf("model symbol range %+v", r)
	}

	var items []protocol.CompletionItem
	c.call("textDocument/completion", protocol.CompletionParams{TextDocumentPositionParams: at(pos(t, testPolicy, "dti >", 0, 0))}, &items)
	have := map[string]bool{}
	for _, it := range items {
		have[it.Label] = true
	}
	for _, w := range []string{"amount", "dti", "apps_1h", "risk", "vip", "max", "exists", "when", "count_distinct"} {
		if !have[w] {
			t.Errorf("completion lacks %q", w)
		}
	}

	var toks protocol.SemanticTokens
	c.call("textDocument/semanticTokens/full", protocol.SemanticTokensParams{TextDocument: protocol.TextDocumentIdentifier{URI: testURI}}, &toks)
	if len(toks.Data)%5 != 0 || len(toks.Data) == 0 {
		t.Fatalf("semantic tokens: %d numbers", len(toks.Data))
	}
	// Decode and check the token on "0.45" is a tunable number.
	var line, char protocol.UInteger
	found := false
	want := pos(t, testPolicy, "0.45", 0, 0)
	for i := 0; i < len(toks.Data); i += 5 {
		if toks.Data[i] > 0 {
			char = 0
		}
		line += toks.Data[i]
		char += toks.Data[i+1]
		if line == want.Line && char == want.Character {
			found = tokenTypes[toks.Data[i+3]] == "number" && toks.Data[i+2] == 4
		}
	}
	if !found {
		t.Fatal("no number token on the tunable threshold 0.45")
	}
}

// TestLSPEditorFiles checks the VS Code extension's JSON files parse, the
// grammar's patterns compile, and every keyword completion offers is
// coloured by the grammar.
func TestLSPEditorFiles(t *testing.T) {
	for _, f := range []string{"package.json", "language-configuration.json", "syntaxes/risk.tmLanguage.json"} {
		data, err := os.ReadFile("../editors/vscode/" + f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	data, _ := os.ReadFile("../editors/vscode/syntaxes/risk.tmLanguage.json")
	var g struct {
		Repository map[string]struct {
			Match    string
			Patterns []struct{ Match, Name string }
		}
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	var res []*regexp.Regexp
	for name, r := range g.Repository {
		pats := []string{r.Match}
		for _, p := range r.Patterns {
			pats = append(pats, p.Match)
		}
		for _, p := range pats {
			if p == "" || strings.Contains(p, "(?=") {
				continue // lookahead: Oniguruma has it, Go's regexp does not
			}
			re, err := regexp.Compile(p)
			if err != nil {
				t.Fatalf("grammar %s: %q: %v", name, p, err)
			}
			if name == "keyword" || name == "declaration" {
				res = append(res, re)
			}
		}
	}
	for _, k := range keywords {
		line := k + " x"
		if k == "count" || k == "sum" || k == "avg" || k == "min" || k == "max" || k == "count_distinct" {
			continue // aggregates: coloured only before "(" (a lookahead)
		}
		ok := false
		for _, re := range res {
			if loc := re.FindStringIndex(line); loc != nil && loc[0] == 0 {
				ok = true
			}
		}
		if !ok {
			t.Errorf("the grammar does not colour keyword %q", k)
		}
	}
}
