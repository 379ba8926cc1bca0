package server

import (
	"fmt"
	"strings"
	"testing"
)

// TestCheckBodyDepth pins the nesting guard at exactly max_json_depth:
// that many levels pass, one more is refused; brackets inside strings
// (escaped quotes included) do not count, and closing brackets do.
func TestCheckBodyDepth(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	cases := []struct {
		body string
		max  int
		ok   bool
	}{
		{nest(3), 3, true},
		{nest(4), 3, false},
		{`{"a":` + nest(2) + `}`, 3, true},
		{`{"a":` + nest(3) + `}`, 3, false},
		{`{"a":"[[[[[["}`, 1, true},
		{`{"a":"\"[[[[[["}`, 1, true},
		{`{"a":"\\"}`, 1, true},
		{`{"a":"\\",` + nest(1) + `}`, 1, false},
		{nest(2) + nest(2) + nest(2), 2, true},
		{`{}{}{}`, 1, true},
		// A stray closing bracket does not buy a level.
		{"]" + nest(3), 3, true},
		{"]" + nest(4), 3, false},
		{"  \n", 3, false},
		{"", 3, false},
	}
	for _, tc := range cases {
		herr := checkBody([]byte(tc.body), tc.max)
		if (herr == nil) != tc.ok {
			t.Errorf("checkBody(%q, %d) = %v, want ok=%v", tc.body, tc.max, herr, tc.ok)
		}
		if herr != nil && herr.field != "body" {
			t.Errorf("checkBody(%q): error names field %q, want body", tc.body, herr.field)
		}
	}
}

// TestDepthLimitOverHTTP: a decide request nested exactly
// limits.max_json_depth deep gets past the guard; one level more is a 400
// that names the limit.
func TestDepthLimitOverHTTP(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	s, _ := newTestServer(t, "policies:\n  - path: "+pdir+"\nlimits:\n  max_json_depth: 3\n")
	body := func(extra string) string {
		return `{"event":"pay","request_id":"r1","features":{"user_id":"u","amount":1},"meta":` + extra + `}`
	}
	// object, meta, inner array: 3 levels. The decoder refuses the
	// unknown key, but the depth guard must let it through to be refused.
	code, m := decide(t, s, body(`[[1]]`))
	if strings.Contains(fmt.Sprint(m["error"]), "max_json_depth") {
		t.Fatalf("3 levels refused by the depth guard: %d %v", code, m)
	}
	code, m = decide(t, s, body(`[[[1]]]`))
	if code != 400 || !strings.Contains(fmt.Sprint(m["error"]), "JSON nests deeper than 3 levels (limits.max_json_depth)") {
		t.Fatalf("4 levels: %d %v", code, m)
	}
}

// TestMaxInflightBoundary: with max_inflight N, a request is admitted
// while N-1 are running and refused with 429 while N are; a slot that is
// left is free again.
func TestMaxInflightBoundary(t *testing.T) {
	pdir := t.TempDir()
	writeTestPolicy(t, pdir, "velo.risk", "1", -2)
	s, _ := newTestServer(t, "policies:\n  - path: "+pdir+"\nlimits:\n  max_inflight: 2\n")
	if !s.enter() {
		t.Fatal("first slot refused")
	}
	if code, m := decide(t, s, pay("a", 1)); code != 200 {
		t.Fatalf("1 of 2 slots busy: %d %v", code, m)
	}
	if !s.enter() {
		t.Fatal("second slot refused")
	}
	code, m := decide(t, s, pay("a", 1))
	if code != 429 || !strings.Contains(fmt.Sprint(m["error"]), "limit of 2 concurrent requests") {
		t.Fatalf("2 of 2 slots busy: %d %v", code, m)
	}
	if s.enter() {
		t.Fatal("a third slot was granted")
	}
	s.leave()
	if code, m := decide(t, s, pay("a", 1)); code != 200 {
		t.Fatalf("after one left: %d %v", code, m)
	}
	s.leave()
	if got := s.inflight.Load(); got != 0 {
		t.Fatalf("inflight %d after every request ended, want 0", got)
	}
}
