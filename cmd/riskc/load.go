package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
)

// loadProgram loads a compiled policy for the subcommands that evaluate
// or inspect one: a .rbc artifact (the IR is nil) or .risk source, whose
// diagnostics it prints to stderr. On failure it has printed why and
// returns a non-zero exit code.
func loadProgram(path string, stderr io.Writer) (*vm.Program, *compiler.IR, int) {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "riskc: %v\n", err)
		return nil, nil, exitError
	}
	return compileSource(path, data, stderr)
}

// compileSource turns file contents into a program with compiler.Load,
// printing every diagnostic (warnings included) to stderr. Errors in the
// policy, or a list file that cannot be read, give exitError. Callers that
// need source (build, train) reject artifacts before calling it.
func compileSource(path string, src []byte, stderr io.Writer) (*vm.Program, *compiler.IR, int) {
	prog, ir, diags, err := compiler.Load(path, src)
	printDiagnostics(stderr, diags, false)
	if err != nil {
		if !diags.HasErrors() {
			fmt.Fprintf(stderr, "riskc: %v\n", err)
		}
		return nil, nil, exitError
	}
	return prog, ir, exitOK
}

// naList is the --na flag: comma-separated texts (CSV quoting, so '""'
// is the empty text) that mean a missing value.
type naList []string

func (n *naList) String() string { return strings.Join(*n, ",") }

func (n *naList) Set(v string) error {
	rec, err := csv.NewReader(strings.NewReader(v)).Read()
	if err != nil {
		return fmt.Errorf("--na: %w", err)
	}
	*n = append(*n, rec...)
	return nil
}
