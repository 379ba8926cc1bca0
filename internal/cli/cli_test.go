package cli

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"
)

// testFlags is a command with the kinds of flags riskc declares.
type testFlags struct {
	quiet, write bool
	out, policy  string
	n            int
}

func newTestFlags(stderr io.Writer) (*flag.FlagSet, *testFlags) {
	var f testFlags
	fs := NewFlagSet("tool cmd", "FILE...", "Does things.", stderr)
	fs.BoolVar(&f.quiet, "q", false, "quiet")
	fs.BoolVar(&f.write, "w", false, "write")
	fs.StringVar(&f.out, "o", "", "write to `FILE`")
	fs.StringVar(&f.policy, "policy", "", "policy `FILE`")
	fs.IntVar(&f.n, "n-rows", 0, "rows")
	return fs, &f
}

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		ok     bool
		want   testFlags
		rest   []string
		stderr string
	}{
		{name: "flags first", args: []string{"-q", "-o", "x.rbc", "a.risk"}, code: 0, ok: true, want: testFlags{quiet: true, out: "x.rbc"}, rest: []string{"a.risk"}},
		{name: "flags after the file", args: []string{"a.risk", "-o", "x.rbc", "-q"}, code: 0, ok: true, want: testFlags{quiet: true, out: "x.rbc"}, rest: []string{"a.risk"}},
		{name: "flags between files", args: []string{"a.risk", "-w", "b.risk"}, code: 0, ok: true, want: testFlags{write: true}, rest: []string{"a.risk", "b.risk"}},
		{name: "cluster", args: []string{"-qw", "a.risk"}, code: 0, ok: true, want: testFlags{quiet: true, write: true}, rest: []string{"a.risk"}},
		{name: "attached value", args: []string{"-ox.rbc", "a.risk"}, code: 0, ok: true, want: testFlags{out: "x.rbc"}, rest: []string{"a.risk"}},
		{name: "long with =", args: []string{"a.risk", "--policy=p.risk", "--n-rows", "7"}, code: 0, ok: true, want: testFlags{policy: "p.risk", n: 7}, rest: []string{"a.risk"}},
		{name: "go style single dash", args: []string{"-policy", "p.risk", "-n-rows=3"}, code: 0, ok: true, want: testFlags{policy: "p.risk", n: 3}},
		{name: "value that looks like a flag", args: []string{"-o", "-q"}, code: 0, ok: true, want: testFlags{out: "-q"}},
		{name: "double dash ends flags", args: []string{"-q", "--", "-w", "-x.risk"}, code: 0, ok: true, want: testFlags{quiet: true}, rest: []string{"-w", "-x.risk"}},
		{name: "bool set false", args: []string{"--q=false"}, code: 0, ok: true},
		{name: "flag-looking file", args: []string{"a.risk", "-x.risk"}, code: 2, stderr: "tool cmd: unknown flag -x.risk (a file name starting with \"-\" goes after --, or write ./-x.risk)\nRun 'tool cmd --help' for its flags.\n"},
		{name: "flag-looking file after a bool", args: []string{"-q.risk"}, code: 2, stderr: "unknown flag -q.risk"},
		{name: "unknown long flag", args: []string{"--verbose"}, code: 2, stderr: "unknown flag --verbose"},
		{name: "missing value", args: []string{"a.risk", "-o"}, code: 2, stderr: "flag needs an argument: 'o' in -o"},
		{name: "bad value", args: []string{"--n-rows", "many"}, code: 2, stderr: `invalid value "many" for flag -n-rows`},
		{name: "help after the file", args: []string{"a.risk", "--help"}, code: 0},
		{name: "help after -- is a file", args: []string{"--", "--help"}, code: 0, ok: true, rest: []string{"--help"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			fs, got := newTestFlags(&stderr)
			code, ok := Parse(fs, tt.args, &stdout)
			if code != tt.code || ok != tt.ok {
				t.Fatalf("Parse = %d, %v; want %d, %v\nstderr: %s", code, ok, tt.code, tt.ok, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderr)
			}
			if !ok {
				return
			}
			if *got != tt.want {
				t.Errorf("flags %+v, want %+v", *got, tt.want)
			}
			if strings.Join(fs.Args(), " ") != strings.Join(tt.rest, " ") {
				t.Errorf("args %q, want %q", fs.Args(), tt.rest)
			}
		})
	}
}

// TestParseVisit: the standard library FlagSet knows which flags were set
// (riskd serve lets set flags override its config).
func TestParseVisit(t *testing.T) {
	fs, _ := newTestFlags(io.Discard)
	if _, ok := Parse(fs, []string{"a.risk", "--policy", "p", "-q"}, io.Discard); !ok {
		t.Fatal("parse failed")
	}
	var set []string
	fs.Visit(func(f *flag.Flag) { set = append(set, f.Name) })
	if strings.Join(set, ",") != "policy,q" {
		t.Errorf("set flags %v, want [policy q]", set)
	}
}

func TestUsage(t *testing.T) {
	var stdout bytes.Buffer
	fs, _ := newTestFlags(io.Discard)
	if code, ok := Parse(fs, []string{"-h"}, &stdout); code != 0 || ok {
		t.Fatalf("Parse(-h) = %d, %v", code, ok)
	}
	for _, want := range []string{"Usage: tool cmd [flags] FILE...\n\nDoes things.\n", "  -q\tquiet\n", "  -o FILE\n    \twrite to FILE\n", "  --policy FILE\n", "  --n-rows int\n"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestDescribe(t *testing.T) {
	ran := false
	run := func(args []string, stdout, stderr io.Writer) int {
		fs, _ := newTestFlags(stderr)
		if code, ok := Parse(fs, args, stdout); !ok {
			return code
		}
		ran = true
		return 0
	}
	fs := Describe(run)
	if fs == nil || fs.Lookup("policy") == nil || ran {
		t.Fatalf("Describe = %v (ran %v), want the command's flags without running it", fs, ran)
	}
	noFlags := func([]string, io.Writer, io.Writer) int { return 0 }
	if Describe(noFlags) != nil {
		t.Error("Describe of a command without Parse is not nil")
	}
}
