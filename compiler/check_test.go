package compiler

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/internal/golden"
	"github.com/riskforge/riskforge/lang"
)

// TestDiagnosticsGolden checks the exact diagnostics of each file in
// testdata/diag against the .golden file next to it.
func TestDiagnosticsGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/diag/*.risk")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, diags := CheckSource(path, src, Options{CheckFiles: true})
			got := diags.Error()
			if got != "" {
				got += "\n"
			}
			want := golden.Want(t, strings.TrimSuffix(path, ".risk")+".golden", []byte(got))
			if got != string(want) {
				t.Errorf("diagnostics differ\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}

const prelude = `policy t version "1"
events loan_apply, payment
input {
  amount  float >= 0
  count   int
  name    string
  flag    bool
  ts      time
  opened  time
  email   string optional
  score2  float default 0.5
}
list names = ["a", "b"]
list nums = [1, 2.5]
`

// TestCheckExpressions type-checks one rule condition per case. want is
// "" for a clean check, else a substring of the first error.
func TestCheckExpressions(t *testing.T) {
	cases := []struct{ when, want string }{
		{`amount > 10`, ""},
		{`count >= 2 and amount / count > 1.5`, ""},
		{`count % 2 == 1`, ""},
		{`-amount < -3`, ""},
		{`not flag or name == "x"`, ""},
		{`name in names and count in nums and amount not in nums`, ""},
		{`name in ["x", "y"] and count not in [1, 2]`, ""},
		{`amount between 1 and 10`, ""},
		{`ts - opened > 7d and ts between opened and opened + 30d`, ""},
		{`days(ts - opened) * 2 > 3 and hours(1h) == 1`, ""},
		{`hour(ts) >= 22 or weekday(ts) == 0`, ""},
		{`min(amount, count, 3) > max(1, 2) and abs(-count) == 1`, ""},
		{`round(amount) + floor(amount) + ceil(amount) > 2`, ""},
		{`log(amount) + exp(1) + sqrt(amount) > clamp(amount, 0, 1)`, ""},
		{`lower(name) == upper(name) and len(name) > 3`, ""},
		{`contains(name, "x") and starts_with(name, "a") and ends_with(name, "z")`, ""},
		{`if(flag, 1, 2.5) > 1`, ""},
		{`exists(email) and len(email) > 3`, ""},
		{`not exists(email) or contains(email, "+")`, ""},
		{`if(exists(email), email, "none") == "x"`, ""},
		{`if(not exists(email), "none", email) == "x"`, ""},
		{`coalesce(email, "") != "" and score2 > 0.1`, ""},
		{`(exists(email) and flag) and email == "a"`, ""},
		{`amount > fixed 10 and ts - opened > fixed 1h`, ""},
		{`flag == true`, ""},
		{`ts > ts - 1h + 30m`, ""},

		{`len(email) > 3`, `optional input "email" used without an exists(email) guard`},
		{`exists(email) or len(email) > 3`, `without an exists(email) guard`},
		{`not exists(email) and len(email) > 3`, `without an exists(email) guard`},
		{`exists(name)`, `input "name" is not optional`},
		{`exists(amount + 1)`, `exists takes the name of an optional input`},
		{`coalesce(email, 3) == "x"`, `coalesce fallback must be string`},
		{`name > 3`, `cannot apply > to string and int`},
		{`name < "b"`, `strings support only == and !=`},
		{`name == 3`, `cannot apply == to string and int`},
		{`ts > 3`, `cannot apply > to time and int`},
		{`ts + ts > ts`, `cannot apply + to time and time`},
		{`name + "x" == "y"`, `cannot apply + to string and string`},
		{`amount`, `condition of rule "r" must be bool, got float`},
		{`flag and amount`, `and needs bool operands, got float`},
		{`not amount`, `not needs a bool, got float`},
		{`-name == "x"`, `cannot negate string`},
		{`amount in names`, `element types differ`},
		{`name in amount`, `"amount" is an input`},
		{`name in ["a", 1]`, `list mixes strings and numbers`},
		{`name in [lower(name)]`, `list items must be string or number literals`},
		{`names == "a"`, `list "names" can only appear on the right of in`},
		{`["a"] == "a"`, `a list literal can only appear on the right of in`},
		{`name between 1 and 2`, `between needs three numbers`},
		{`amount > amout`, `unknown name "amout" (did you mean "amount"?)`},
		{`maxx(amount, 1) > 1`, `unknown function "maxx" (did you mean "max"?)`},
		{`abs(1, 2) > 1`, `abs takes 1 argument, got 2`},
		{`min(1) > 1`, `min takes at least 2 arguments, got 1`},
		{`lower(amount) == "x"`, `argument 1 of lower must be a string, got float`},
		{`hour(amount) > 1`, `argument 1 of hour must be a time`},
		{`if(amount, 1, 2) > 1`, `condition of if must be bool`},
		{`if(flag, "a", 2) == 2`, `branches of if must have the same type`},
		{`if(flag, 1) > 1`, `if takes 3 arguments, got 2`},
	}
	for _, tc := range cases {
		t.Run(tc.when, func(t *testing.T) {
			src := prelude + "rule r\n  when " + tc.when + "\n  emit review reason \"x\"\n"
			_, diags := CheckSource("t.risk", []byte(src), Options{})
			switch {
			case tc.want == "" && diags.HasErrors():
				t.Fatalf("unexpected error: %v", diags)
			case tc.want != "" && !strings.Contains(diags.Error(), tc.want):
				t.Fatalf("got %v\nwant %q", diags, tc.want)
			}
		})
	}
}

// TestCheckTypes checks the type recorded for expressions.
func TestCheckTypes(t *testing.T) {
	cases := []struct {
		expr string
		want Type
	}{
		{`count + 1`, Int},
		{`count + 1.5`, Float},
		{`count / 2`, Float},
		{`count % 2`, Int},
		{`amount * count`, Float},
		{`ts - opened`, Duration},
		{`ts + 1h`, Time},
		{`(ts - opened) * 2`, Duration},
		{`(ts - opened) / 1h`, Float},
		{`min(count, 2)`, Int},
		{`max(count, 2.0)`, Float},
		{`round(amount)`, Int},
		{`abs(count)`, Int},
		{`lower(name)`, String},
		{`if(flag, count, 2)`, Int},
		{`coalesce(email, "none")`, String},
		{`amount > 1 and flag`, Bool},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			src := prelude + "let v = " + tc.expr + "\nrule r\n  when v == v\n  emit review reason \"x\"\n"
			p, diags := CheckSource("t.risk", []byte(src), Options{})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			var got Type
			for _, l := range p.Lets {
				if l.Sym.Name == "v" {
					got = l.Sym.Type
				}
			}
			if got != tc.want {
				t.Fatalf("type %s, want %s", got, tc.want)
			}
		})
	}
}

// TestLetOrder checks that lets come out in dependency order.
func TestLetOrder(t *testing.T) {
	src := prelude + "let c = b + 1\nlet b = a * 2\nlet a = amount\nrule r\n  when c > 1\n  emit review reason \"x\"\n"
	p, diags := CheckSource("t.risk", []byte(src), Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var order []string
	for _, l := range p.Lets {
		order = append(order, l.Sym.Name)
	}
	if got := strings.Join(order, ","); got != "a,b,c" {
		t.Fatalf("let order %s, want a,b,c", got)
	}
}

// TestExamplesCheckClean runs the checker over every example policy.
func TestExamplesCheckClean(t *testing.T) {
	files, _ := filepath.Glob("../examples/*/*.risk")
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, diags := CheckSource(path, src, Options{CheckFiles: true})
		if len(diags) > 0 {
			t.Errorf("%s:\n%v", path, diags)
		}
	}
}

