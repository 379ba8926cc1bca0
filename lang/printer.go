package lang

import (
	"reflect"
	"sort"
	"strings"
)

// Format returns the canonical layout of a parsed policy, the output of
// `riskc fmt`. It prints the header, then each declaration in source order
// separated by one blank line (consecutive one-line let, list, window or
// events declarations keep the source's grouping), blocks indented by two
// spaces with their columns aligned, and every comment of f.Comments:
// own-line comments stay on their own line before the next thing printed,
// trailing comments stay at the end of their line. Positions (Pos.Line) and
// f.Src, when present, decide where comments and blank lines go.
//
// The output ends with one newline (it is empty when f has no content),
// has no trailing spaces, and is a fixed point: formatting the parse of
// the output gives the output again.
func Format(f *File) []byte {
	if f == nil {
		return nil
	}
	src := newSourceInfo(f.Src)
	p := &printer{src: src}
	p.file(f)
	l := &layout{src: src, comments: sortedComments(f.Comments)}
	return l.run(p.lines)
}

// sepKind says what goes between the previous output and the first thing
// (comment or code) printed for a line.
type sepKind uint8

const (
	sepSource sepKind = iota // a blank line where the source had one
	sepNone                  // never a blank line
	sepForce                 // always one blank line
)

// outLine is one line of code to print, before comments are merged in.
type outLine struct {
	indent        int
	commentIndent int // indentation of own-line comments printed before it
	text          string
	from, to      int32 // source lines it was printed from
	sep           sepKind
	codeBlanks    bool     // sepSource keeps a blank line between two code lines
	closing       bool     // a closing brace: never a blank line before it
	block         int      // lines inside one block share a number (0: none)
	cells         []string // columns of a block line, aligned into text
}

// printer turns declarations into outLines.
type printer struct {
	src        *sourceInfo
	lines      []outLine
	sep        sepKind
	codeBlanks bool
	blocks     int
}

func (p *printer) add(indent int, text string, from, to int32) int {
	if to < from {
		to = from
	}
	p.lines = append(p.lines, outLine{
		indent: indent, commentIndent: indent, text: strings.TrimRight(text, " "),
		from: from, to: to, sep: p.sep, codeBlanks: p.codeBlanks,
	})
	p.sep = sepSource
	return len(p.lines) - 1
}

func (p *printer) file(f *File) {
	if f.Policy != nil {
		p.header(f.Policy)
	}
	prevKind := ""
	for _, d := range f.Decls {
		kind := groupKind(d)
		p.sep, p.codeBlanks = sepForce, true
		if kind != "" && kind == prevKind {
			p.sep = sepSource
		}
		p.decl(d)
		prevKind = kind
	}
}

// groupKind names the one-line declarations whose grouping follows the
// source; other declarations always get a blank line around them.
func groupKind(d Decl) string {
	switch d.(type) {
	case *LetDecl:
		return "let"
	case *ListDecl:
		return "list"
	case *WindowDecl:
		return "window"
	case *EventsDecl:
		return "events"
	}
	return ""
}

func (p *printer) decl(d Decl) {
	if d == nil || reflect.ValueOf(d).IsNil() {
		return
	}
	switch d := d.(type) {
	case *EventsDecl:
		p.add(0, "events "+joinIdents(d.Names), d.Pos.Line, identsEnd(d.Names))
	case *InputDecl:
		p.input(d)
	case *ListDecl:
		p.list(d)
	case *ModelDecl:
		p.model(d)
	case *LookupDecl:
		p.lookup(d)
	case *WindowDecl:
		p.window(d)
	case *LetDecl:
		p.add(0, "let "+identName(d.Name)+" = "+FormatExpr(d.Value), d.Pos.Line, lastLine(d.Value))
	case *RuleDecl:
		p.rule(d)
	case *DecideDecl:
		p.decide(d)
	}
}

func (p *printer) header(h *PolicyDecl) {
	text := "policy " + identName(h.Name)
	if h.Version != nil {
		text += " version " + FormatExpr(h.Version)
	}
	p.add(0, text, h.Pos.Line, maxLine(lastLine(h.Name), lastLine(h.Version)))
}

