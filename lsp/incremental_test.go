package lsp

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/lang"
)

// sameParse checks that the declaration-by-declaration parse of src,
// after the parser has seen prev, gives the tree and the syntax errors of
// a whole-file lang.Parse.
func sameParse(t *testing.T, prev, src string) {
	t.Helper()
	var p parser
	p.parse("t.risk", prev)
	got, gotErrs := p.parse("t.risk", src)
	want, err := lang.Parse("t.risk", []byte(src))
	var wantErrs lang.ErrorList
	if err != nil {
		wantErrs = err.(lang.ErrorList)
	}
	if g, w := errorText(gotErrs), errorText(wantErrs); g != w {
		t.Fatalf("syntax errors differ from lang.Parse:\n got %s\nwant %s", g, w)
	}
	if want == nil {
		return
	}
	if g, w := lang.Dump(got), lang.Dump(want); g != w {
		t.Fatalf("tree differs from lang.Parse:\n got %s\nwant %s", g, w)
	}
	if len(wantErrs) == 0 {
		if g, w := string(lang.Format(got)), string(lang.Format(want)); g != w {
			t.Fatalf("formatting differs:\n got %s\nwant %s", g, w)
		}
	}
	if g, w := positions(got), positions(want); g != w {
		t.Fatalf("positions differ:\n got %s\nwant %s", g, w)
	}
}

func errorText(l lang.ErrorList) string {
	var s []string
	for _, e := range l {
		s = append(s, e.Error())
	}
	return strings.Join(s, "\n")
}

// positions lists every position in the tree (line, column, offset) and
// the end offset of every number and duration.
func positions(f *lang.File) string {
	var b strings.Builder
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
			if p, ok := v.Interface().(lang.Pos); ok {
				fmt.Fprintf(&b, "%d:%d:%d ", p.Line, p.Col, p.Offset)
				return
			}
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).Name == "End" && v.Field(i).Kind() == reflect.Int32 {
					fmt.Fprintf(&b, "end %d ", v.Field(i).Int())
				} else if v.Type().Field(i).Name != "Src" {
					walk(v.Field(i))
				}
			}
		}
	}
	walk(reflect.ValueOf(f.Policy))
	walk(reflect.ValueOf(f.Decls))
	walk(reflect.ValueOf(f.Comments))
	return b.String()
}

// TestLSPIncrementalParseMatchesLang compares the incremental parse with
// lang.Parse on every example policy, after edits that shift, duplicate
// and break declarations.
func TestLSPIncrementalParseMatchesLang(t *testing.T) {
	files, _ := filepath.Glob("../examples/*/*.risk")
	if len(files) < 4 {
		t.Fatalf("found only %d example policies", len(files))
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		src := string(data)
		t.Run(filepath.Base(name), func(t *testing.T) {
			sameParse(t, "", src)
			sameParse(t, src, "# a new first line\n\n"+src)                          // every declaration shifts
			sameParse(t, src, strings.Replace(src, "\nrule ", "\nrule (\nrule ", 1)) // a broken rule
			sameParse(t, src, src+"\n"+src[strings.Index(src, "\nrule ")+1:])        // duplicated text
			sameParse(t, src, strings.Replace(src, " when ", " when not not ", 3))   // changed rules
			sameParse(t, src+"\nrule x when", src[:len(src)/2])                      // cut in the middle
			sameParse(t, "", strings.ReplaceAll(src, "\n", "\r\n"))                  // CRLF
		})
	}
}
