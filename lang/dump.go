package lang

import (
	"fmt"
	"reflect"
	"strings"
)

// Dump renders a node as an indented tree without positions. Two trees
// that differ only in layout dump identically, which is what the printer's
// round-trip tests compare.
func Dump(n any) string {
	var b strings.Builder
	dumpValue(&b, reflect.ValueOf(n), 0)
	return b.String()
}

var posType = reflect.TypeOf(Pos{})

// skipped fields carry layout, not meaning.
var skipped = map[string]bool{"End": true, "Src": true, "Path": true}

func dumpValue(b *strings.Builder, v reflect.Value, depth int) {
	indent := strings.Repeat("  ", depth)
	switch v.Kind() {
	case reflect.Invalid:
		b.WriteString("nil")
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		dumpValue(b, v.Elem(), depth)
	case reflect.Struct:
		b.WriteString(v.Type().Name() + " {\n")
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Type == posType || skipped[f.Name] {
				continue
			}
			b.WriteString(indent + "  " + f.Name + ": ")
			dumpValue(b, v.Field(i), depth+1)
			b.WriteString("\n")
		}
		b.WriteString(indent + "}")
	case reflect.Slice:
		if v.Len() == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteString("[\n")
		for i := 0; i < v.Len(); i++ {
			b.WriteString(indent + "  ")
			dumpValue(b, v.Index(i), depth+1)
			b.WriteString("\n")
		}
		b.WriteString(indent + "]")
	case reflect.String:
		fmt.Fprintf(b, "%q", v.String())
	default:
		fmt.Fprintf(b, "%v", v.Interface())
	}
}