func (p *printer) list(d *ListDecl) {
	text := "list " + identName(d.Name) + " = "
	to := lastLine(d.Name)
	if d.File != nil {
		text += "file " + FormatExpr(d.File)
		to = maxLine(to, lastLine(d.File))
	} else {
		text += FormatExpr(&ListLit{Items: d.Items})
		for _, it := range d.Items {
			to = maxLine(to, lastLine(it))
		}
	}
	p.add(0, text, d.Pos.Line, to)
}

func (p *printer) window(d *WindowDecl) {
	by := joinIdents(d.By)
	if d.Tuple || len(d.By) > 1 {
		by = "(" + by + ")"
	}
	text := "window " + identName(d.Name) + " = " + identName(d.Agg) + "(" + FormatExpr(d.Arg) + ")" +
		" over " + FormatExpr(d.Over) + " by " + by
	if len(d.On) > 0 {
		text += " on " + joinIdents(d.On)
	}
	if d.Where != nil {
		text += " where " + FormatExpr(d.Where)
	}
	p.add(0, text, d.Pos.Line, maxLine(lastLine(d.Arg), lastLine(d.Over), identsEnd(d.By), identsEnd(d.On), lastLine(d.Where)))
}

func (p *printer) rule(r *RuleDecl) {
	p.add(0, "rule "+identName(r.Name), r.Pos.Line, lastLine(r.Name))
	p.codeBlanks = false
	if len(r.On) > 0 {
		p.add(2, "on "+joinIdents(r.On), lastLine(r.On[0]), identsEnd(r.On))
	}
	p.when(r.When)
	p.emit(r.Emit, r.Reason)
}

// when prints the condition on one line, except that a line break before
// a top-level and/or operand that started a new source line is kept.
func (p *printer) when(e Expr) {
	text, indent := "when ", 2
	var from, to, prevLast int32
	for i, o := range flattenLogic(e, 0, "", nil) {
		first, last := exprLines(o.x)
		if i > 0 && prevLast > 0 && first > prevLast {
			p.add(indent, text, from, to)
			text, indent, from, to = "", 4, 0, 0
		}
		if o.op != "" {
			text += sepIf(text) + o.op + " "
		}
		text += formatOperand(o.x, o.min)
		if from == 0 {
			from = first
		}
		to, prevLast = maxLine(to, last), last
	}
	p.add(indent, text, from, to)
}

func sepIf(text string) string {
	if text == "" {
		return ""
	}
	return " "
}

func (p *printer) emit(e *Emit, reason *StringLit) {
	text := "emit "
	var from, to int32
	if e != nil {
		from = e.Pos.Line
		if e.Score != nil {
			text += "score " + formatOperand(e.Score, precUnary)
		} else {
			if e.AtLeast {
				text += "at_least "
			}
			text += identName(e.Action)
		}
		to = maxLine(lastLine(e.Score), lastLine(e.Action))
	}
	if reason == nil {
		reason = &StringLit{}
	}
	text += " reason " + FormatExpr(reason)
	p.add(2, text, from, maxLine(to, lastLine(reason)))
}

// blockLine is one line inside braces, split into columns to align.
type blockLine struct {
	pos   Pos
	to    int32
	cells []string
}

func (p *printer) input(d *InputDecl) {
	items := make([]blockLine, 0, len(d.Fields))
	for _, f := range d.Fields {
		if f != nil {
			items = append(items, fieldLine(f))
		}
	}
	p.block("input {", d.Pos.Line, d.Pos.Line, items, d.Rbrace)
}

func fieldLine(f *Field) blockLine {
	cells := []string{identName(f.Name), identName(f.Type)}
	to := maxLine(lastLine(f.Name), lastLine(f.Type))
	var mods []string
	if f.Optional {
		mods = append(mods, "optional")
	}
	if f.Default != nil {
		mods = append(mods, "default "+FormatExpr(f.Default))
		to = maxLine(to, lastLine(f.Default))
	}
	for _, b := range f.Bounds {
		if b == nil {
			continue
		}
		mods = append(mods, boundText(b))
		to = maxLine(to, b.Pos.Line, lastLine(b.Lo), lastLine(b.Hi))
	}
	if len(mods) > 0 {
		cells = append(cells, strings.Join(mods, " "))
	}
	return blockLine{pos: f.Pos, to: to, cells: cells}
}

