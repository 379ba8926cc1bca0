package main

import (
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sourcegraph/jsonrpc2"
)

// pipes joins a child's stdout (read) and stdin (write) into one stream.
type pipes struct {
	io.ReadCloser
	io.WriteCloser
}

func (p pipes) Close() error { p.WriteCloser.Close(); return p.ReadCloser.Close() }

// TestLSPBinary starts the built `riskc lsp` the way an editor does and
// speaks LSP over its stdin and stdout: initialize, open a policy with a
// mistake, get its diagnostic, shut down and exit with status 0.
func TestLSPBinary(t *testing.T) {
	cmd := exec.Command(riskcBinary(t), "lsp")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	diags := make(chan map[string]any, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := jsonrpc2.NewConn(ctx, jsonrpc2.NewBufferedStream(pipes{stdout, stdin}, jsonrpc2.VSCodeObjectCodec{}), jsonrpc2.HandlerWithError(
		func(_ context.Context, _ *jsonrpc2.Conn, r *jsonrpc2.Request) (any, error) {
			if r.Method == "textDocument/publishDiagnostics" {
				var p map[string]any
				json.Unmarshal(*r.Params, &p)
				diags <- p
			}
			return nil, nil
		}))
	var init map[string]any
	if err := conn.Call(ctx, "initialize", map[string]any{"capabilities": map[string]any{}}, &init); err != nil {
		t.Fatalf("initialize: %v (stderr: %s)", err, stderr.String())
	}
	conn.Notify(ctx, "initialized", map[string]any{})
	src := "policy p version \"1\"\ninput {\n  amount float\n}\nrule big when amont > 10 emit review reason \"big\"\n"
	conn.Notify(ctx, "textDocument/didOpen", map[string]any{"textDocument": map[string]any{"uri": "untitled:p.risk", "languageId": "risk", "version": 1, "text": src}})
	select {
	case p := <-diags:
		list, _ := p["diagnostics"].([]any)
		if len(list) != 1 || !strings.Contains(list[0].(map[string]any)["message"].(string), `unknown name "amont"`) {
			t.Fatalf("diagnostics %v", p)
		}
		start := list[0].(map[string]any)["range"].(map[string]any)["start"].(map[string]any)
		if start["line"] != float64(4) || start["character"] != float64(14) {
			t.Fatalf("diagnostic at %v, want line 4 character 14", start)
		}
	case <-ctx.Done():
		t.Fatal("no diagnostics from riskc lsp")
	}
	if err := conn.Call(ctx, "shutdown", nil, nil); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	conn.Notify(ctx, "exit", nil)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("riskc lsp exited with %v after exit (stderr: %s)", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("riskc lsp did not exit after the exit notification")
	}
}
