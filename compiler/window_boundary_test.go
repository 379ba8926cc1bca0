package compiler

import "testing"

// TestWindowDeclarations pins what a window accepts: a positive length,
// count_distinct over a string, int or bool, the other aggregates over a
// number, and a required string or int input as the key.
func TestWindowDeclarations(t *testing.T) {
	cases := []struct{ decl, want string }{
		{`count() over 1h by name`, ""},
		{`count() over 1s by count`, ""},
		{`count() over 0s by name`, "window length must be positive"},
		{`count_distinct(name) over 1h by count`, ""},
		{`count_distinct(count) over 1h by name`, ""},
		{`count_distinct(flag) over 1h by name`, ""},
		{`count_distinct(amount) over 1h by name`, "count_distinct needs a string, int or bool value, got float"},
		{`sum(amount) over 1h by name`, ""},
		{`sum(count) over 1h by name`, ""},
		{`sum(name) over 1h by name`, "sum needs a number, got string"},
		{`max(flag) over 1h by name`, "max needs a number, got bool"},
		{`count() over 1h by amount`, `window key "amount" must be a required string or int input`},
		{`count() over 1h by email`, `"email"`}, // optional: refused (today by the exists guard)
		{`count() over 1h by flag`, `window key "flag" must be a required string or int input`},
	}
	for _, tc := range cases {
		t.Run(tc.decl, func(t *testing.T) {
			src := prelude + "window w = " + tc.decl + "\nrule r\n  when w > 1\n  emit review reason \"x\"\n"
			wantCheckErr(t, src, tc.want)
		})
	}
}
