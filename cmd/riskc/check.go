package main

import (
	"fmt"
	"io"
	"os"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/lang"
)

func init() {
	register("check", "report errors and warnings in policy files", runCheck)
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", "FILE...", "Parses and type-checks each policy file and prints every diagnostic as\nFILE:LINE:COL: error|warning: message. Exit 0 when no file has errors\n(warnings allowed), 1 when any has, 2 on usage errors.", stderr)
	quiet := fs.Bool("q", false, "print errors only, not warnings")
	noFiles := fs.Bool("no-files", false, "do not check that list and model files exist")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	code := exitOK
	for _, path := range fs.Args() {
		_, diags, err := checkFile(path, compiler.Options{CheckFiles: !*noFiles})
		if err != nil {
			fmt.Fprintf(stderr, "riskc: %v\n", err)
			code = exitError
			continue
		}
		printDiagnostics(stderr, diags, *quiet)
		if diags.HasErrors() {
			code = exitError
		}
	}
	return code
}

// checkFile reads, parses and checks one policy file. err is an I/O error;
// problems in the policy are in the list.
func checkFile(path string, opts compiler.Options) (*compiler.Policy, lang.ErrorList, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	p, diags := compiler.CheckSource(path, src, opts)
	return p, diags, nil
}

// printDiagnostics writes one diagnostic per line.
func printDiagnostics(w io.Writer, diags lang.ErrorList, errorsOnly bool) {
	for _, d := range diags {
		if errorsOnly && d.Severity == lang.SevWarning {
			continue
		}
		fmt.Fprintln(w, d.Error())
	}
}
