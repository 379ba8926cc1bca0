package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
)

// isArtifact reports whether a file is a compiled artifact rather than
// policy source: by its .rbc extension or by the artifact magic.
func isArtifact(path string, data []byte) bool {
	return filepath.Ext(path) == ".rbc" || bytes.HasPrefix(data, []byte(vm.ArtifactMagic))
}

// loadProgram loads a compiled policy for the subcommands that evaluate
// or inspect one. path is either a .rbc artifact (decoded and verified;
// the IR is nil) or .risk source (checked and compiled in memory, its
// diagnostics printed to stderr). On failure it has printed why and
// returns a non-zero exit code.
func loadProgram(path string, stderr io.Writer) (*vm.Program, *compiler.IR, int) {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "riskc: %v\n", err)
		return nil, nil, exitError
	}
	if isArtifact(path, data) {
		prog, err := vm.Decode(data)
		if err != nil {
			fmt.Fprintf(stderr, "riskc: %s: %v\n", path, err)
			return nil, nil, exitError
		}
		return prog, nil, exitOK
	}
	return compileSource(path, data, stderr)
}

// compileSource checks and compiles policy source, printing every
// diagnostic (warnings included) to stderr. Errors in the policy, or a
// list file that cannot be read, give exitError.
func compileSource(path string, src []byte, stderr io.Writer) (*vm.Program, *compiler.IR, int) {
	pol, diags := compiler.CheckSource(path, src, compiler.Options{CheckFiles: true})
	printDiagnostics(stderr, diags, false)
	if diags.HasErrors() {
		return nil, nil, exitError
	}
	prog, ir, err := compiler.Compile(pol, compiler.CompileOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "riskc: %v\n", err)
		return nil, nil, exitError
	}
	return prog, ir, exitOK
}
