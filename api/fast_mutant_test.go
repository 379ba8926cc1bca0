package api

import (
	"fmt"
	"strings"
	"testing"
)

// The fast path's contract has two halves: what it accepts DecodeRequest
// accepts identically (checkSame), and the plain requests riskd receives
// all day take it, since a fast path that gives up falls back silently and
// costs the reflection it exists to avoid. These tests pin the second half
// shape by shape, and that the scanner stops at the end of any body.

// TestFastPathTakesPlainBodies: every JSON number form, every whitespace
// byte and the event rules of policies with and without declared events
// are decoded by the fast path itself, to the same request as
// DecodeRequest.
func TestFastPathTakesPlainBodies(t *testing.T) {
	prog := compileString(t, fastPolicy)
	d := NewDecoder(prog)
	body := func(amount string) string {
		return `{"event":"apply","features":{"user_id":"u1","amount":` + amount + `,"ts":1700000000}}`
	}
	for _, num := range []string{
		"0", "-0", "9", "99", "199", "909.99", "0.5", "-0.5", "12.5", "1e2", "1E2",
		"1e+2", "1E-2", "1.5e+2", "15e-1", "-1e-9", "9.09e1",
	} {
		// As an input (when within its bounds) and as an undeclared
		// feature, which the fast path skips.
		if !strings.HasPrefix(num, "-") && !checkSame(t, prog, d, []byte(body(num))) {
			t.Errorf("amount %s: the fast path refused a plain number", num)
		}
		if b := `{"event":"apply","features":{"x":` + num + `,"user_id":"u1","amount":1,"ts":1}}`; !checkSame(t, prog, d, []byte(b)) {
			t.Errorf("undeclared %s: the fast path refused %s", num, b)
		}
	}
	for _, ws := range []string{" ", "\t", "\n", "\r", " \r\n\t"} {
		b := strings.NewReplacer("{", "{"+ws, ":", ws+":"+ws, ",", ws+","+ws, "}", ws+"}").Replace(body("1"))
		b = ws + b + ws
		if !checkSame(t, prog, d, []byte(b)) {
			t.Errorf("whitespace %q: the fast path refused %q", ws, b)
		}
	}
	// Undeclared features of every scalar kind are skipped, not refused.
	if b := `{"features":{"x":"s","y":true,"z":false,"w":null,"v":-1.5e+3,"user_id":"u","amount":1,"ts":1},"event":"topup","request_id":"r"}`; !checkSame(t, prog, d, []byte(b)) {
		t.Errorf("the fast path refused %s", b)
	}

	// A policy that declares no events takes any event.
	noEvents := compileString(t, `policy ne version "1"
input { amount float }
rule big
  when amount > 500
  emit score 1 reason "big"
`)
	dn := NewDecoder(noEvents)
	for _, ev := range []string{"", "anything"} {
		b := `{"event":"` + ev + `","features":{"amount":1}}`
		if !checkSame(t, noEvents, dn, []byte(b)) {
			t.Errorf("no declared events: the fast path refused %s", b)
		}
	}
	// Events named only in `on` do not restrict requests either; an
	// empty event is decoded by the fast path (an unknown one goes to
	// DecodeRequest, which takes it too).
	onEvents := compileString(t, `policy oe version "1"
input { amount float }
rule big
  on apply
  when amount > 500
  emit score 1 reason "big"
`)
	do := NewDecoder(onEvents)
	if b := `{"event":"","features":{"amount":1}}`; !checkSame(t, onEvents, do, []byte(b)) {
		t.Errorf("events only in on: the fast path refused %s", b)
	}
	for _, ev := range []string{"apply", "other"} {
		req := onEvents.NewRequest()
		if err := do.Decode([]byte(`{"event":"`+ev+`","features":{"amount":1}}`), req); err != nil || req.Event != ev {
			t.Errorf("events only in on: event %q decoded as %q, %v", ev, req.Event, err)
		}
	}
}

