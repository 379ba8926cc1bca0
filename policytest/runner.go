package policytest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/riskforge/riskforge/vm"
	"github.com/riskforge/riskforge/windows"
)

// Discover returns the test files args name: a NAME_test.yaml file, a
// policy NAME.risk (its NAME_test.yaml), or a directory (every test file
// below it; a trailing /... is accepted as in `go test ./...`). A policy
// without a test file or a directory without one is an error.
func Discover(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		arg = strings.TrimSuffix(strings.TrimSuffix(arg, "/..."), "...")
		if arg == "" {
			arg = "."
		}
		info, err := os.Stat(arg)
		switch {
		case err != nil:
			return nil, err
		case info.IsDir():
			n := len(files)
			err := filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && strings.HasSuffix(path, Suffix) {
					files = append(files, path)
				}
				return err
			})
			if err != nil {
				return nil, err
			}
			if len(files) == n {
				return nil, fmt.Errorf("%s: no test files (*%s) in this directory or below", arg, Suffix)
			}
		case strings.HasSuffix(arg, ".risk"):
			t := strings.TrimSuffix(arg, ".risk") + Suffix
			if _, err := os.Stat(t); err != nil {
				return nil, fmt.Errorf("%s has no tests: write them in %s (docs/TESTING.md)", arg, t)
			}
			files = append(files, t)
		default:
			files = append(files, arg)
		}
	}
	return files, nil
}

// ModelLoader loads the models of a program for Run (models.Load in
// riskc); it returns the runner and a function that releases it.
type ModelLoader func(prog *vm.Program, policyPath string) (vm.ModelRunner, func(), error)

// Options control Run.
type Options struct {
	// Run, when set, runs only the cases whose name it matches.
	Run *regexp.Regexp
	// Models loads a policy's models; nil makes every model read its
	// on_error value (and every decision degraded).
	Models ModelLoader
}

// Result is the outcome of one case.
type Result struct {
	Case     *Case
	Failures []string // what did not hold; empty when the case passed
	Decision vm.Decision
	Fired    []string
	Elapsed  time.Duration
}

// Passed reports whether every expectation held.
func (r *Result) Passed() bool { return len(r.Failures) == 0 }

// FileResult is the outcome of one test file.
type FileResult struct {
	File    *File
	Results []Result
	// Fired and Silent count, per rule, the cases in which it fired and
	// those (of its events) in which it did not.
	Fired, Silent []int
	Elapsed       time.Duration
}

// Failed is the number of failed cases.
func (fr *FileResult) Failed() int {
	n := 0
	for i := range fr.Results {
		if !fr.Results[i].Passed() {
			n++
		}
	}
	return n
}

// Run evaluates every case of f (those opts.Run selects): the prior
// events first, into a window store of the case's own, then the event.
func Run(f *File, opts Options) (*FileResult, error) {
	start := time.Now()
	p := f.Program
	fr := &FileResult{File: f, Fired: make([]int, len(p.Rules)), Silent: make([]int, len(p.Rules))}
	var models vm.ModelRunner
	if opts.Models != nil && len(p.Models) > 0 {
		m, release, err := opts.Models(p, f.PolicyPath)
		if err != nil {
			return nil, fmt.Errorf("%s: loading the models of %s: %w", f.Path, f.PolicyPath, err)
		}
		defer release()
		models = m
	}
	m := p.NewMachine()
	for _, tc := range f.Cases {
		if opts.Run != nil && !opts.Run.MatchString(tc.Name) {
			continue
		}
		t0 := time.Now()
		m.Windows = windows.NewMemory(p, 0)
		m.Models = models
		if len(tc.FailModels) > 0 {
			m.Models = failing{models, tc.FailModels}
		}
		for _, req := range tc.Prior {
			if _, err := m.Eval(req); err != nil {
				return nil, fmt.Errorf("%s:%d: case %q: prior event: %w", f.Path, tc.Line, tc.Name, err)
			}
		}
		d, err := m.Eval(tc.Request)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: case %q: %w", f.Path, tc.Line, tc.Name, err)
		}
		res := Result{Case: tc, Decision: *d, Elapsed: time.Since(t0)}
		res.Decision.Fired = append([]vm.Fired(nil), d.Fired...)
		res.Decision.Models = append([]vm.ModelOutput(nil), d.Models...)
		for _, fd := range d.Fired {
			res.Fired = append(res.Fired, fd.Name)
		}
		for r := range p.Rules {
			if m.FiredRule(r) {
				fr.Fired[r]++
			} else if listens(p, r, tc.Event) {
				fr.Silent[r]++
			}
		}
		res.Failures = check(tc, &res)
		fr.Results = append(fr.Results, res)
	}
	fr.Elapsed = time.Since(start)
	return fr, nil
}

