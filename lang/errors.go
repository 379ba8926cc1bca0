package lang

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a compact source position: the file it belongs to, a 1-based line
// and column, and the byte offset. The zero Pos means "no position".
type Pos struct {
	File   *string // shared by every node of one file
	Line   int32
	Col    int32
	Offset int32
}

// Filename returns the file of p, or "" when unknown.
func (p Pos) Filename() string {
	if p.File == nil {
		return ""
	}
	return *p.File
}

// IsValid reports whether p names a real place.
func (p Pos) IsValid() bool { return p.Line > 0 }

// String formats p as file:line:col, omitting parts that are unknown.
func (p Pos) String() string {
	s := p.Filename()
	if p.IsValid() {
		if s != "" {
			s += ":"
		}
		s += fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	if s == "" {
		s = "-"
	}
	return s
}

// Before reports whether p comes before q in the same file.
func (p Pos) Before(q Pos) bool {
	if p.Line != q.Line {
		return p.Line < q.Line
	}
	return p.Col < q.Col
}

// Severity says whether a diagnostic stops compilation.
type Severity uint8

// Severities of diagnostics.
const (
	SevError Severity = iota
	SevWarning
)

func (s Severity) String() string {
	if s == SevWarning {
		return "warning"
	}
	return "error"
}

// Error is one diagnostic tied to a place in a policy file.
type Error struct {
	Pos      Pos
	Severity Severity
	Msg      string
	Hint     string // optional, e.g. `did you mean "overdue_30d"?`
}

// Error formats the diagnostic as FILE:LINE:COL: error: message (hint).
func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s: %s", e.Pos, e.Severity, e.Msg)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// ErrorList collects the diagnostics of one run.
type ErrorList []*Error

// Add appends an error at pos.
func (l *ErrorList) Add(pos Pos, format string, args ...any) *Error {
	e := &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
	*l = append(*l, e)
	return e
}

// Warn appends a warning at pos.
func (l *ErrorList) Warn(pos Pos, format string, args ...any) *Error {
	e := l.Add(pos, format, args...)
	e.Severity = SevWarning
	return e
}

// Sort orders the list by file, line and column, errors before warnings
// at the same place.
func (l ErrorList) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.Pos.Filename() != b.Pos.Filename() {
			return a.Pos.Filename() < b.Pos.Filename()
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		return a.Severity < b.Severity
	})
}

// RemoveMultiples sorts the list and keeps only the first diagnostic of
// each line, so one mistake does not produce a cascade of follow-on
// reports. On a line with an error, the first error wins over warnings.
func (l *ErrorList) RemoveMultiples() {
	l.Sort()
	type key struct {
		file string
		line int32
	}
	hasError := map[key]bool{}
	for _, e := range *l {
		if e.Severity == SevError {
			hasError[key{e.Pos.Filename(), e.Pos.Line}] = true
		}
	}
	out := (*l)[:0]
	seen := map[key]bool{}
	for _, e := range *l {
		k := key{e.Pos.Filename(), e.Pos.Line}
		if seen[k] || (hasError[k] && e.Severity != SevError) {
			continue
		}
		seen[k] = true
		out = append(out, e)
	}
	*l = out
}

// HasErrors reports whether any entry is an error (not just a warning).
func (l ErrorList) HasErrors() bool {
	for _, e := range l {
		if e.Severity == SevError {
			return true
		}
	}
	return false
}

// Err returns the list as an error when it holds any error, else nil.
func (l ErrorList) Err() error {
	if l.HasErrors() {
		return l
	}
	return nil
}

// Error joins all diagnostics, one per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}