func boundText(b *Bound) string {
	if b.Op == "between" {
		return "between " + FormatExpr(b.Lo) + " and " + FormatExpr(b.Hi)
	}
	return b.Op + " " + FormatExpr(b.Lo)
}

func (p *printer) model(m *ModelDecl) {
	open := "model " + identName(m.Name) + " = " + identName(m.Kind) + " " + FormatExpr(m.Path) + " {"
	var items []blockLine
	if len(m.Inputs) > 0 {
		items = append(items, blockLine{pos: identPos(m.Inputs[0]), to: identsEnd(m.Inputs),
			cells: []string{"inputs", "[" + joinIdents(m.Inputs) + "]"}})
	}
	if m.Output != nil {
		out := FormatExpr(m.Output)
		if m.OutputIndex != nil {
			out += " [" + FormatExpr(m.OutputIndex) + "]"
		}
		items = append(items, blockLine{pos: m.Output.Pos, to: lastLine(m.OutputIndex), cells: []string{"output", out}})
	}
	items = appendOpt(items, "timeout", m.Timeout)
	items = appendOpt(items, "on_error", m.OnError)
	p.block(open, m.Pos.Line, maxLine(lastLine(m.Name), lastLine(m.Kind), lastLine(m.Path)), items, m.Rbrace)
}

func (p *printer) lookup(l *LookupDecl) {
	open := "lookup " + identName(l.Name) + " = " + identName(l.Kind) + " " + FormatExpr(l.Key) + " {"
	var items []blockLine
	if len(l.Fields) > 0 {
		parts := make([]string, len(l.Fields))
		for i, f := range l.Fields {
			parts[i] = identName(f.Name) + " " + identName(f.Type)
		}
		last := l.Fields[len(l.Fields)-1]
		items = append(items, blockLine{pos: l.Fields[0].Pos, to: maxLine(lastLine(last.Name), lastLine(last.Type)),
			cells: []string{"fields", "[" + strings.Join(parts, ", ") + "]"}})
	}
	items = appendOpt(items, "ttl", l.TTL)
	items = appendOpt(items, "timeout", l.Timeout)
	if l.OnError != nil {
		items = append(items, blockLine{pos: l.OnError.Pos, to: lastLine(l.OnError), cells: []string{"on_error", identName(l.OnError)}})
	}
	p.block(open, l.Pos.Line, maxLine(lastLine(l.Name), lastLine(l.Kind), lastLine(l.Key)), items, l.Rbrace)
}

func appendOpt(items []blockLine, key string, e Expr) []blockLine {
	if isNilExpr(e) {
		return items
	}
	return append(items, blockLine{pos: e.Position(), to: lastLine(e), cells: []string{key, FormatExpr(e)}})
}

func (p *printer) decide(d *DecideDecl) {
	var items []blockLine
	if !isNilExpr(d.Bias) {
		pos := d.BiasPos
		if !pos.IsValid() {
			pos = d.Bias.Position()
		}
		items = append(items, blockLine{pos: pos, to: lastLine(d.Bias), cells: []string{"bias " + FormatExpr(d.Bias)}})
	}
	for _, c := range d.Cuts {
		if c != nil {
			text := identName(c.Action) + " when score " + c.Op + " " + FormatExpr(c.Threshold)
			items = append(items, blockLine{pos: c.Pos, to: lastLine(c.Threshold), cells: []string{text}})
		}
	}
	if d.Otherwise != nil {
		items = append(items, blockLine{pos: d.Otherwise.Pos, cells: []string{"otherwise " + d.Otherwise.Name}})
	}
	p.block("decide {", d.Pos.Line, d.Pos.Line, items, d.Rbrace)
}

// block prints `open`, the items in source order indented by two spaces,
// and the closing brace. The items' cells are aligned per section (see
// alignBlocks) once the layout knows where blank lines fall.
func (p *printer) block(open string, from, to int32, items []blockLine, rbrace Pos) {
	p.add(0, open, from, to)
	p.sep = sepNone
	p.blocks++
	sort.SliceStable(items, func(i, j int) bool { return items[i].pos.Before(items[j].pos) })
	for _, it := range items {
		i := p.add(2, "", it.pos.Line, it.to)
		p.lines[i].cells, p.lines[i].block = it.cells, p.blocks
	}
	p.sep = sepSource
	i := p.add(0, "}", rbrace.Line, rbrace.Line)
	p.lines[i].closing, p.lines[i].commentIndent = true, 2
}

