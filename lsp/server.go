package lsp

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"sync"

	"github.com/sourcegraph/jsonrpc2"
	"github.com/tliron/glsp"
	protocol "github.com/tliron/glsp/protocol_3_16"

	"github.com/riskforge/riskforge/lang"
)

// Name is the server name reported to clients.
const Name = "riskc-lsp"

// Server is a language server for policy files. One Server serves one
// client connection; its documents live in memory until closed.
type Server struct {
	Version string // reported in serverInfo

	mu      sync.Mutex
	docs    map[protocol.DocumentUri]*document
	handler protocol.Handler
}

// document is an open file: its latest text and analysis.
type document struct {
	uri     protocol.DocumentUri
	path    string // "" when the URI is not a file
	version protocol.Integer
	a       *analysis
	parser  parser
}

// New returns a server with no open documents.
func New() *Server {
	s := &Server{docs: map[protocol.DocumentUri]*document{}}
	s.handler = protocol.Handler{
		Initialize:                     s.initialize,
		Initialized:                    func(*glsp.Context, *protocol.InitializedParams) error { return nil },
		Shutdown:                       func(*glsp.Context) error { return nil },
		Exit:                           func(*glsp.Context) error { return nil },
		SetTrace:                       func(*glsp.Context, *protocol.SetTraceParams) error { return nil },
		TextDocumentDidOpen:            s.didOpen,
		TextDocumentDidChange:          s.didChange,
		TextDocumentDidSave:            s.didSave,
		TextDocumentDidClose:           s.didClose,
		TextDocumentHover:              s.hover,
		TextDocumentDefinition:         s.definition,
		TextDocumentReferences:         s.references,
		TextDocumentCompletion:         s.completion,
		TextDocumentDocumentSymbol:     s.documentSymbol,
		TextDocumentFormatting:         s.formatting,
		TextDocumentSemanticTokensFull: s.semanticTokens,
	}
	return s
}

// Serve answers one client on stream until it disconnects or sends exit
// (or ctx ends). Requests are handled one at a time in arrival order, so
// every answer sees every earlier edit.
func (s *Server) Serve(ctx context.Context, stream io.ReadWriteCloser) error {
	conn := jsonrpc2.NewConn(ctx, jsonrpc2.NewBufferedStream(stream, jsonrpc2.VSCodeObjectCodec{}), jsonrpc2.HandlerWithError(s.handle))
	select {
	case <-conn.DisconnectNotify():
	case <-ctx.Done():
		conn.Close()
	}
	return nil
}

// handle passes one JSON-RPC message to glsp's dispatcher and maps its
// outcome to a JSON-RPC answer.
func (s *Server) handle(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) (any, error) {
	gctx := &glsp.Context{
		Method: req.Method,
		Notify: func(method string, params any) { _ = conn.Notify(ctx, method, params) },
		Call:   func(method string, params, result any) { _ = conn.Call(ctx, method, params, result) },
	}
	if req.Params != nil {
		gctx.Params = *req.Params
	}
	r, validMethod, validParams, err := s.handler.Handle(gctx)
	switch {
	case req.Method == protocol.MethodExit:
		return nil, conn.Close()
	case !validMethod:
		return nil, &jsonrpc2.Error{Code: jsonrpc2.CodeMethodNotFound, Message: "method not supported: " + req.Method}
	case !validParams:
		msg := "invalid params"
		if err != nil {
			msg = err.Error()
		}
		return nil, &jsonrpc2.Error{Code: jsonrpc2.CodeInvalidParams, Message: msg}
	case err != nil:
		return nil, &jsonrpc2.Error{Code: jsonrpc2.CodeInvalidRequest, Message: err.Error()}
	}
	return r, nil
}

func (s *Server) initialize(_ *glsp.Context, _ *protocol.InitializeParams) (any, error) {
	caps := s.handler.CreateServerCapabilities()
	sync := protocol.TextDocumentSyncKindIncremental
	yes := true
	caps.TextDocumentSync = protocol.TextDocumentSyncOptions{
		OpenClose: &yes, Change: &sync, Save: protocol.SaveOptions{IncludeText: &yes},
	}
	caps.CompletionProvider = &protocol.CompletionOptions{}
	caps.SemanticTokensProvider = protocol.SemanticTokensOptions{
		Legend: protocol.SemanticTokensLegend{TokenTypes: tokenTypes, TokenModifiers: tokenModifiers},
		Full:   true,
	}
	version := s.Version
	return protocol.InitializeResult{
		Capabilities: caps,
		ServerInfo:   &protocol.InitializeResultServerInfo{Name: Name, Version: &version},
	}, nil
}

