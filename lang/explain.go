package lang

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
)

// explainSyntax words a syntax error for the slips users make, in place
// of the grammar participle expected: a rule without a reason (reported
// at its emit, not at the end of the file), a chained comparison, a
// fractional duration and a keyword in capitals. tokens are the file's;
// from and to bound the declaration being parsed. ok is false when no
// explanation applies.
func explainSyntax(msg string, at lexer.Position, tokens []lexer.Token, from, to int) (pos lexer.Position, text string, ok bool) {
	sig := significant(tokens)
	k := len(sig)
	for i, t := range sig {
		if t.Pos.Offset >= at.Offset {
			k = i
			break
		}
	}
	atEnd := k == len(sig) || sig[k].Pos.Offset >= to
	switch {
	case atEnd && strings.Contains(msg, `expected "reason"`):
		return missingReason(sig, from, to)
	case atEnd:
		return pos, "", false
	}
	t := sig[k]
	if isComparison(t.Value) && k >= 3 && isComparison(sig[k-2].Value) && k+1 < len(sig) {
		a, x, b := sig[k-3].Value, sig[k-1].Value, sig[k+1].Value
		return t.Pos, fmt.Sprintf("chained comparison %s %s %s %s %s: write %s %s %s and %s %s %s, or %s between %s and %s (both ends included)",
			a, sig[k-2].Value, x, t.Value, b, a, sig[k-2].Value, x, x, t.Value, b, x, a, b), true
	}
	if p, text, ok := fractionalDuration(sig, k); ok {
		return p, text, true
	}
	for _, u := range []lexer.Token{t, sig[max(k-1, 0)]} { // NOT x parses NOT as a name
		if lower := strings.ToLower(u.Value); lower != u.Value && keywords[lower] {
			return u.Pos, fmt.Sprintf("keywords are lower case: write %s, not %s", lower, u.Value), true
		}
	}
	return pos, "", false
}

// keywords are the reserved words (the lexer's Keyword rule): a name
// spelt like one in capitals is almost surely the keyword.
var keywords = map[string]bool{
	"and": true, "or": true, "not": true, "in": true, "between": true, "true": true, "false": true,
	"fixed": true, "when": true, "emit": true, "reason": true, "on": true, "rule": true, "let": true,
	"window": true, "model": true, "list": true, "decide": true,
}

// significant drops whitespace and comments.
func significant(tokens []lexer.Token) []lexer.Token {
	symbols := policyLexer.Symbols()
	space, comment := symbols["Whitespace"], symbols["Comment"]
	out := make([]lexer.Token, 0, len(tokens))
	for _, t := range tokens {
		if t.Type != space && t.Type != comment {
			out = append(out, t)
		}
	}
	return out
}

func isComparison(s string) bool {
	switch s {
	case "<", "<=", ">", ">=", "==", "!=":
		return true
	}
	return false
}

// missingReason reports a rule without a reason at its emit.
func missingReason(sig []lexer.Token, from, to int) (lexer.Position, string, bool) {
	name, emit := "", -1
	for i, t := range sig {
		if t.Pos.Offset < from || t.Pos.Offset >= to {
			continue
		}
		if t.Value == "rule" && name == "" && i+1 < len(sig) {
			name = sig[i+1].Value
		}
		if t.Value == "emit" {
			emit = i
		}
	}
	if emit < 0 {
		return lexer.Position{}, "", false
	}
	action := ""
	for i := emit + 1; i < len(sig) && i <= emit+3 && sig[i].Pos.Offset < to; i++ {
		action += " " + sig[i].Value
	}
	return sig[emit].Pos, fmt.Sprintf("rule %s has no reason: every rule says why it fired, e.g. emit%s reason \"...\"", name, action), true
}

// wholeUnits in seconds, largest first.
var wholeUnits = []struct {
	name string
	sec  float64
}{{"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1}, {"ms", 0.001}}

// fractionalDuration recognises 1.5h (a number glued to a unit name) at
// token k or k-1 and says how to write it in whole units.
func fractionalDuration(sig []lexer.Token, k int) (lexer.Position, string, bool) {
	for _, i := range []int{k, k - 1} {
		if i < 0 || i+1 >= len(sig) {
			continue
		}
		num, unit := sig[i], sig[i+1]
		if !strings.Contains(num.Value, ".") || unit.Pos.Offset != num.Pos.Offset+len(num.Value) {
			continue
		}
		x, err := strconv.ParseFloat(num.Value, 64)
		if err != nil {
			continue
		}
		for j, u := range wholeUnits {
			if u.name != unit.Value {
				continue
			}
			whole := ""
			for _, smaller := range wholeUnits[j+1:] {
				if n := x * u.sec / smaller.sec; n == float64(int64(n)) {
					whole = fmt.Sprintf(" as %d%s", int64(n), smaller.name)
					break
				}
			}
			return num.Pos, fmt.Sprintf("durations are whole numbers of a unit: write %s%s%s", num.Value, unit.Value, whole), true
		}
	}
	return lexer.Position{}, "", false
}
