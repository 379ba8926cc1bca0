package lsp

import (
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/riskforge/riskforge/lang"
)

// parser parses a document declaration by declaration and keeps each
// declaration's parse, so after an edit only the declarations whose text
// changed are parsed again. The split is the one lang.Parse itself uses to
// recover from syntax errors — a top-level keyword in column 1 starts a
// declaration — so the errors and the tree are the ones a whole-file parse
// reports, while a keystroke in a 500-rule policy costs one rule's parse
// (the participle parser needs ~1 ms per kilobyte, far beyond a keystroke's
// budget for a 50 KB file).
type parser struct {
	cache map[string][]*chunk // by chunk text; equal texts are distinct chunks
	name  *string             // the file name every position points at
}

// chunk is the parse of one declaration's text and the line and byte
// offset its positions are currently shifted to.
type chunk struct {
	file      *lang.File
	errs      lang.ErrorList
	line, off int32
	name      *string // the file name its positions point at
}

// topKeywords start a top-level declaration (lang's recovery split).
var topKeywords = []string{"policy", "events", "input", "list", "model", "lookup", "window", "let", "rule", "decide"}

// splitDecls returns the byte offsets where declarations start: offset 0
// and every line that begins with a top-level keyword.
func splitDecls(src string) []int {
	starts := []int{0}
	for off := 0; off < len(src); {
		if off > 0 && startsDecl(src[off:]) {
			starts = append(starts, off)
		}
		nl := strings.IndexByte(src[off:], '\n')
		if nl < 0 {
			break
		}
		off += nl + 1
	}
	return starts
}

func startsDecl(s string) bool {
	for _, k := range topKeywords {
		if strings.HasPrefix(s, k) && (len(s) == len(k) || !isWordByte(s[len(k)]) || s[len(k)] == '.') {
			return true
		}
	}
	return false
}

// parse returns the file of src, reusing the parses of unchanged
// declarations, and the syntax errors (nil when there are none).
func (p *parser) parse(path string, src string) (*lang.File, lang.ErrorList) {
	file := &lang.File{Path: path, Src: []byte(src)}
	if p.name == nil || *p.name != path {
		p.name = &path
	}
	fileName := p.name
	next := map[string][]*chunk{}
	var errs lang.ErrorList
	starts := splitDecls(src)
	line := int32(1)
	for i, start := range starts {
		end := len(src)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		text := src[start:end]
		c := p.take(text)
		if c == nil {
			c = &chunk{line: 1}
			f, err := lang.Parse(path, []byte(text))
			c.file = f
			if err != nil {
				if l, ok := err.(lang.ErrorList); ok {
					c.errs = l
				} else {
					c.errs.Add(lang.Pos{Line: 1, Col: 1}, "%v", err)
				}
			}
		}
		if c.line != line || c.off != int32(start) || c.name != fileName {
			shift(c, line-c.line, int32(start)-c.off, fileName) // only what moved is walked
			c.line, c.off, c.name = line, int32(start), fileName
		}
		next[text] = append(next[text], c)
		if c.file != nil {
			if c.file.Policy != nil && file.Policy == nil {
				file.Policy = c.file.Policy
			}
			file.Decls = append(file.Decls, c.file.Decls...)
			file.Comments = append(file.Comments, c.file.Comments...)
		}
		for _, e := range c.errs {
			if i+1 < len(starts) && strings.Contains(e.Msg, `"<EOF>"`) {
				e = eofError(e, src, fileName) // lang reports a declaration cut short at the end of the file
			}
			errs = append(errs, e)
		}
		line += int32(strings.Count(text, "\n"))
	}
	p.cache = next
	if len(errs) == 0 {
		errs = nil
	}
	return file, errs
}

// eofError returns a copy of e placed at the end of src.
func eofError(e *lang.Error, src string, file *string) *lang.Error {
	c := *e
	last := strings.LastIndexByte(src, '\n')
	c.Pos = lang.Pos{File: file, Line: int32(strings.Count(src, "\n") + 1), Col: int32(utf8.RuneCountInString(src[last+1:]) + 1), Offset: int32(len(src))}
	return &c
}

// take removes and returns a cached parse of text, or nil.
func (p *parser) take(text string) *chunk {
	cs := p.cache[text]
	if len(cs) == 0 {
		return nil
	}
	c := cs[len(cs)-1]
	p.cache[text] = cs[:len(cs)-1]
	return c
}

var (
	posType     = reflect.TypeOf(lang.Pos{})
	endOffsetOf = map[reflect.Type]bool{reflect.TypeOf(lang.NumberLit{}): true, reflect.TypeOf(lang.DurationLit{}): true}
)

// shift moves every position in a chunk's tree and errors by dl lines and
// doff bytes (a declaration starts a line, so columns never change) and
// points them all at the document's file name.
func shift(c *chunk, dl, doff int32, file *string) {
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.Struct:
			if v.Type() == posType {
				p := v.Addr().Interface().(*lang.Pos)
				if p.IsValid() {
					p.Line += dl
					p.Offset += doff
				}
				p.File = file
				return
			}
			for i := 0; i < v.NumField(); i++ {
				f := v.Field(i)
				if endOffsetOf[v.Type()] && v.Type().Field(i).Name == "End" {
					f.SetInt(f.Int() + int64(doff))
					continue
				}
				if f.CanSet() && (f.Kind() != reflect.Pointer || f.Type().Elem().Kind() != reflect.String) {
					walk(f)
				}
			}
		}
	}
	if c.file != nil {
		walk(reflect.ValueOf(c.file.Policy))
		walk(reflect.ValueOf(c.file.Decls))
		walk(reflect.ValueOf(c.file.Comments))
	}
	walk(reflect.ValueOf(c.errs))
}