// alignBlocks sets the text of block lines from their cells, each column
// padded to its widest cell within a section (lines of one block with no
// blank line printed between them), and returns for every line the column
// its trailing comment starts at (0: one space after the code).
func alignBlocks(lines []outLine, breaks []bool) []int {
	cols := make([]int, len(lines))
	for start := 0; start < len(lines); {
		end := start + 1
		if lines[start].block != 0 {
			for end < len(lines) && lines[end].block == lines[start].block && !breaks[end] {
				end++
			}
			alignSection(lines[start:end], cols[start:end])
		}
		start = end
	}
	return cols
}

func alignSection(lines []outLine, cols []int) {
	widths := cellWidths(lines)
	width := 0
	for i := range lines {
		var b strings.Builder
		for k, c := range lines[i].cells {
			b.WriteString(c)
			if k+1 < len(lines[i].cells) {
				b.WriteString(strings.Repeat(" ", widths[k]-textWidth(c)+1))
			}
		}
		lines[i].text = b.String()
		width = max(width, lines[i].indent+textWidth(lines[i].text))
	}
	for i := range cols {
		cols[i] = width + 1
	}
}

// cellWidths is the width of each column that has a cell after it.
func cellWidths(lines []outLine) []int {
	var widths []int
	for _, ln := range lines {
		for k := 0; k+1 < len(ln.cells); k++ {
			if k == len(widths) {
				widths = append(widths, 0)
			}
			widths[k] = max(widths[k], textWidth(ln.cells[k]))
		}
	}
	return widths
}

func textWidth(s string) int { return len([]rune(s)) }

func joinIdents(ids []*Ident) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = identName(id)
	}
	return strings.Join(names, ", ")
}

func identPos(id *Ident) Pos {
	if id == nil {
		return Pos{}
	}
	return id.Pos
}

func identsEnd(ids []*Ident) int32 {
	var l int32
	for _, id := range ids {
		l = maxLine(l, lastLine(id))
	}
	return l
}

// lastLine is the last source line of e (0 when unknown).
func lastLine(e Expr) int32 {
	_, last := exprLines(e)
	return last
}

func maxLine(ls ...int32) int32 {
	var m int32
	for _, l := range ls {
		m = max(m, l)
	}
	return m
}

func sortedComments(cs []*Comment) []*Comment {
	out := make([]*Comment, 0, len(cs))
	for _, c := range cs {
		if c != nil {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pos.Before(out[j].Pos) })
	return out
}

// sourceInfo answers layout questions about the original text; without
// the text it falls back to what the line numbers tell.
type sourceInfo struct {
	src    []byte
	starts []int // byte offset where each line begins
}

func newSourceInfo(src []byte) *sourceInfo {
	s := &sourceInfo{src: src}
	if src != nil {
		s.starts = append(s.starts, 0)
		for i, b := range src {
			if b == '\n' {
				s.starts = append(s.starts, i+1)
			}
		}
	}
	return s
}

// blankBetween reports whether a blank line lies strictly between lines
// a and b.
func (s *sourceInfo) blankBetween(a, b int32) bool {
	if s.src == nil {
		return b-a > 1
	}
	for l := a + 1; l < b; l++ {
		if s.isBlank(l) {
			return true
		}
	}
	return false
}

func (s *sourceInfo) isBlank(line int32) bool {
	i := int(line) - 1
	if i < 0 || i >= len(s.starts) {
		return false
	}
	end := len(s.src)
	if i+1 < len(s.starts) {
		end = s.starts[i+1]
	}
	return strings.TrimSpace(string(s.src[s.starts[i]:end])) == ""
}

// ownLine reports whether only blanks precede c on its source line. When
// the source is unknown or does not match, c counts as a trailing comment.
func (s *sourceInfo) ownLine(c *Comment) bool {
	off := int(c.Pos.Offset)
	if off < 0 || off > len(s.src) || !strings.HasPrefix(string(s.src[off:]), c.Text) {
		return false
	}
	for i := off - 1; i >= 0; i-- {
		switch s.src[i] {
		case '\n':
			return true
		case ' ', '\t', '\r':
		default:
			return false
		}
	}
	return true
}