// TestReasonNumbers: a reason quoting a number near a threshold that is
// not one (a stale threshold) is a warning; the threshold itself, and
// numbers far from every threshold, are not.
func TestReasonNumbers(t *testing.T) {
	const head = "policy p version \"1\"\ninput { income float\n n int }\n"
	cases := []struct{ rule, want string }{
		{`rule r when income < 180 emit review reason "income under 150"`, `t.risk:4:45: warning: reason of rule "r" quotes 150, but its condition compares with 180`},
		{`rule r when income < 150 emit review reason "income under 150"`, ""},
		{`rule r when n > 3 emit review reason "more than 3 in 24 hours"`, ""},
		{`rule r when n > 3 emit review reason "rule r2d2 fired"`, ""},
		// A quoted number from half to twice a compared one, ends included, looks stale.
		{`rule r when income < 100 emit review reason "income under 50"`, `quotes 50, but its condition compares with 100`},
		{`rule r when income < 100 emit review reason "income under 200"`, `quotes 200, but its condition compares with 100`},
		{`rule r when income < 100 emit review reason "income under 49"`, ""},
		{`rule r when income < 100 emit review reason "income under 201"`, ""},
	}
	for _, tc := range cases {
		_, diags := CheckSource("t.risk", []byte(head+tc.rule+"\n"), Options{})
		got := diags.Error()
		if tc.want == "" && strings.Contains(got, "reason of rule") || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.rule, got, tc.want)
		}
	}
}

// TestQuadraticAndChain: the checker looks at each node of an `and`
// chain a bounded number of times. It used to walk every left subtree
// again, so N terms cost N² (10k terms 2.5s, 100k over two minutes).
func TestQuadraticAndChain(t *testing.T) {
	walks := func(n int) int {
		terms := make([]string, n)
		for i := range terms {
			terms[i] = fmt.Sprintf("(exists(note) or amount > %d)", i)
		}
		src := "policy p version \"1\"\ninput {\n  amount float\n  note string optional\n}\nrule r\n  when " +
			strings.Join(terms, " and ") + "\n  emit score 1 reason \"x\"\ndecide {\n  bias 0\n  otherwise approve\n}\n"
		f, err := lang.Parse("chain.risk", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		c := &checker{p: &Policy{File: f, Types: map[lang.Expr]Type{}, Uses: map[*lang.Ident]*Symbol{}},
			symbols: map[string]*Symbol{}, lets: map[string]*Let{}, state: map[*Let]int{}}
		c.header(f)
		c.declare(f)
		c.checkInputs()
		c.checkRules()
		if c.errs.HasErrors() {
			t.Fatal(c.errs)
		}
		return c.factWalks
	}
	small, large := walks(500), walks(4000)
	if large > 10*small {
		t.Errorf("facts walked %d nodes for 500 terms and %d for 4,000: not linear", small, large)
	}
}

// TestZeroRulesIsAnError: a policy without rules gives every request the
// same action (a file cut before its first rule looks like that), so it
// does not check.
func TestZeroRulesIsAnError(t *testing.T) {
	src := "policy p version \"1\"\ninput {\n  amount float\n}\ndecide {\n  bias 0\n  otherwise approve\n}\n"
	_, diags := CheckSource("empty.risk", []byte(src), Options{})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "empty.risk:1:1: error: policy \"p\" has no rules") {
		t.Fatalf("want a no-rules error at 1:1, got %v", diags)
	}
}