// TestFastPathTruncatedBodies: every prefix of a plain body, cut at every
// byte with no spare capacity behind it (a read past the end panics), is
// refused by the fast path and left undecided by Feature's fast path, and
// Decode reports it as an error; only the whole body is accepted.
func TestFastPathTruncatedBodies(t *testing.T) {
	prog := compileString(t, fastPolicy)
	d := NewDecoder(prog)
	for _, full := range []string{
		`{"event":"apply","request_id":"r1","features":{"user_id":"u1","amount":12.5,"count":2,"flag":true,"ts":"2026-01-02T03:04:05Z"}}`,
		`{"event":"topup","features":{"x":-1.5e+3,"y":false,"z":null,"flag":false,"user_id":"ü","amount":1E-2,"ts":1700000000,"w":"v"}}`,
		`{"features":{"note":null,"flag":null,"amount":999,"user_id":"u","ts":17e8,"count":10},"event":"apply"}`,
	} {
		for n := 0; n <= len(full); n++ {
			b := []byte(full)[:n:n]
			accepted := d.fast(b, prog.NewRequest())
			if n < len(full) && accepted {
				t.Errorf("the fast path accepted the truncated body %q", b)
			}
			if n == len(full) && !accepted {
				t.Errorf("the fast path refused %q", b)
			}
			if _, _, sure := featureFast(b, "user_id"); n < len(full) && sure {
				t.Errorf("Feature's fast path judged the truncated body %q", b)
			}
			if err := d.Decode(b, prog.NewRequest()); n < len(full) && err == nil {
				t.Errorf("Decode accepted the truncated body %q", b)
			}
		}
	}
}

// TestFastPathInputLimit: the fast path tracks duplicate inputs in a
// bitmap of fastMaxInputs bits, so a policy with exactly that many inputs
// still takes it (the last input included) and one with more goes to
// DecodeRequest, which decodes it the same.
func TestFastPathInputLimit(t *testing.T) {
	for _, n := range []int{fastMaxInputs, fastMaxInputs + 1} {
		var src, body strings.Builder
		src.WriteString("policy wide version \"1\"\ninput {\n")
		body.WriteString(`{"features":{`)
		for i := range n {
			fmt.Fprintf(&src, "  f%d float\n", i)
			if i > 0 {
				body.WriteString(",")
			}
			// The last input first, so its bit is the one set first.
			fmt.Fprintf(&body, `"f%d":%d`, n-1-i, i)
		}
		src.WriteString("}\nrule r\n  when f0 > 1\n  emit score 1 reason \"r\"\n")
		body.WriteString("}}")
		prog := compileString(t, src.String())
		d := NewDecoder(prog)
		fast := checkSame(t, prog, d, []byte(body.String()))
		if fast != (n <= fastMaxInputs) {
			t.Errorf("%d inputs: fast path taken %v, want %v", n, fast, n <= fastMaxInputs)
		}
		req := prog.NewRequest()
		if err := d.Decode([]byte(body.String()), req); err != nil {
			t.Fatalf("%d inputs: %v", n, err)
		}
		if got := req.Num[prog.Inputs[n-1].Slot]; got != 0 {
			t.Errorf("%d inputs: the last input is %v, want 0", n, got)
		}
	}
}

// TestFeatureFastPathIsSure: Feature reads the rollout key of plain
// bodies itself, whatever keys come before or after "features", and
// leaves only unusual ones to encoding/json.
func TestFeatureFastPathIsSure(t *testing.T) {
	for _, c := range []struct {
		body, want string
		ok, sure   bool
	}{
		{`{"event":"a","request_id":"r","features":{"x":1,"user_id":"u1","y":[1]}}`, ``, false, false}, // an array: encoding/json
		{`{"event":"a","request_id":"r","features":{"x":1,"user_id":"u1"},"z":true}`, `"u1"`, true, true},
		{`{"n":-2.5e+1,"features":{"user_id":12}}`, `12`, true, true},
		{`{"features":{"user_id":null},"event":"a"}`, ``, false, true},
		{`{"event":"a"}`, ``, false, true},
		{`{"features":{}}`, ``, false, true},
		{`{"features":{"user_id":"a"},"features":{"user_id":"b"}}`, ``, false, false}, // duplicate features
		{`{"features":{"user_id":"a","user_id":"b"}}`, ``, false, false},              // duplicate key
	} {
		raw, ok, sure := featureFast([]byte(c.body), "user_id")
		if string(raw) != c.want || ok != c.ok || sure != c.sure {
			t.Errorf("featureFast(%s) = %s, %v, sure %v; want %s, %v, sure %v", c.body, raw, ok, sure, c.want, c.ok, c.sure)
		}
		checkFeature(t, []byte(c.body), "user_id")
	}
}
