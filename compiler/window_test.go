package compiler

import (
	"strings"
	"testing"
)

// TestCheckWindows covers window declarations: keys (tuples, did-you-mean,
// optional inputs without a misleading exists() hint), on and where, and
// the missing-ts warning.
func TestCheckWindows(t *testing.T) {
	const head = `policy w version "1"
events pay, login
input {
  card string
  merchant string
  amount float
  email string optional
  ts time
}
`
	cases := []struct{ decl, want string }{
		{`window w1 = count() over 1h by card`, ""},
		{`window w1 = count() over 1h by (card, merchant) on pay where amount > 10`, ""},
		{`window w1 = sum(amount) over 1h by card where exists(email) and email != "x"`, ""},
		{`window w1 = count() over 1h by crad`, `unknown name "crad" (did you mean "card"?)`},
		{`window w1 = count() over 1h by email`, `window key "email" is an optional input; keys must always be present`},
		{`window w1 = count() over 1h by amount`, `window key "amount" must be a string or int input, got float`},
		{`window w1 = count() over 1h by (card, card)`, `window key "card" is listed twice`},
		{`window w1 = count() over 1h by card on pya`, `unknown event "pya"; the policy declares events pay, login (did you mean "pay"?)`},
		{`window w1 = count() over 1h by card where amount`, `where condition of window "w1" must be bool, got float`},
		{`window w1 = count() over 1h by card where email == "x"`, `optional input "email" used without an exists(email) guard`},
	}
	for _, tc := range cases {
		t.Run(tc.decl, func(t *testing.T) {
			src := head + tc.decl + "\nrule r when w1 > 1 emit review reason \"x\"\n"
			_, diags := CheckSource("t.risk", []byte(src), Options{})
			switch {
			case tc.want == "" && diags.HasErrors():
				t.Fatalf("unexpected error: %v", diags)
			case tc.want != "" && !strings.Contains(diags.Error(), tc.want):
				t.Fatalf("got %v\nwant %q", diags, tc.want)
			}
			if strings.Contains(diags.Error(), "exists(") && strings.Contains(tc.want, "optional input; keys") {
				t.Fatalf("window key error suggests exists(): %v", diags)
			}
		})
	}
	noTS := strings.Replace(head, "  ts time\n", "", 1) + "window w1 = count() over 1h by card\nrule r when w1 > 1 emit review reason \"x\"\n"
	_, diags := CheckSource("t.risk", []byte(noTS), Options{})
	if !strings.Contains(diags.Error(), "policy has windows but no required `ts time` input") {
		t.Fatalf("no ts warning: %v", diags)
	}
}
