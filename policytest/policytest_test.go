package policytest

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func load(t *testing.T, path string) *File {
	t.Helper()
	f, diags, err := Load(path)
	if err != nil || diags.HasErrors() {
		t.Fatalf("Load(%s): %v %v", path, err, diags)
	}
	return f
}

func TestRun(t *testing.T) {
	fr, err := Run(load(t, "testdata/tiny_test.yaml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"small payment":                   nil,
		"big payment":                     nil,
		"third payment in an hour":        nil,
		"prior payments outside the hour": nil,
		"a refund":                        nil,
		"wrong on purpose": {
			"decision: got review, want approve",
			"score: got 0.5000, want <= 0.4",
			"rule burst: did not fire, want fired",
			"rule big: fired, want not fired",
			`reason "burst": not given`,
			"degraded: got false, want true",
		},
	}
	if len(fr.Results) != len(want) {
		t.Fatalf("%d results, want %d", len(fr.Results), len(want))
	}
	for _, r := range fr.Results {
		if got, w := strings.Join(r.Failures, "\n"), strings.Join(want[r.Case.Name], "\n"); got != w {
			t.Errorf("case %q failures:\n%s\nwant:\n%s", r.Case.Name, got, w)
		}
	}
	var out bytes.Buffer
	WriteText(&out, fr, false)
	wantText := "--- FAIL: wrong on purpose (testdata/tiny_test.yaml:20)\n" +
		"    decision: got review, want approve\n"
	if !strings.HasPrefix(out.String(), wantText) || !strings.Contains(out.String(), "    got: review, score 0.5000, fired: big\nFAIL testdata/tiny_test.yaml: 6 cases, 1 failed (testdata/tiny.risk)\n") {
		t.Errorf("text output:\n%s", out.String())
	}
	out.Reset()
	WriteCoverage(&out, fr)
	if got, w := out.String(), "coverage testdata/tiny.risk: 2 of 3 rules fired (66.7%)\n  never fired:  never\n"; got != w {
		t.Errorf("coverage:\n%s\nwant:\n%s", got, w)
	}
}

// TestCoverageSilent: a rule that fired in every case it could run in is
// reported as never silent; cases of other events do not count.
func TestCoverageSilent(t *testing.T) {
	f := load(t, "testdata/tiny_test.yaml")
	fr, err := Run(f, Options{Run: regexp.MustCompile("^(big payment|third payment in an hour)$")})
	if err != nil {
		t.Fatal(err)
	}
	cv := fr.Coverage()
	if strings.Join(cv.NeverSilent, ",") != "" || strings.Join(cv.NeverFired, ",") != "never" {
		t.Errorf("coverage %+v", cv)
	}
	fr, _ = Run(f, Options{Run: regexp.MustCompile("^big payment$")})
	if cv := fr.Coverage(); strings.Join(cv.NeverSilent, ",") != "big" {
		t.Errorf("never silent %v, want [big]", cv.NeverSilent)
	}
	// burst runs only on pay: the refund case (where its window is full)
	// does not make it silent.
	fr, _ = Run(f, Options{Run: regexp.MustCompile("^(third payment in an hour|a refund)$")})
	if cv := fr.Coverage(); strings.Join(cv.NeverSilent, ",") != "burst" {
		t.Errorf("never silent %v, want [burst]", cv.NeverSilent)
	}
}

func TestLoadErrors(t *testing.T) {
	_, diags, err := Load("testdata/bad_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range diags {
		got = append(got, d.Error())
	}
	want := []string{
		`testdata/bad_test.yaml:7:16: error: unknown feature "amout" (did you mean "amount"?)`,
		`testdata/bad_test.yaml:8:24: error: decision "approved": want approve, review or reject`,
		`testdata/bad_test.yaml:8:42: error: fired: unknown rule "bigg" (did you mean "big"?)`,
		`testdata/bad_test.yaml:10:12: error: event: unknown event "payment"; this policy handles pay, refund`,
		`testdata/bad_test.yaml:12:27: error: score min: want a number between 0 and 1, got "2"`,
		`testdata/bad_test.yaml:13:5: error: case "nothing expected" expects nothing: give expect: with decision, score, fired, not_fired, reasons or degraded`,
		`testdata/bad_test.yaml:14:5: error: case "typos" is also at line 6: give each case its own name`,
		`testdata/bad_test.yaml:15:24: error: features.amount: must be float, got a string`,
		`testdata/bad_test.yaml:16:14: error: unknown model "fraud": the policy declares no models`,
		`testdata/bad_test.yaml:17:24: error: no rule has the reason "big amont" (did you mean "big amount"?)`,
		`testdata/bad_test.yaml:17:48: error: degraded: want true or false, got "maybe"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tiny, _ := os.ReadFile("testdata/tiny.risk")
	write("tiny.risk", string(tiny))
	tests := []struct{ file, want string }{
		{"cases:\n  - name: x\n    expect: {decision: approve}\n    feature: {amount: 1}\n", "x_test.yaml:4:1: error: unknown key feature"},
		{"cases: [\n", "x_test.yaml:1:1: error: did not find expected node content"},
		{"policy: nope.risk\ncases: []\n", "x_test.yaml:1:1: error: policy: open"},
		{"policy: tiny.risk\ncases: []\n", "x_test.yaml:1:1: error: no cases"},
		{"policy: tiny.risk\ncases:\n  - name: a\n    expect: {fired: [big], not_fired: [big]}\n", "x_test.yaml:4:39: error: rule big is listed both in fired and in not_fired"},
		{"policy: tiny.risk\ncases:\n  - name: a\n    event: pay\n    features: {user: u, amount: 1, ts: 2026-01-01T00:00:00Z}\n    expect: {decision: approve}\n  - name: a\n    event: pay\n    features: {user: u, amount: 1, ts: 2026-01-01T00:00:00Z}\n    expect: {decision: approve}\n", "x_test.yaml:7:5: error: case \"a\" is also at line 3"},
		{"policy: tiny.risk\ncases:\n  - name: a\n    features: {user: u, amount: 1, ts: 2026-01-01T00:00:00Z}\n    expect: {decision: approve}\n", "x_test.yaml:3:5: error: no event: give `event:`"},
		{"policy: tiny.risk\ncases:\n  - name: a\n    event: pay\n    features: {user: u, ts: 2026-01-01T00:00:00Z}\n    expect: {decision: approve}\n", "x_test.yaml:3:5: error: features.amount: required feature is missing"},
	}
	for _, tt := range tests {
		p := write("x_test.yaml", tt.file)
		_, diags, err := Load(p)
		if err != nil {
			t.Errorf("%q: %v", tt.file, err)
			continue
		}
		if !strings.Contains(diags.Error(), tt.want) {
			t.Errorf("%q:\n%v\nwant %q", tt.file, diags, tt.want)
		}
	}
}

func TestJUnit(t *testing.T) {
	fr, err := Run(load(t, "testdata/tiny_test.yaml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := WriteJUnit(&out, []*FileResult{fr}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests  int `xml:"tests,attr"`
		Fails  int `xml:"failures,attr"`
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if doc.Tests != 6 || doc.Fails != 1 || len(doc.Suites) != 1 || doc.Suites[0].Cases[4].Failure == nil ||
		doc.Suites[0].Cases[4].Failure.Message != "decision: got review, want approve" || doc.Suites[0].Cases[0].Failure != nil {
		t.Errorf("junit:\n%s", out.String())
	}
}

func TestDiscover(t *testing.T) {
	got, err := Discover([]string{"testdata/...", "testdata/tiny.risk"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "testdata/bad_test.yaml testdata/tiny_test.yaml testdata/tiny_test.yaml" {
		t.Errorf("Discover = %v", got)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.risk"), nil, 0o644)
	for _, args := range [][]string{{dir}, {filepath.Join(dir, "p.risk")}, {filepath.Join(dir, "nope")}} {
		if _, err := Discover(args); err == nil {
			t.Errorf("Discover(%v): no error", args)
		}
	}
}
