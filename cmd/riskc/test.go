package main

import (
	"fmt"
	"io"
	"regexp"

	"github.com/riskforge/riskforge/models"
	"github.com/riskforge/riskforge/policytest"
	"github.com/riskforge/riskforge/vm"
)

func init() {
	register("test", "run the policy tests (NAME_test.yaml next to NAME.risk)", runTest)
}

const testAbout = `Runs the test cases of policies: every NAME_test.yaml below each directory
(default .), the tests of each NAME.risk given, or the test files given.
Each case sends one event (after optional prior events that seed the
velocity windows) through the policy with its real models and checks the
decision, score range, fired and silent rules, reasons and the degraded
flag. Test files are checked like policies: an unknown feature, rule,
model or event is an error at FILE:LINE:COL. docs/TESTING.md has the format.

Exit status: 0 every case passed, 1 a case failed or a test file or
policy has errors, 2 usage errors.`

func runTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("test", "[DIR|FILE...]", testAbout, stderr)
	verbose := fs.Bool("v", false, "list every case, passed ones too")
	run := fs.String("run", "", "run only the cases whose name matches `REGEX`")
	format := fs.String("format", "text", "output `FORMAT`: text, or junit (JUnit XML on stdout, for CI)")
	coverage := fs.Bool("coverage", false, "report the rules no case fired and those no case left silent")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *format != "text" && *format != "junit" {
		fmt.Fprintf(stderr, "riskc test: --format must be text or junit, not %q\n", *format)
		return exitUsage
	}
	var opts policytest.Options
	if *run != "" {
		re, err := regexp.Compile(*run)
		if err != nil {
			fmt.Fprintf(stderr, "riskc test: --run: %v\n", err)
			return exitUsage
		}
		opts.Run = re
	}
	opts.Models = func(prog *vm.Program, path string) (vm.ModelRunner, func(), error) {
		r, err := models.Load(prog, path, models.Options{NoTimeouts: true})
		if err != nil {
			return nil, nil, err
		}
		return r, func() { r.Close() }, nil
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	files, err := policytest.Discover(paths)
	if err != nil {
		fmt.Fprintf(stderr, "riskc test: %v\n", err)
		return exitError
	}
	text := stdout
	if *format == "junit" {
		text = stderr // stdout carries the XML
	}
	code := exitOK
	var results []*policytest.FileResult
	for _, path := range files {
		f, diags, err := policytest.Load(path)
		printDiagnostics(stderr, diags, false)
		if err != nil {
			fmt.Fprintf(stderr, "riskc test: %s: %v\n", path, err)
		}
		if err != nil || diags.HasErrors() {
			code = exitError
			continue
		}
		fr, err := policytest.Run(f, opts)
		if err != nil {
			fmt.Fprintf(stderr, "riskc test: %v\n", err)
			code = exitError
			continue
		}
		policytest.WriteText(text, fr, *verbose)
		if *coverage {
			policytest.WriteCoverage(text, fr)
		}
		if fr.Failed() > 0 {
			code = exitError
		}
		results = append(results, fr)
	}
	if *format == "junit" {
		if err := policytest.WriteJUnit(stdout, results); err != nil {
			fmt.Fprintf(stderr, "riskc test: %v\n", err)
			return exitError
		}
	}
	return code
}
