package main

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// report is the part of gremlins' `-o` JSON output this tool reads.
type report struct {
	Files []struct {
		FileName  string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
}

// mutant is one mutation gremlins tried, with its source line.
type mutant struct {
	file    string // relative to the module root
	mutator string
	status  string // KILLED, LIVED, NOT COVERED, TIMED OUT, NOT VIABLE
	line    int
	col     int
	src     string
	allow   *allowed // the allow-list entry that explains it, if any
	// unrunnable: in a case clause or a constant declaration, which
	// Gremlins reports NOT COVERED and never runs (see unrunnable).
	unrunnable bool
}

func (m mutant) String() string {
	return fmt.Sprintf("%s:%d:%d %s %s\n\t%s", m.file, m.line, m.col, m.status, m.mutator, strings.TrimSpace(m.src))
}

// score is one package's result after the allow-list.
type score struct {
	target
	killed, lived, timedOut, notCovered, notViable int
	runnable                                       int // dry run: covered, not run
	unrunnable                                     int // NOT COVERED only because gremlins cannot run case expressions and constants
	allowedLived, allowedNotCovered                int
	survivors                                      []mutant // LIVED and NOT COVERED, not allowed
	unmeasured                                     []mutant // the unrunnable mutants
}

// efficacy is the share of covered mutants the tests detect: killed (a
// test failed) or timed out (the tests no longer finish), over those plus
// the survivors that are not documented equivalents. 100 when none count.
func (s score) efficacy() float64 {
	detected := s.killed + s.timedOut
	return percent(detected, detected+s.lived-s.allowedLived)
}

// coverage is the share of mutants that some test executes, documented
// equivalents in uncovered code left out.
func (s score) coverage() float64 {
	covered := s.killed + s.timedOut + s.lived + s.runnable
	return percent(covered, covered+s.notCovered-s.allowedNotCovered)
}

// dry reports whether the report comes from a dry run (no mutant run).
func (s score) dry() bool { return s.runnable > 0 }

// pass reports whether both figures reach the target's thresholds; a dry
// run only measures coverage.
func (s score) pass() bool {
	return (s.dry() || atLeast(s.efficacy(), s.minEfficacy)) && atLeast(s.coverage(), s.minCoverage)
}

func minText(v float64) string {
	if math.IsNaN(v) {
		return "- not measured yet"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// atLeast compares a figure with a minimum; an unmeasured minimum (NaN)
// does not gate.
func atLeast(v, min float64) bool { return math.IsNaN(min) || v >= min }

func percent(n, d int) float64 {
	if d == 0 {
		return 100
	}
	return 100 * float64(n) / float64(d)
}

// readReport loads a gremlins JSON report for t and resolves each mutant
// to its source line under root.
func readReport(jsonPath, root string, t target) ([]mutant, error) {
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		return nil, err
	}
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", jsonPath, err)
	}
	var out []mutant
	for _, f := range r.Files {
		file := path.Join(t.pkg, filepath.ToSlash(f.FileName))
		lines := sourceLines(filepath.Join(root, file))
		consts := constLines(filepath.Join(root, file))
		for _, m := range f.Mutations {
			src := ""
			if m.Line >= 1 && m.Line <= len(lines) {
				src = lines[m.Line-1]
			}
			out = append(out, mutant{file: file, mutator: m.Type, status: m.Status, line: m.Line, col: m.Column, src: src,
				unrunnable: m.Status == "NOT COVERED" && (inCaseClause(src) || consts[m.Line])})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.file != b.file {
			return a.file < b.file
		}
		if a.line != b.line {
			return a.line < b.line
		}
		return a.col < b.col
	})
	return out, nil
}

func sourceLines(p string) []string {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	return strings.Split(string(data), "\n")
}

// tally scores mutants against the allow-list.
func tally(t target, mutants []mutant, allow []*allowed) score {
	s := score{target: t}
	for _, m := range mutants {
		switch m.status {
		case "KILLED":
			s.killed++
		case "TIMED OUT":
			s.timedOut++
		case "NOT VIABLE":
			s.notViable++
		case "RUNNABLE":
			s.runnable++
		case "NOT COVERED", "LIVED":
			if m.unrunnable {
				s.unrunnable++
				s.unmeasured = append(s.unmeasured, m)
				continue
			}
			m.allow = find(allow, m)
			switch {
			case m.status == "LIVED":
				s.lived++
			default:
				s.notCovered++
			}
			switch {
			case m.allow == nil:
				s.survivors = append(s.survivors, m)
			case m.status == "LIVED":
				s.allowedLived++
			default:
				s.allowedNotCovered++
			}
		}
	}
	return s
}

// inCaseClause reports whether a mutant's line is a switch case clause.
// Go's coverage profile has no block for case expressions (blocks start
// after the colon), so Gremlins v0.6.0 reports every mutant in one NOT
// COVERED and never runs it, however often the tests execute it. Such
// mutants are counted apart: neither covered nor uncovered.
func inCaseClause(src string) bool {
	return strings.HasPrefix(strings.TrimSpace(src), "case ")
}

// constLines returns the lines of the Go file at p that lie in a
// constant declaration. Constants have no block in Go's coverage profile
// either (they are evaluated at compile time), so Gremlins reports their
// mutants (`iota + 1`, `-744.44`) NOT COVERED and never runs them, however
// many tests depend on the value; they are counted with the case clauses.
func constLines(p string) map[int]bool {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil
	}
	out := map[int]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if d, ok := n.(*ast.GenDecl); ok && d.Tok == token.CONST {
			for l := fset.Position(d.Pos()).Line; l <= fset.Position(d.End()).Line; l++ {
				out[l] = true
			}
			return false
		}
		return true
	})
	return out
}

func find(allow []*allowed, m mutant) *allowed {
	for _, a := range allow {
		if a.matches(m.file, m.mutator, m.src, m.col) {
			a.used = true
			return a
		}
	}
	return nil
}

// print writes one package's summary and its unexplained survivors.
func (s score) print(w io.Writer) {
	verdict := "ok"
	if !s.pass() {
		verdict = "FAIL"
	}
	if s.dry() {
		fmt.Fprintf(w, "%-10s dry run: coverage %6.2f%% (min %s)  runnable %d  not covered %d  allowed %d  unrunnable %d  %s\n",
			s.pkg, s.coverage(), minText(s.minCoverage), s.runnable, s.notCovered, s.allowedNotCovered, s.unrunnable, verdict)
		for _, m := range s.survivors {
			fmt.Fprintf(w, "    %s\n", m)
		}
		return
	}
	fmt.Fprintf(w, "%-10s efficacy %6.2f%% (min %s)  coverage %6.2f%% (min %s)  killed %d  timed out %d  lived %d  not covered %d  allowed %d  not viable %d  unrunnable %d  %s\n",
		s.pkg, s.efficacy(), minText(s.minEfficacy), s.coverage(), minText(s.minCoverage),
		s.killed, s.timedOut, s.lived, s.notCovered, s.allowedLived+s.allowedNotCovered, s.notViable, s.unrunnable, verdict)
	for _, m := range s.survivors {
		fmt.Fprintf(w, "    %s\n", m)
	}
}
