package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/riskforge/riskforge/lsp"
)

func init() {
	register("lsp", "language server for editors (LSP over stdin/stdout)", runLSP)
}

func runLSP(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("lsp", "", "Serves the Language Server Protocol on stdin and stdout for an editor:\ndiagnostics as you type, formatting, hover, go to definition, references,\ncompletion, document symbols and semantic tokens. Editors start it\nthemselves; docs/EDITORS.md shows the settings for VS Code, Neovim and Helix.", stderr)
	if code, ok := parseArgs(fs, args, stdout, 0, 0); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := lsp.New().Serve(ctx, stdio{}); err != nil {
		return exitError
	}
	return exitOK
}

// stdio is the editor's connection: requests on stdin, answers on stdout.
type stdio struct{}

func (stdio) Read(p []byte) (int, error)  { return os.Stdin.Read(p) }
func (stdio) Write(p []byte) (int, error) { return os.Stdout.Write(p) }
func (stdio) Close() error                { return os.Stdin.Close() }
