package rules

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// ReasonNote is what the write-back did about a number in a rule's reason
// that quotes a threshold training moved.
type ReasonNote struct {
	Rule      string `json:"rule"`
	Line      int    `json:"line"`
	Old       string `json:"old"` // the reason text before and after
	New       string `json:"new"`
	Rewritten bool   `json:"rewritten"` // false: a warning, Note says why
	Note      string `json:"note,omitempty"`
}

// RewriteReasons updates reason texts that quote a threshold training
// moved: in src (already holding the tuned numbers) a reason number equal
// to exactly one moved threshold of its rule, quoted once, is replaced by
// the new value ("income under 150" → "income under 180"). A number that
// cannot be updated unambiguously (quoted twice, equal to two thresholds,
// a duration whose unit changed, or matching none of the rule's moved
// thresholds) is left alone with a warning note.
func RewriteReasons(path string, src []byte, params []vm.Param, changes []Change) ([]byte, []ReasonNote, error) {
	moved := map[string][]Change{}
	for _, c := range changes {
		if c.Kind == vm.Threshold && c.Moved() {
			rule := RuleOf(params[c.Param])
			moved[rule] = append(moved[rule], c)
		}
	}
	if len(moved) == 0 {
		return src, nil, nil
	}
	f, err := lang.Parse(path, src)
	if err != nil {
		return nil, nil, fmt.Errorf("the tuned policy does not parse: %w", err)
	}
	type edit struct {
		off, end int
		text     string
	}
	var edits []edit
	var notes []ReasonNote
	for _, d := range f.Decls {
		rd, ok := d.(*lang.RuleDecl)
		if !ok || rd.Reason == nil || moved[rd.Name.Name] == nil {
			continue
		}
		off := int(rd.Reason.Pos.Offset) + 1 // after the opening quote
		end := stringEnd(src, off)
		if end < 0 {
			continue
		}
		raw := string(src[off:end])
		newRaw, note := reasonEdit(raw, moved[rd.Name.Name])
		if note == nil {
			continue
		}
		note.Rule, note.Line, note.Old = rd.Name.Name, int(rd.Reason.Pos.Line), raw
		note.New = raw
		if note.Rewritten {
			note.New = newRaw
			edits = append(edits, edit{off, end, newRaw})
		}
		notes = append(notes, *note)
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].off > edits[j].off })
	out := append([]byte(nil), src...)
	for _, e := range edits {
		out = append(out[:e.off], append([]byte(e.text), out[e.end:]...)...)
	}
	return out, notes, nil
}

// reasonEdit rewrites the numbers of one reason text quoting the old
// values of its rule's moved thresholds.
func reasonEdit(raw string, moved []Change) (string, *ReasonNote) {
	nums := lang.NumbersIn(raw)
	if len(nums) == 0 {
		return raw, nil
	}
	type repl struct {
		n    lang.TextNumber
		text string
	}
	var repls []repl
	var problems []string
	for _, n := range nums {
		var hits []Change
		for _, c := range moved {
			if num, _ := splitLiteral(c.Old); num == n.Value {
				hits = append(hits, c)
			}
		}
		switch {
		case len(hits) == 0:
			problems = append(problems, fmt.Sprintf("%s matches none of the moved thresholds (%s)", n.Text, newValues(moved)))
			continue
		case len(hits) > 1:
			problems = append(problems, fmt.Sprintf("%s is the old value of %d thresholds", n.Text, len(hits)))
			continue
		}
		c := hits[0]
		_, oldUnit := splitLiteral(c.Old)
		newNum, newUnit := splitLiteral(c.New)
		if oldUnit != newUnit {
			problems = append(problems, fmt.Sprintf("%s: the threshold is now %s", n.Text, c.New))
			continue
		}
		repls = append(repls, repl{n, trimNumber(newNum)})
	}
	// The same old value quoted twice is ambiguous: leave both.
	seen := map[float64]int{}
	for _, r := range repls {
		seen[r.n.Value]++
	}
	var b strings.Builder
	last := 0
	rewritten := false
	for _, r := range repls {
		if seen[r.n.Value] > 1 {
			problems = append(problems, fmt.Sprintf("%s is quoted more than once", r.n.Text))
			continue
		}
		b.WriteString(raw[last:r.n.Start])
		b.WriteString(r.text)
		last, rewritten = r.n.End, true
	}
	b.WriteString(raw[last:])
	if !rewritten && len(problems) == 0 {
		return raw, nil
	}
	note := &ReasonNote{Rewritten: rewritten}
	if len(problems) > 0 {
		note.Note = "left as written: " + strings.Join(problems, "; ")
	}
	return b.String(), note
}

// splitLiteral splits a threshold literal into its number and unit
// ("75d" → 75, "d"; "0.45" → 0.45, "").
func splitLiteral(lit string) (float64, string) {
	lit = strings.TrimSpace(lit)
	nums := lang.NumbersIn(strings.TrimPrefix(lit, "-"))
	if len(nums) == 0 {
		return math.NaN(), ""
	}
	v := nums[0].Value
	if strings.HasPrefix(lit, "-") {
		v = -v
	}
	return v, nums[0].Unit
}

func trimNumber(v float64) string { return fmt.Sprint(v) }

func newValues(moved []Change) string {
	var s []string
	for _, c := range moved {
		s = append(s, c.Old+" → "+c.New)
	}
	return strings.Join(s, ", ")
}

// stringEnd returns the offset of the closing quote of a string literal
// whose text starts at off, or -1.
func stringEnd(src []byte, off int) int {
	for i := off; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '"':
			return i
		case '\n':
			return -1
		}
	}
	return -1
}
