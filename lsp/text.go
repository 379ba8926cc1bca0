package lsp

import (
	"sort"
	"unicode/utf16"
	"unicode/utf8"

	protocol "github.com/tliron/glsp/protocol_3_16"

	"github.com/riskforge/riskforge/lang"
)

// text is a document's content with the byte offset of every line start,
// converting between byte offsets and LSP positions (0-based line, UTF-16
// code units), which is what clients count in.
type text struct {
	src   string
	lines []int // byte offset of each line's first byte
}

func newText(src string) *text {
	t := &text{src: src, lines: []int{0}}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			t.lines = append(t.lines, i+1)
		}
	}
	return t
}

// lineEnd returns the byte offset of the end of line l (before its newline).
func (t *text) lineEnd(l int) int {
	if l+1 < len(t.lines) {
		return t.lines[l+1] - 1
	}
	return len(t.src)
}

// offset converts a position to a byte offset, clamping a line past the
// end to the end of the text and a character past the end of its line to
// the line's end, so a stale or wrong position from a client never
// indexes out of range.
func (t *text) offset(p protocol.Position) int {
	l := int(p.Line)
	if l >= len(t.lines) {
		return len(t.src)
	}
	off, end := t.lines[l], t.lineEnd(l)
	for units := int(p.Character); units > 0 && off < end; {
		r, size := utf8.DecodeRuneInString(t.src[off:end])
		n := utf16.RuneLen(r)
		if n < 0 {
			n = 1
		}
		if n > units {
			break // inside a surrogate pair: stay before the rune
		}
		units -= n
		off += size
	}
	return off
}

// position converts a byte offset (clamped to the text) to a position.
func (t *text) position(off int) protocol.Position {
	off = max(0, min(off, len(t.src)))
	l := sort.Search(len(t.lines), func(i int) bool { return t.lines[i] > off }) - 1
	ch := 0
	for i := t.lines[l]; i < off; {
		r, size := utf8.DecodeRuneInString(t.src[i:])
		if n := utf16.RuneLen(r); n > 0 {
			ch += n
		} else {
			ch++
		}
		i += size
	}
	return protocol.Position{Line: protocol.UInteger(l), Character: protocol.UInteger(ch)}
}

// rng converts a byte span to a range.
func (t *text) rng(start, end int) protocol.Range {
	return protocol.Range{Start: t.position(start), End: t.position(end)}
}

// posOffset returns the byte offset of a lang position. Parser and checker
// positions carry their offset; when it disagrees with the line (a
// position built by hand), the line and the column (counted in runes) win.
func (t *text) posOffset(p lang.Pos) int {
	l := int(p.Line) - 1
	if l < 0 {
		return 0
	}
	if l >= len(t.lines) {
		return len(t.src)
	}
	if off := int(p.Offset); off >= t.lines[l] && off <= t.lineEnd(l) {
		return off
	}
	off, end := t.lines[l], t.lineEnd(l)
	for c := int(p.Col) - 1; c > 0 && off < end; c-- {
		_, size := utf8.DecodeRuneInString(t.src[off:end])
		off += size
	}
	return off
}

// wordEnd returns the end of the name or number starting at off, or off+1
// (within the line) when there is none: the span a diagnostic underlines.
func (t *text) wordEnd(off int) int {
	end := off
	for end < len(t.src) && isWordByte(t.src[end]) {
		end++
	}
	if end == off && off < len(t.src) && t.src[off] != '\n' {
		_, size := utf8.DecodeRuneInString(t.src[off:])
		end += size
	}
	return end
}

func isWordByte(c byte) bool {
	return c == '_' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
