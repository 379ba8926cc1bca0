package rules

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// Change is one parameter's old and new literal.
type Change struct {
	Param    int
	Name     string
	Kind     vm.ParamKind
	Old, New string
	OldValue float64
	NewValue float64
}

// Moved reports whether the literal changed.
func (c Change) Moved() bool { return c.Old != c.New }

// Rewrite returns src with each parameter's literal replaced by texts[i]
// (the byte span [Off, End) of the literal, nothing else), and the list of
// changes in parameter order. An empty text keeps the literal.
func Rewrite(src []byte, params []vm.Param, texts []string) ([]byte, []Change, error) {
	type edit struct {
		off, end int
		text     string
	}
	var edits []edit
	var changes []Change
	for i, prm := range params {
		if prm.Off < 0 || int(prm.End) > len(src) || prm.Off >= prm.End {
			return nil, nil, fmt.Errorf("parameter %s: bad source span", prm.Name)
		}
		old := string(src[prm.Off:prm.End])
		c := Change{Param: i, Name: prm.Name, Kind: prm.Kind, Old: old, New: old, OldValue: prm.Value, NewValue: prm.Value}
		if t := texts[i]; t != "" && t != old {
			c.New = t
			if v, ok := literalValue(t, prm.Unit); ok {
				c.NewValue = v
			}
			edits = append(edits, edit{int(prm.Off), int(prm.End), t})
		}
		changes = append(changes, c)
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].off > edits[j].off })
	out := append([]byte(nil), src...)
	for k, e := range edits {
		if k > 0 && e.end > edits[k-1].off {
			return nil, nil, errors.New("overlapping parameter spans")
		}
		out = append(out[:e.off], append([]byte(e.text), out[e.end:]...)...)
	}
	return out, changes, nil
}

// Verify checks rewritten source: it parses and checks without errors,
// and its parameter table holds the expected values. Lines the rewrite
// changed, and lines of the same aligned group whose layout the change
// shifts, get the formatter's layout (see Relayout): a longer number does
// not break an aligned column. path names the source in messages and
// locates its list files, so pass the original policy's path.
func Verify(path string, orig, rewritten []byte, want []float64, opts compiler.Options) ([]byte, error) {
	f, err := lang.Parse(path, rewritten)
	if err != nil {
		return nil, fmt.Errorf("the tuned policy does not parse: %w", err)
	}
	if rewritten, err = Relayout(path, orig, rewritten, f); err != nil {
		return nil, err
	}
	pol, diags := compiler.CheckSource(path, rewritten, opts)
	if diags.HasErrors() {
		return nil, fmt.Errorf("the tuned policy does not check: %v", diags.Err())
	}
	prog, _, err := compiler.Compile(pol, compiler.CompileOptions{})
	if err != nil {
		return nil, err
	}
	if len(prog.Params) != len(want) {
		return nil, fmt.Errorf("the tuned policy has %d parameters, not %d", len(prog.Params), len(want))
	}
	for i, prm := range prog.Params {
		if prm.Value != want[i] {
			return nil, fmt.Errorf("parameter %s reads %v from the tuned policy, not %v", prm.Name, prm.Value, want[i])
		}
	}
	return rewritten, nil
}

// Relayout gives the rewritten lines the formatter's layout. A
// formatter-clean original gives a formatter-clean result. Otherwise, when
// the formatter changes rewritten's whitespace only within lines, each
// line that the rewrite changed, or whose formatted layout the rewrite
// changed (an aligned neighbour), takes its formatted form and every other
// line is kept as written.
func Relayout(path string, orig, rewritten []byte, parsed *lang.File) ([]byte, error) {
	fo, err := lang.Parse(path, orig)
	if err != nil {
		return rewritten, nil
	}
	fmtOrig, fmtNew := lang.Format(fo), lang.Format(parsed)
	if !sameTokens(fmtNew, rewritten) {
		return nil, errors.New("formatting the tuned policy changes more than whitespace")
	}
	if bytes.Equal(fmtOrig, orig) {
		return fmtNew, nil
	}
	// Lines correspond by their order among non-blank lines (the
	// formatter may add or drop blank lines).
	O, R := nonBlank(orig), nonBlank(rewritten)
	FO, FR := nonBlank(fmtOrig), nonBlank(fmtNew)
	if len(O) != len(R) || len(R) != len(FR) || len(FO) != len(FR) {
		return rewritten, nil
	}
	for k := range R {
		if !sameTokens([]byte(R[k].text), []byte(FR[k].text)) {
			return rewritten, nil // the formatter moves tokens between lines
		}
	}
	lines := strings.Split(string(rewritten), "\n")
	for k := range R {
		if R[k].text != O[k].text || FO[k].text != FR[k].text {
			lines[R[k].index] = FR[k].text
		}
	}
	return []byte(strings.Join(lines, "\n")), nil
}

type srcLine struct {
	index int
	text  string
}

// nonBlank returns the lines of src that hold more than white space.
func nonBlank(src []byte) []srcLine {
	var out []srcLine
	for i, l := range strings.Split(string(src), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, srcLine{i, l})
		}
	}
	return out
}

func sameTokens(a, b []byte) bool {
	return strings.Join(strings.FieldsFunc(string(a), unicode.IsSpace), " ") == strings.Join(strings.FieldsFunc(string(b), unicode.IsSpace), " ")
}