// layout merges the comments into the code lines and writes the text.
// It runs twice: a dry run finds where blank lines fall (which does not
// depend on the text), so that block columns can be aligned per section;
// the second run writes.
type layout struct {
	src         *sourceInfo
	comments    []*Comment
	next        int // first comment not yet printed
	out         strings.Builder
	started     bool  // anything printed yet
	lastEnd     int32 // source line of what was printed last
	lastComment bool  // whether that was a comment
	sawBlank    bool  // a blank line was printed since the last code line
	breaks      []bool
	cols        []int // trailing comment column of each line
}

func (l *layout) run(lines []outLine) []byte {
	l.breaks = make([]bool, len(lines))
	l.pass(lines)
	l.cols = alignBlocks(lines, l.breaks)
	l.out.Reset()
	l.next, l.started, l.lastEnd, l.lastComment = 0, false, 0, false
	l.pass(lines)
	return []byte(l.out.String())
}

func (l *layout) pass(lines []outLine) {
	for i := range lines {
		l.line(lines, i)
	}
	end := &outLine{sep: sepSource, codeBlanks: true}
	first := true
	for l.next < len(l.comments) {
		l.comment(end, &first)
	}
}

// line prints line i with the comments that precede it in the source
// before it, and the last comment on its source lines at its end. Comments
// from the first source line of the next code line on wait for that line.
func (l *layout) line(lines []outLine, i int) {
	ln, stop := &lines[i], nextFrom(lines, i)
	first := true
	for l.next < len(l.comments) && l.comments[l.next].Pos.Line < ln.from {
		l.comment(ln, &first)
	}
	end := l.next
	for end < len(l.comments) && l.comments[end].Pos.Line <= ln.to && l.comments[end].Pos.Line < stop {
		end++
	}
	var trailing *Comment
	if end > l.next && !l.src.ownLine(l.comments[end-1]) {
		end--
		trailing = l.comments[end]
	}
	for l.next < end {
		l.comment(ln, &first)
	}
	if trailing != nil {
		l.next++
	}
	l.code(ln, i, first, trailing)
}

func (l *layout) comment(ln *outLine, first *bool) {
	c := l.comments[l.next]
	l.next++
	l.blankLine(l.blankBefore(ln, *first, true, c.Pos.Line))
	l.write(strings.Repeat(" ", ln.commentIndent) + c.Text)
	l.lastEnd, l.lastComment, *first = c.Pos.Line, true, false
}

func (l *layout) code(ln *outLine, i int, first bool, trailing *Comment) {
	l.blankLine(l.blankBefore(ln, first, false, ln.from))
	l.breaks[i], l.sawBlank = l.breaks[i] || l.sawBlank, false
	text := strings.Repeat(" ", ln.indent) + ln.text
	if trailing != nil {
		pad := 1
		if i < len(l.cols) && l.cols[i] > 0 {
			pad = max(1, l.cols[i]-textWidth(text))
		}
		text += strings.Repeat(" ", pad) + trailing.Text
	}
	l.write(text)
	l.lastEnd, l.lastComment = ln.to, false
}

func (l *layout) blankLine(blank bool) {
	if blank {
		l.out.WriteByte('\n')
		l.sawBlank = true
	}
}

// write prints one line without trailing blanks.
func (l *layout) write(text string) {
	l.out.WriteString(strings.TrimRight(text, " \t") + "\n")
	l.started = true
}

func (l *layout) blankBefore(ln *outLine, first, isComment bool, start int32) bool {
	switch {
	case !l.started, ln.closing && !isComment:
		return false
	case first && ln.sep == sepNone:
		return false
	case first && ln.sep == sepForce:
		return true
	case first && !ln.codeBlanks && !isComment && !l.lastComment:
		return false
	}
	return l.src.blankBetween(l.lastEnd, start)
}

// nextFrom is the first source line of the next line after i that has a
// position, or the largest line number when there is none.
func nextFrom(lines []outLine, i int) int32 {
	for _, ln := range lines[i+1:] {
		if ln.from > 0 {
			return ln.from
		}
	}
	return 1<<31 - 1
}
