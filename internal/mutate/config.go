package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// target is one line of targets.txt: a package directory, its minimum
// efficacy and mutator coverage in percent, and the files in scope (none
// listed: every non-test Go file of the directory, subdirectories
// excluded). A minimum written "-" has not been measured yet: the figure
// is printed but does not gate (NaN here).
type target struct {
	pkg         string
	minEfficacy float64
	minCoverage float64
	files       []string
}

// readTargets parses targets.txt: `pkg min-efficacy min-coverage [file...]`
// per line; `#` starts a comment.
func readTargets(path string) ([]target, error) {
	lines, err := readLines(path)
	if err != nil {
		return nil, err
	}
	var out []target
	for _, l := range lines {
		f := strings.Fields(l.text)
		if len(f) < 3 {
			return nil, fmt.Errorf("%s:%d: want `package min-efficacy min-coverage [file...]`", path, l.n)
		}
		eff, err1 := threshold(f[1])
		cov, err2 := threshold(f[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s:%d: thresholds must be percentages or -, got %q and %q", path, l.n, f[1], f[2])
		}
		out = append(out, target{pkg: f[0], minEfficacy: eff, minCoverage: cov, files: f[3:]})
	}
	return out, nil
}

// threshold parses a percentage, or "-" (not measured yet) as NaN.
func threshold(s string) (float64, error) {
	if s == "-" {
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err == nil && (v < 0 || v > 100) {
		err = fmt.Errorf("%v is not a percentage", v)
	}
	return v, err
}

// excludes returns the gremlins -E patterns that leave exactly t's files
// in scope: gremlins walks the package directory recursively and matches
// -E against paths relative to it.
func (t target) excludes(root string) ([]string, error) {
	var ex []string
	dir := filepath.Join(root, t.pkg)
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir() && rel != ".":
			ex = append(ex, "^"+regexp.QuoteMeta(rel)+"/")
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go"):
			return nil
		case len(t.files) > 0 && !contains(t.files, rel):
			ex = append(ex, "^"+regexp.QuoteMeta(rel)+"$")
		}
		return nil
	})
	sort.Strings(ex)
	return ex, err
}

// allowed is one allow-list entry: a mutant that survives without a
// behaviour change (an equivalent mutant), named by file, mutator and a
// fragment of its source line that contains the mutated token, so the
// entry survives code moving up or down the file.
type allowed struct {
	file     string // relative to the module root, e.g. windows/memory.go
	mutator  string // e.g. CONDITIONALS_BOUNDARY
	fragment string // text on the mutant's line covering its column
	reason   string
	line     int // in allow.txt, for messages
	used     bool
}

// readAllow parses allow.txt: `file MUTATOR "fragment" reason...` per line.
func readAllow(path string) ([]*allowed, error) {
	lines, err := readLines(path)
	if err != nil {
		return nil, err
	}
	var out []*allowed
	for _, l := range lines {
		f := strings.SplitN(l.text, " ", 3)
		if len(f) < 3 {
			return nil, fmt.Errorf("%s:%d: want `file MUTATOR \"fragment\" reason`", path, l.n)
		}
		frag, reason, err := quoted(strings.TrimSpace(f[2]))
		if err != nil || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: want a quoted source fragment and then one line of reasoning", path, l.n)
		}
		out = append(out, &allowed{file: f[0], mutator: f[1], fragment: frag, reason: strings.TrimSpace(reason), line: l.n})
	}
	return out, nil
}

// quoted splits a leading Go-quoted string off s.
func quoted(s string) (string, string, error) {
	prefix, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", err
	}
	v, err := strconv.Unquote(prefix)
	return v, s[len(prefix):], err
}

// matches reports whether the entry names the mutant mutator at column
// col (1-based) of src, a line of file.
func (a *allowed) matches(file, mutator, src string, col int) bool {
	if a.file != file || a.mutator != mutator || a.fragment == "" {
		return false
	}
	for from := 0; ; {
		i := strings.Index(src[from:], a.fragment)
		if i < 0 {
			return false
		}
		start := from + i
		if col-1 >= start && col-1 < start+len(a.fragment) {
			return true
		}
		from = start + 1
	}
}

type numbered struct {
	n    int
	text string
}

// readLines returns the non-blank lines of path with comments removed.
func readLines(path string) ([]numbered, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []numbered
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(text), "#") {
			continue
		}
		if text = strings.TrimSpace(text); text != "" {
			out = append(out, numbered{n, text})
		}
	}
	return out, sc.Err()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
