package server

import (
	"strings"
	"testing"
)

// TestSplitBatch pins how a batch body is cut: a JSON array or JSON Lines,
// exactly max_batch_items accepted and one more refused with 413, and the
// malformed shapes each refused with a message about the body.
func TestSplitBatch(t *testing.T) {
	const ev = `{"event":"pay"}`
	cases := []struct {
		name, body, ctype string
		max, n            int
		status            int // 0: ok
		msg               string
	}{
		{"array", "[" + ev + "," + ev + "]", "application/json", 2, 2, 0, ""},
		{"array over max", "[" + ev + "," + ev + "," + ev + "]", "application/json", 2, 0, 413, "more than 2 events (limits.max_batch_items)"},
		{"array of one", " [" + ev + "] \n", "", 1, 1, 0, ""},
		{"empty array", "[]", "application/json", 2, 0, 400, "the batch is empty"},
		{"lines by body", ev + "\n\n" + ev + "\n", "application/json", 2, 2, 0, ""},
		{"lines by ndjson", ev + "\n" + ev, "application/x-ndjson", 2, 2, 0, ""},
		{"lines by jsonl", ev, "application/jsonl", 1, 1, 0, ""},
		{"lines over max", ev + "\n" + ev + "\n" + ev, "application/x-ndjson", 2, 0, 413, "more than 2 events"},
		{"blank lines skipped", ev + "\n   \n\t\n" + ev, "", 2, 2, 0, ""},
		{"empty line before two more", ev + "\n\n" + ev + "\n" + ev, "", 3, 3, 0, ""},
		{"not an array", `"x"`, "application/json", 2, 0, 400, "a batch is a JSON array of requests, or JSON Lines"},
		{"bad item", "[" + ev + ",{]", "application/json", 2, 0, 400, "event 1: invalid JSON"},
		{"unclosed", "[" + ev, "application/json", 2, 0, 400, "invalid JSON"},
		{"trailing data", "[" + ev + "] []", "application/json", 2, 0, 400, "unexpected data after the JSON array"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			items, herr := splitBatch([]byte(tc.body), tc.ctype, tc.max)
			if tc.status == 0 {
				if herr != nil || len(items) != tc.n {
					t.Fatalf("got %d items, %v; want %d", len(items), herr, tc.n)
				}
				for _, it := range items {
					if string(it) != ev {
						t.Fatalf("item %q, want %q", it, ev)
					}
				}
				return
			}
			if herr == nil || herr.status != tc.status || herr.field != "body" || !strings.Contains(herr.msg, tc.msg) {
				t.Fatalf("got %d items, %+v; want %d %q", len(items), herr, tc.status, tc.msg)
			}
		})
	}
}

// TestValidID pins the request ID rule: 1 to 128 printable ASCII bytes.
func TestValidID(t *testing.T) {
	cases := []struct {
		id string
		ok bool
	}{
		{"a", true},
		{strings.Repeat("x", 128), true},
		{strings.Repeat("x", 129), false},
		{"", false},
		{" ~", true},
		{"a\x1fb", false},
		{"a\x7fb", false},
		{"é", false},
	}
	for _, tc := range cases {
		if got := validID(tc.id); got != tc.ok {
			t.Errorf("validID(%q) = %v, want %v", tc.id, got, tc.ok)
		}
	}
}
