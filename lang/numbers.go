package lang

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// TextNumber is a number written in free text, such as a rule's reason:
// "income under 150" holds 150, "opened in the last 75d" holds 75 with
// unit "d".
type TextNumber struct {
	Start, End int    // byte span of the digits in the text
	Text       string // the digits, e.g. "1.5"
	Value      float64
	Unit       string // letters right after the digits ("d", "ms", "k"), if any
}

// NumbersIn finds the numbers in text: runs of digits with at most one
// decimal point, not part of a word (x2 and r2d2 hold none).
func NumbersIn(text string) []TextNumber {
	var out []TextNumber
	for i := 0; i < len(text); {
		c := text[i]
		if !isDigit(c) || (i > 0 && partOfWord(text[:i])) {
			i++
			continue
		}
		j := i
		for j < len(text) && isDigit(text[j]) {
			j++
		}
		if j+1 < len(text) && text[j] == '.' && isDigit(text[j+1]) {
			j++
			for j < len(text) && isDigit(text[j]) {
				j++
			}
		}
		k := j
		for k < len(text) && (text[k] >= 'a' && text[k] <= 'z' || text[k] >= 'A' && text[k] <= 'Z') {
			k++
		}
		v, err := strconv.ParseFloat(text[i:j], 64)
		if err == nil {
			out = append(out, TextNumber{Start: i, End: j, Text: text[i:j], Value: v, Unit: text[j:k]})
		}
		i = k
		for i < len(text) && isDigit(text[i]) {
			i++ // "2x3": the 3 is part of the word
		}
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// partOfWord reports whether the text before a digit ends in a letter,
// digit, underscore or decimal point.
func partOfWord(before string) bool {
	r, _ := utf8.DecodeLastRuneInString(before)
	return r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)
}
