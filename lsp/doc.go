// Package lsp is the Riskforge language server behind `riskc lsp`: it
// speaks the Language Server Protocol over a stream (stdio in an editor,
// pipes in tests) and gives editors the same checker and printer as the
// command line — diagnostics as you type, formatting, hover (types,
// parameter values, model inputs and outputs), go to definition, find
// references, completion, document symbols and semantic tokens.
//
// The protocol types and method dispatch are github.com/tliron/glsp's
// (LSP 3.16); the JSON-RPC transport is github.com/sourcegraph/jsonrpc2.
// This package owns only what a policy means to an editor.
package lsp
