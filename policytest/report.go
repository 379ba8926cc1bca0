package policytest

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// WriteText prints the failures of fr (and, when verbose, every case
// that passed) in the style of go test: each failed case with its name
// and place, expected against got, and the rules that fired.
func WriteText(w io.Writer, fr *FileResult, verbose bool) {
	for i := range fr.Results {
		r := &fr.Results[i]
		tc := r.Case
		if r.Passed() {
			if verbose {
				fmt.Fprintf(w, "--- PASS: %s (%s:%d)\n", tc.Name, fr.File.Path, tc.Line)
			}
			continue
		}
		fmt.Fprintf(w, "--- FAIL: %s (%s:%d)\n", tc.Name, fr.File.Path, tc.Line)
		for _, f := range r.Failures {
			fmt.Fprintf(w, "    %s\n", f)
		}
		fmt.Fprintf(w, "    got: %s, score %.4f%s, fired: %s\n", r.Decision.Action, r.Decision.Score, degradedNote(r), firedList(r))
	}
	status := "ok  "
	if fr.Failed() > 0 {
		status = "FAIL"
	}
	fmt.Fprintf(w, "%s %s: %d cases, %d failed (%s)\n", status, fr.File.Path, len(fr.Results), fr.Failed(), fr.File.PolicyPath)
}

// degradedNote names the models that ran, with their outputs, and
// whether the decision was degraded.
func degradedNote(r *Result) string {
	var b strings.Builder
	for _, m := range r.Decision.Models {
		if !m.Ran {
			continue
		}
		fmt.Fprintf(&b, ", model %s %.4f", m.Name, m.Value)
		if m.Degraded {
			b.WriteString(" (on_error)")
		}
	}
	if r.Decision.Degraded {
		b.WriteString(", degraded")
	}
	return b.String()
}

func firedList(r *Result) string {
	if len(r.Fired) == 0 {
		return "(none)"
	}
	return strings.Join(r.Fired, ", ")
}

// WriteCoverage prints the rule coverage of fr like opa test --coverage:
// the share of rules fired, then the rules no case fired and those no case
// left silent.
func WriteCoverage(w io.Writer, fr *FileResult) {
	cv := fr.Coverage()
	fired := cv.Rules - len(cv.NeverFired)
	pct := 100.0
	if cv.Rules > 0 {
		pct = 100 * float64(fired) / float64(cv.Rules)
	}
	fmt.Fprintf(w, "coverage %s: %d of %d rules fired (%.1f%%)\n", fr.File.PolicyPath, fired, cv.Rules, pct)
	if len(cv.NeverFired) > 0 {
		fmt.Fprintf(w, "  never fired:  %s\n", strings.Join(cv.NeverFired, ", "))
	}
	if len(cv.NeverSilent) > 0 {
		fmt.Fprintf(w, "  never silent: %s\n", strings.Join(cv.NeverSilent, ", "))
	}
}

// JUnit XML, the subset CI systems (Jenkins, GitLab, GitHub actions)
// read: one testsuite per test file, one testcase per case.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Tests   int          `xml:"tests,attr"`
	Fails   int          `xml:"failures,attr"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name  string      `xml:"name,attr"`
	Tests int         `xml:"tests,attr"`
	Fails int         `xml:"failures,attr"`
	Time  string      `xml:"time,attr"`
	Cases []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr"`
	Line      int           `xml:"line,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the results as JUnit XML.
func WriteJUnit(w io.Writer, results []*FileResult) error {
	out := junitSuites{}
	for _, fr := range results {
		s := junitSuite{Name: fr.File.Path, Tests: len(fr.Results), Fails: fr.Failed(), Time: fmt.Sprintf("%.3f", fr.Elapsed.Seconds())}
		for i := range fr.Results {
			r := &fr.Results[i]
			c := junitCase{Name: r.Case.Name, Classname: fr.File.Program.Name, File: fr.File.Path, Line: r.Case.Line, Time: fmt.Sprintf("%.6f", r.Elapsed.Seconds())}
			if !r.Passed() {
				text := strings.Join(r.Failures, "\n") + fmt.Sprintf("\ngot: %s, score %.4f%s, fired: %s", r.Decision.Action, r.Decision.Score, degradedNote(r), firedList(r))
				c.Failure = &junitFailure{Message: r.Failures[0], Text: text}
			}
			s.Cases = append(s.Cases, c)
		}
		out.Tests += s.Tests
		out.Fails += s.Fails
		out.Suites = append(out.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
