package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// target is one line of targets.txt: a package directory, its minimum
// efficacy and mutator coverage in percent, the files in scope (none
// listed: every non-test Go file of the directory, subdirectories
// excluded) and a pattern of tests to skip. A minimum written "-" has not
// been measured yet: the figure is printed but does not gate (NaN here).
type target struct {
	pkg         string
	minEfficacy float64
	minCoverage float64
	files       []string
	// skip is a `go test -skip` pattern: tests too slow to run once per
	// mutant (end-to-end runs of a binary, say) whose checks faster tests
	// of the package repeat; run, a `go test -run` pattern, keeps only the
	// tests that exercise the scope, for packages whose whole suite takes
	// minutes. Coverage is measured with the same selection, so a mutant
	// only a left-out test reaches counts as not covered, never as killed.
	skip, run string
}

// readTargets parses targets.txt: `pkg min-efficacy min-coverage [file...]
// [skip=REGEXP] [run=REGEXP]` per line; `#` starts a comment.
func readTargets(path string) ([]target, error) {
	lines, err := readLines(path)
	if err != nil {
		return nil, err
	}
	var out []target
	for _, l := range lines {
		f := strings.Fields(l.text)
		if len(f) < 3 {
			return nil, fmt.Errorf("%s:%d: want `package min-efficacy min-coverage [file...] [skip=REGEXP] [run=REGEXP]`", path, l.n)
		}
		eff, err1 := threshold(f[1])
		cov, err2 := threshold(f[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s:%d: thresholds must be percentages or -, got %q and %q", path, l.n, f[1], f[2])
		}
		t := target{pkg: f[0], minEfficacy: eff, minCoverage: cov}
		for _, w := range f[3:] {
			switch {
			case strings.HasPrefix(w, "skip="), strings.HasPrefix(w, "run="):
				key, pat, _ := strings.Cut(w, "=")
				dst := &t.skip
				if key == "run" {
					dst = &t.run
				}
				if *dst != "" {
					return nil, fmt.Errorf("%s:%d: more than one %s= (join the patterns with |)", path, l.n, key)
				}
				if _, err := regexp.Compile(pat); err != nil || pat == "" {
					return nil, fmt.Errorf("%s:%d: %s=%q is not a test name pattern: %v", path, l.n, key, pat, err)
				}
				*dst = pat
			case !strings.HasSuffix(w, ".go") || strings.HasSuffix(w, "_test.go") || strings.Contains(w, "/"):
				return nil, fmt.Errorf("%s:%d: %q is neither a non-test .go file of %s nor skip=/run=REGEXP", path, l.n, w, t.pkg)
			default:
				t.files = append(t.files, w)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// goflags returns the GOFLAGS gremlins' go test runs need, added to the
// ones in the environment: -count=1, because gremlins times every mutant
// against the unmutated coverage run, and a cached coverage run (the test
// binary did not change) takes milliseconds, so every mutant whose tests
// take real time would be counted as timed out; and the target's -skip
// and -run.
func (t target) goflags(env string) string {
	flags := strings.Fields(env)
	flags = append(flags, "-count=1")
	if t.skip != "" {
		flags = append(flags, "-skip="+t.skip)
	}
	if t.run != "" {
		flags = append(flags, "-run="+t.run)
	}
	return strings.Join(flags, " ")
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
// -E against paths relative to it. A file in scope that the package does
// not have is an error: after a file is renamed or split, a scope that
// silently shrank would report figures for less code than it claims.
func (t target) excludes(root string) ([]string, error) {
	var ex []string
	found := map[string]bool{}
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
		default:
			found[rel] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", t.pkg, err)
	}
	for _, f := range t.files {
		if !found[f] {
			return nil, fmt.Errorf("target %s: scope file %s does not exist (renamed or moved? update internal/mutate/targets.txt)", t.pkg, path.Join(t.pkg, f))
		}
	}
	sort.Strings(ex)
	return ex, nil
}

// narrow restricts t's scope to the given files (module-root paths, as
// -files takes them) for a partial run; files of other packages are
// ignored. A partial run's figures describe those files only.
func (t target) narrow(files []string) (target, error) {
	var keep []string
	for _, f := range files {
		dir, name := path.Split(path.Clean(f))
		if strings.TrimSuffix(dir, "/") != t.pkg {
			continue
		}
		if len(t.files) > 0 && !contains(t.files, name) {
			return t, fmt.Errorf("-files: %s is not in %s's scope in targets.txt", f, t.pkg)
		}
		keep = append(keep, name)
	}
	if len(keep) == 0 {
		return t, fmt.Errorf("-files names no file of %s", t.pkg)
	}
	t.files = keep
	return t, nil
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
