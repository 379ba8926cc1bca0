package server

import (
	"bytes"
	"testing"
)

// bracketDepthRef is the byte-at-a-time depth check checkBody replaced,
// kept as its oracle: the deepest nesting outside strings, never going
// below zero, and whether it exceeds maxDepth.
func bracketDepthRef(body []byte, maxDepth int) bool {
	depth, inStr, esc := 0, false, false
	for _, c := range body {
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			if depth++; depth > maxDepth {
				return false
			}
		case c == '}' || c == ']':
			if depth > 0 {
				depth--
			}
		}
	}
	return true
}

// checkBodyOK reports whether checkBody accepts body, failing the test on
// an error that is not about the body.
func checkBodyOK(t testing.TB, body []byte, maxDepth int) bool {
	herr := checkBody(body, maxDepth)
	if herr != nil && herr.field != "body" {
		t.Fatalf("checkBody(%q): field %q", body, herr.field)
	}
	return herr == nil
}

// TestCheckBodyStrings: brackets inside strings never count, whatever the
// escapes before their closing quote; brackets after a string do.
func TestCheckBodyStrings(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool // at most depth 2
	}{
		{`{"a":"[[[["}`, true},
		{`{"a":"\"[[["}`, true},
		{`{"a":"\\"}[[[`, false},         // the quote after \\ closes the string
		{`{"a":"\\\"[[[["}`, true},       // \\ then \" : still inside
		{`{"a":"\\\\"}[[[`, false},       // two escaped backslashes, then the close
		{`{"a":"x\"y\"[[["}`, true},      // two escaped quotes
		{`{"a":"\x\"[[["}`, true},        // an escaped letter, then an escaped quote
		{`{"a":"[[[`, true},              // unterminated: the rest is string
		{`{"a":"é[[\"[["}`, true},        // multi-byte characters inside
		{`{"a":"b"},{"c":[[1]]}`, false}, // depth after a closed string
		{`]]]]{"a":[1]}`, true},          // never below zero
		{`"\\"[[[`, false},
		{`{"a":""}[[[`, false},  // an empty string ends where it starts
		{`{"":"\""}[[[`, false}, // an escaped quote right after the opening one
	} {
		if got, want := checkBodyOK(t, []byte(tc.body), 2), bracketDepthRef([]byte(tc.body), 2); got != want || got != tc.ok {
			t.Errorf("checkBody(%q, 2) ok=%v, the byte-at-a-time check %v, want %v", tc.body, got, want, tc.ok)
		}
	}
}

// FuzzCheckBody: checkBody accepts exactly what the byte-at-a-time check
// accepts, at every limit.
func FuzzCheckBody(f *testing.F) {
	f.Add([]byte(`{"a":"\\\"[[[["}`), 2)
	f.Add([]byte(`{"a":"\\"}[[[`), 2)
	f.Add(loanBody(1), 3)
	f.Fuzz(func(t *testing.T, body []byte, maxDepth int) {
		maxDepth = maxDepth%40 + 1
		if maxDepth < 1 {
			maxDepth += 40
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return
		}
		if got, want := checkBodyOK(t, body, maxDepth), bracketDepthRef(body, maxDepth); got != want {
			t.Fatalf("checkBody(%q, %d) ok=%v, the byte-at-a-time check %v", body, maxDepth, got, want)
		}
	})
}

func BenchmarkCheckBody(b *testing.B) {
	body := loanBody(12345)
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		if checkBody(body, 32) != nil {
			b.Fatal("refused")
		}
	}
}