// uriPath returns the file path of a file: URI, or "".
func uriPath(uri protocol.DocumentUri) string {
	u, err := url.Parse(string(uri))
	if err != nil || u.Scheme != "file" {
		return ""
	}
	return filepath.FromSlash(u.Path)
}

// update stores a new text for a document, analyses it and publishes its
// diagnostics.
func (s *Server) update(ctx *glsp.Context, uri protocol.DocumentUri, version protocol.Integer, src string) {
	s.mu.Lock()
	d := s.docs[uri]
	if d == nil {
		d = &document{uri: uri, path: uriPath(uri)}
		s.docs[uri] = d
	}
	d.version = version
	d.a = analyze(&d.parser, d.path, src)
	a := d.a
	s.mu.Unlock()
	params := protocol.PublishDiagnosticsParams{URI: uri, Diagnostics: diagnostics(a)}
	if version >= 0 {
		v := protocol.UInteger(version)
		params.Version = &v
	}
	ctx.Notify(protocol.ServerTextDocumentPublishDiagnostics, params)
}

// diagnostics converts the analysis' diagnostics, each underlining the
// word it points at. The list is never nil, so an empty one clears the
// client's markers.
func diagnostics(a *analysis) []protocol.Diagnostic {
	out := []protocol.Diagnostic{}
	src := "riskc"
	for _, e := range a.diags {
		start := a.text.posOffset(e.Pos)
		sev := protocol.DiagnosticSeverityError
		if e.Severity == lang.SevWarning {
			sev = protocol.DiagnosticSeverityWarning
		}
		msg := e.Msg
		if e.Hint != "" {
			msg += " (" + e.Hint + ")"
		}
		out = append(out, protocol.Diagnostic{Range: a.text.rng(start, a.text.wordEnd(start)), Severity: &sev, Source: &src, Message: msg})
	}
	return out
}

// doc returns the analysis of an open document.
func (s *Server) doc(uri protocol.DocumentUri) (*analysis, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.docs[uri]
	if d == nil {
		return nil, fmt.Errorf("document %s is not open", uri)
	}
	return d.a, nil
}

func (s *Server) didOpen(ctx *glsp.Context, p *protocol.DidOpenTextDocumentParams) error {
	s.update(ctx, p.TextDocument.URI, p.TextDocument.Version, p.TextDocument.Text)
	return nil
}

// didChange applies the changes in order, each to the text the previous
// one produced, as the protocol requires.
func (s *Server) didChange(ctx *glsp.Context, p *protocol.DidChangeTextDocumentParams) error {
	a, err := s.doc(p.TextDocument.URI)
	if err != nil {
		return err
	}
	src := a.text.src
	for _, c := range p.ContentChanges {
		src = applyChange(src, c)
	}
	s.update(ctx, p.TextDocument.URI, p.TextDocument.Version, src)
	return nil
}

// applyChange applies one content change. Ranges are clamped to the text
// and a reversed range is read forwards, so no edit can index out of it.
func applyChange(src string, c any) string {
	switch c := c.(type) {
	case protocol.TextDocumentContentChangeEventWhole:
		return c.Text
	case protocol.TextDocumentContentChangeEvent:
		if c.Range == nil {
			return c.Text
		}
		t := newText(src)
		start, end := t.offset(c.Range.Start), t.offset(c.Range.End)
		if end < start {
			start, end = end, start
		}
		return src[:start] + c.Text + src[end:]
	}
	return src
}

func (s *Server) didSave(ctx *glsp.Context, p *protocol.DidSaveTextDocumentParams) error {
	a, err := s.doc(p.TextDocument.URI)
	if err != nil {
		return err
	}
	src := a.text.src
	if p.Text != nil {
		src = *p.Text
	}
	s.mu.Lock()
	version := s.docs[p.TextDocument.URI].version
	s.mu.Unlock()
	s.update(ctx, p.TextDocument.URI, version, src) // list and model files may have changed on disk
	return nil
}

func (s *Server) didClose(ctx *glsp.Context, p *protocol.DidCloseTextDocumentParams) error {
	s.mu.Lock()
	delete(s.docs, p.TextDocument.URI)
	s.mu.Unlock()
	ctx.Notify(protocol.ServerTextDocumentPublishDiagnostics, protocol.PublishDiagnosticsParams{URI: p.TextDocument.URI, Diagnostics: []protocol.Diagnostic{}})
	return nil
}
