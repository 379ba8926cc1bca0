package compiler

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadLimitsBoundaries: each of LoadWith's limits accepts a policy
// exactly at the limit and refuses one over it, with an error naming the
// limit (and, for the rule count, the position of the first rule over it).
func TestLoadLimitsBoundaries(t *testing.T) {
	t.Run("max_rules", func(t *testing.T) {
		src := []byte(prelude)
		for i := range 4 {
			src = append(src, []byte("rule r"+string(rune('a'+i))+"\n  when amount > 1\n  emit review reason \"x\"\n")...)
		}
		if _, _, diags, err := LoadWith("p.risk", src, LoadOptions{Limits: Limits{MaxRules: 4}}); err != nil {
			t.Fatalf("4 rules, limit 4: %v %v", diags, err)
		}
		_, _, diags, err := LoadWith("p.risk", src, LoadOptions{Limits: Limits{MaxRules: 3}})
		// The fourth rule starts on line 24 (the prelude is 14 lines, each rule 3).
		if err == nil || !strings.Contains(err.Error(), "p.risk:24:1: error: more than 3 rules: over the limit (max_rules)") || !diags.HasErrors() {
			t.Fatalf("4 rules, limit 3: %v %v", diags, err)
		}
	})
	t.Run("artifact", func(t *testing.T) {
		// A compiled artifact is not counted as source is; the limits
		// apply to the decoded program.
		src := []byte(prelude + "list l = [\"a\", \"b\", \"c\"]\nrule ra\n  when name in l\n  emit review reason \"x\"\nrule rb\n  when amount > 1\n  emit review reason \"x\"\n")
		prog, _, _, err := Load("p.risk", src)
		if err != nil {
			t.Fatal(err)
		}
		art, err := prog.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := LoadWith("p.rbc", art, LoadOptions{Limits: Limits{MaxRules: 2, MaxListEntries: 3}}); err != nil {
			t.Errorf("2 rules and 3 entries at their limits: %v", err)
		}
		if _, _, _, err := LoadWith("p.rbc", art, LoadOptions{Limits: Limits{MaxRules: 1}}); err == nil || err.Error() != "p.rbc: 2 rules: over the limit of 1 (max_rules)" {
			t.Errorf("2 rules, limit 1: %v", err)
		}
		if _, _, _, err := LoadWith("p.rbc", art, LoadOptions{Limits: Limits{MaxListEntries: 2}}); err == nil || err.Error() != "p.rbc: list l has 3 entries: over the limit of 2 (max_list_entries)" {
			t.Errorf("3 entries, limit 2: %v", err)
		}
	})
	t.Run("max_list_entries", func(t *testing.T) {
		for _, list := range []string{`["a", "b", "c"]`, `[1, 2, 3]`} {
			src := []byte(prelude + "list l = " + list + "\nrule r\n  when count > 1\n  emit review reason \"x\"\n")
			if _, _, _, err := LoadWith("p.risk", src, LoadOptions{Limits: Limits{MaxListEntries: 3}}); err != nil {
				t.Errorf("%s, limit 3: %v", list, err)
			}
			_, _, _, err := LoadWith("p.risk", src, LoadOptions{Limits: Limits{MaxListEntries: 2}})
			if err == nil || !strings.Contains(err.Error(), "list l has 3 entries: over the limit of 2 (max_list_entries)") {
				t.Errorf("%s, limit 2: %v", list, err)
			}
		}
	})
	t.Run("max_list_bytes", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "p.risk")
		if err := os.WriteFile(filepath.Join(dir, "l.txt"), []byte("abc\nde\n"), 0o644); err != nil { // 7 bytes
			t.Fatal(err)
		}
		src := []byte(prelude + "list l = file \"l.txt\"\nrule r\n  when name in l\n  emit review reason \"x\"\n")
		for _, limit := range []int64{7, 0} { // 0: no limit
			prog, _, _, err := LoadWith(path, src, LoadOptions{Limits: Limits{MaxListBytes: limit}})
			if err != nil {
				t.Fatalf("7 bytes, limit %d: %v", limit, err)
			}
			if got := strings.Join(prog.Lists[len(prog.Lists)-1].Strings, ","); got != "abc,de" {
				t.Errorf("list read as %q", got)
			}
		}
		_, _, _, err := LoadWith(path, src, LoadOptions{Limits: Limits{MaxListBytes: 6}})
		if err == nil || !strings.Contains(err.Error(), "7 bytes: over the limit of 6 (max_list_bytes)") {
			t.Errorf("7 bytes, limit 6: %v", err)
		}
	})
}

// TestOpString: every operator prints as written in source and is an
// order comparison or a logical operator as its class says; a value past
// the table prints "?" and is neither.
func TestOpString(t *testing.T) {
	var got, order, logic []string
	for o := OpNone; o <= numOps; o++ {
		got = append(got, o.String())
		if o.IsOrder() {
			order = append(order, o.String())
		}
		if o.IsLogic() {
			logic = append(logic, o.String())
		}
	}
	if g, w := strings.Join(got, " "), "? - not + - * / % < <= > >= == != and or in not in ?"; g != w {
		t.Errorf("operators: %s, want %s", g, w)
	}
	if g := strings.Join(order, " "); g != "< <= > >=" {
		t.Errorf("order comparisons: %s", g)
	}
	if g := strings.Join(logic, " "); g != "and or" {
		t.Errorf("logical operators: %s", g)
	}
}

// TestGuardsJoin: the guards proven by both sides of an `and` are joined,
// so each optional input a side proves present may be used after it; an
// `or` proves neither.
func TestGuardsJoin(t *testing.T) {
	head := "policy t version \"1\"\ninput {\n  a string optional\n  b string optional\n  c string optional\n}\n"
	cases := []struct{ when, want string }{
		{`exists(a) and exists(b) and a != b`, ""},
		{`(exists(a) and exists(b)) and (exists(c) and a != c and b != c)`, ""},
		{`if(exists(a) and exists(b), a == b, false)`, ""},
		{`exists(a) and a != "x" and exists(b) and b != a`, ""},
		{`(exists(a) or exists(b)) and a != "x"`, `optional input "a" used without an exists(a) guard`},
		{`exists(a) and exists(b) and c != b`, `optional input "c" used without an exists(c) guard`},
	}
	for _, tc := range cases {
		src := head + "rule r\n  when " + tc.when + "\n  emit review reason \"x\"\n"
		_, diags := CheckSource("t.risk", []byte(src), Options{})
		if tc.want == "" && diags.HasErrors() || tc.want != "" && !strings.Contains(diags.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.when, diags, tc.want)
		}
	}
}

// TestTypeString: every type prints its name in diagnostics; a value past
// the table prints "invalid".
func TestTypeString(t *testing.T) {
	var got []string
	for ty := Invalid; int(ty) <= len(typeNames); ty++ {
		got = append(got, ty.String())
	}
	if g, w := strings.Join(got, ","), "invalid,int,float,bool,string,time,duration,list of string,list of number,invalid"; g != w {
		t.Errorf("types: %s, want %s", g, w)
	}
}
