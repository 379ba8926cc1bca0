package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/models"
	"github.com/riskforge/riskforge/policytest"
)

func init() {
	register("check", "report errors and warnings in policy files", runCheck)
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", "FILE|DIR...", "Parses and type-checks each policy file and prints every diagnostic as\nFILE:LINE:COL: error|warning: message. A directory argument means every\n.risk file below it. A policy's test file (NAME_test.yaml) is checked too. Exit 0 when no file has errors (warnings allowed), 1\nwhen any has, 2 on usage errors.", stderr)
	quiet := fs.Bool("q", false, "print errors only, not warnings")
	noFiles := fs.Bool("no-files", false, "do not check that list and model files exist")
	if code, ok := parseArgs(fs, args, stdout, 1, anyMore); !ok {
		return code
	}
	code := exitOK
	for _, path := range expandPolicyArgs("riskc check", fs.Args(), stderr, &code) {
		pol, diags, err := checkFile(path, compiler.Options{CheckFiles: !*noFiles})
		if err != nil {
			fmt.Fprintf(stderr, "riskc: %v\n", err)
			code = exitError
			continue
		}
		printDiagnostics(stderr, diags, *quiet)
		if diags.HasErrors() {
			code = exitError
		} else if !*noFiles && !checkModels(path, pol, stderr, *quiet) {
			code = exitError
		} else if !*noFiles && !checkTests(path, stderr) {
			code = exitError
		}
	}
	return code
}

// checkTests checks the policy's test file (NAME_test.yaml), when there
// is one, as riskc test does before running it; false on an error.
func checkTests(path string, stderr io.Writer) bool {
	test := strings.TrimSuffix(path, ".risk") + policytest.Suffix
	if _, err := os.Stat(test); err != nil || !strings.HasSuffix(path, ".risk") {
		return true
	}
	_, diags, err := policytest.Load(test)
	printDiagnostics(stderr, diags, false)
	if err != nil {
		fmt.Fprintf(stderr, "riskc: %s: %v\n", test, err)
		return false
	}
	return !diags.HasErrors()
}

// checkModels loads the ONNX models of a policy that checked clean and
// compares each declaration with its graph, printing an error at the
// declaration for each mismatch; false when there was one. Without the
// onnxruntime library it prints a warning (where it looked, and that
// `make deps` installs it) and checks nothing more.
func checkModels(path string, pol *compiler.Policy, stderr io.Writer, quiet bool) bool {
	if len(pol.Models) == 0 {
		return true
	}
	prog, _, err := compiler.Compile(pol, compiler.CompileOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "riskc: %v\n", err)
		return false
	}
	var diags lang.ErrorList
	for _, err := range models.Check(prog, path, models.Options{}) {
		var me *models.ModelError
		switch {
		case errors.As(err, &me):
			d := pol.Models[me.Model].Decl
			pos := d.Pos
			if me.Field == "path" {
				pos = d.Path.Pos
			} else if me.Field == "output" && d.Output != nil {
				pos = d.Output.Pos
			}
			diags.Add(pos, "%v", err)
		default: // onnxruntime missing (models.ErrLibraryNotFound) or not loadable
			diags.Warn(lang.Pos{File: &path}, "models not checked against their files: %v", err)
		}
	}
	printDiagnostics(stderr, diags, quiet)
	return !diags.HasErrors()
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
