package compiler

import (
	"strings"
	"testing"

	"github.com/riskforge/riskforge/vm"
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
		{`window w1 = count() over 1h by amount`, `window key "amount" must be a required string or int input, got float`},
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

// countStore counts added events per window and key: enough to see which
// events a compiled window adds.
type countStore map[[2]any]float64

func (c countStore) Observe(obs []vm.WindowObs, out []float64) error {
	for w, o := range obs {
		k := [2]any{w, o.Key}
		if o.Add {
			c[k]++
		}
		out[w] = c[k]
	}
	return nil
}

// TestWindowOnAndWhereCompiled: a compiled window adds exactly the events
// its on list names and its where condition accepts (the second declared
// event once counted as the first: the event table was built after the
// window table), and a tuple key separates its parts.
func TestWindowOnAndWhereCompiled(t *testing.T) {
	src := `policy w version "1"
events pay, refund
input {
  card string
  merchant string
  amount float
  ts time
}
window refunds = count() over 1h by card on refund
window big = count() over 1h by card where amount > 100
window pair = count() over 1h by (card, merchant)
rule r when refunds + big + pair > 100 emit review reason "x"
`
	pol, diags := CheckSource("w.risk", []byte(src), Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	prog, _, err := Compile(pol, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := prog.NewMachine()
	m.Windows = countStore{}
	events := []struct {
		event, merchant string
		amount          float64
		want            [3]float64 // refunds, big, pair
	}{
		{"pay", "m1", 50, [3]float64{0, 0, 1}},
		{"refund", "m1", 500, [3]float64{1, 1, 2}},
		{"pay", "m2", 200, [3]float64{1, 2, 1}},
		{"refund", "m2", 10, [3]float64{2, 2, 2}},
	}
	for i, e := range events {
		req := prog.NewRequest()
		req.Event = e.event
		for j, in := range prog.Inputs {
			req.Present[j] = true
			switch in.Name {
			case "card":
				req.Str[in.Slot] = "c1"
			case "merchant":
				req.Str[in.Slot] = e.merchant
			case "amount":
				req.Num[in.Slot] = e.amount
			case "ts":
				req.Num[in.Slot] = 1.7e9 + float64(i)
			}
		}
		if _, err := m.Eval(req); err != nil {
			t.Fatal(err)
		}
		for w := range prog.Windows {
			if got := m.NumSlot(prog.Windows[w].Slot); got != e.want[w] {
				t.Errorf("event %d (%s): window %s = %v, want %v", i, e.event, prog.Windows[w].Name, got, e.want[w])
			}
		}
	}
}