// listens reports whether rule r runs for event (a rule that cannot run
// for an event is not "silent" on it).
func listens(p *vm.Program, r int, event string) bool {
	rule := &p.Rules[r]
	if len(rule.Events) == 0 {
		return true
	}
	e := p.EventIndex(event)
	for _, x := range rule.Events {
		if int(x) == e {
			return true
		}
	}
	return false
}

// failing makes the chosen models fail, as a model error or timeout does
// in riskd: the VM then uses their on_error value and flags the decision.
type failing struct {
	next vm.ModelRunner
	fail map[int]bool
}

var errForced = errors.New("failure forced by the test case")

func (f failing) Predict(model int, features []float32) (float64, error) {
	if f.fail[model] || f.next == nil {
		return 0, errForced
	}
	return f.next.Predict(model, features)
}

// check compares a decision with the case's expectations.
func check(tc *Case, r *Result) []string {
	var fails []string
	e, d := &tc.Expect, &r.Decision
	if e.Decision != nil && d.Action != *e.Decision {
		fails = append(fails, fmt.Sprintf("decision: got %s, want %s", d.Action, *e.Decision))
	}
	if e.ScoreMin != nil && d.Score < *e.ScoreMin {
		fails = append(fails, fmt.Sprintf("score: got %.4f, want >= %v", d.Score, *e.ScoreMin))
	}
	if e.ScoreMax != nil && d.Score > *e.ScoreMax {
		fails = append(fails, fmt.Sprintf("score: got %.4f, want <= %v", d.Score, *e.ScoreMax))
	}
	for _, name := range e.Fired {
		if !contains(r.Fired, name) {
			fails = append(fails, fmt.Sprintf("rule %s: did not fire, want fired", name))
		}
	}
	for _, name := range e.NotFired {
		if contains(r.Fired, name) {
			fails = append(fails, fmt.Sprintf("rule %s: fired, want not fired", name))
		}
	}
	var reasons []string
	for _, f := range d.Fired {
		reasons = append(reasons, f.Reason)
	}
	for _, reason := range e.Reasons {
		if !contains(reasons, reason) {
			fails = append(fails, fmt.Sprintf("reason %q: not given", reason))
		}
	}
	if e.Degraded != nil && d.Degraded != *e.Degraded {
		fails = append(fails, fmt.Sprintf("degraded: got %v, want %v", d.Degraded, *e.Degraded))
	}
	return fails
}

// Coverage lists, for the rules of a file's policy, those no case fired
// and those no case (of the rule's events) left silent.
type Coverage struct {
	NeverFired, NeverSilent []string
	Rules                   int
}

// Coverage summarises the rule coverage of fr's cases.
func (fr *FileResult) Coverage() Coverage {
	p := fr.File.Program
	cv := Coverage{Rules: len(p.Rules)}
	for r, rule := range p.Rules {
		if fr.Fired[r] == 0 {
			cv.NeverFired = append(cv.NeverFired, rule.Name)
		}
		if fr.Silent[r] == 0 {
			cv.NeverSilent = append(cv.NeverSilent, rule.Name)
		}
	}
	sort.Strings(cv.NeverFired)
	sort.Strings(cv.NeverSilent)
	return cv
}
