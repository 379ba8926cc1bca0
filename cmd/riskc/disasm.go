package main

import (
	"io"

	"github.com/riskforge/riskforge/vm"
)

func init() {
	register("disasm", "print the bytecode listing of an artifact or a policy", runDisasm)
}

func runDisasm(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("disasm", "FILE.rbc|FILE.risk", "Prints a readable listing of a compiled policy: header, input schema,\nparameter table, lists, models, windows, and the bytecode with each source\nline above the instructions compiled from it. A .risk file is compiled in\nmemory first.", stderr)
	if code, ok := parseArgs(fs, args, stdout, 1, 1); !ok {
		return code
	}
	prog, _, code := loadProgram(fs.Arg(0), stderr)
	if code != exitOK {
		return code
	}
	vm.Disassemble(stdout, prog)
	return exitOK
}
