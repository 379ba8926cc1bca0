package dataset

import (
	"fmt"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/internal/testpolicy"
	"github.com/riskforge/riskforge/vm"
)

const policy = `policy d version "1"
events pay, refund
input {
  user   string
  amount float >= 0
  n      int default 1
  ok     bool default false
  email  string optional
  ts     time
}
rule big
  when amount > 100
  emit review reason "big"
`

func program(t *testing.T) *vm.Program {
	t.Helper()
	return testpolicy.Compile(t, "d.risk", policy)
}

func readAll(t *testing.T, name, data string, opts Options) ([]*vm.Request, []int, error) {
	t.Helper()
	prog := program(t)
	r, err := NewReader(strings.NewReader(data), name, prog, opts)
	if err != nil {
		return nil, nil, err
	}
	return r.ReadAll()
}

func TestCSV(t *testing.T) {
	data := "event,user,amount,n,ok,email,ts,bad,extra\n" +
		"pay,u1,12.5,3,true,a@b.c,2026-01-01T00:00:00Z,1,x\n" +
		"refund,u2,0,,0,,1767225600,0,y\n"
	reqs, labels, err := readAll(t, "d.csv", data, Options{Label: "bad"})
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || labels[0] != 1 || labels[1] != 0 {
		t.Fatalf("got %d rows, labels %v", len(reqs), labels)
	}
	r := reqs[1]
	if r.Event != "refund" || r.Num[1] != 1 /* default n */ || r.Present[4] /* email */ {
		t.Errorf("row 2 = %+v", r)
	}
	if reqs[0].Num[3] != reqs[1].Num[3] { // both times are 2026-01-01
		t.Errorf("times differ: %v vs %v", reqs[0].Num[3], reqs[1].Num[3])
	}
}

func TestJSONL(t *testing.T) {
	data := `{"event":"pay","features":{"user":"u","amount":5,"ts":1},"label":"bad"}` + "\n\n" +
		`{"event":"pay","features":{"user":"u","amount":500,"ts":2,"y":0}}` + "\n"
	_, _, err := readAll(t, "d.jsonl", data, Options{Label: "y"})
	if err == nil || !strings.Contains(err.Error(), `d.jsonl:1: label "y" is missing`) {
		t.Fatalf("err = %v", err)
	}
	_, labels, err := readAll(t, "d.jsonl", data, Options{Label: "label", Positive: "bad"})
	if err == nil || !strings.Contains(err.Error(), "d.jsonl:3:") || labels[0] != 1 {
		t.Fatalf("second row has no label: err = %v, labels %v", err, labels)
	}
}

func TestLabels(t *testing.T) {
	for text, want := range map[string]int{"1": 1, "0": 0, "true": 1, "No": 0, "Bad": 1, "good": 0, "fraud": 1, "legit": 0} {
		data := "event,user,amount,ts,y\npay,u,1,1," + text + "\n"
		_, labels, err := readAll(t, "d.csv", data, Options{Label: "y"})
		if err != nil || labels[0] != want {
			t.Errorf("label %q: got %v, %v; want %d", text, labels, err, want)
		}
	}
	_, labels, err := readAll(t, "d.csv", "event,user,amount,ts,Class\npay,u,1,1,Bad\npay,u,1,1,Good\n", Options{Label: "Class", Positive: "Bad"})
	if err != nil || labels[0] != 1 || labels[1] != 0 {
		t.Errorf("--positive: %v %v", labels, err)
	}
}

// A CSV error names the column (the input's name); a JSON Lines row is a v1
// request, so its error names the field's path in it.
func TestFieldErrorsNameTheColumnOrPath(t *testing.T) {
	_, _, err := readAll(t, "d.csv", "event,user,amount,ts\npay,u,abc,1\n", Options{})
	if err == nil || !strings.Contains(err.Error(), `d.csv:2: amount: must be a number`) {
		t.Errorf("csv: %v", err)
	}
	_, _, err = readAll(t, "d.jsonl", `{"event":"pay","features":{"user":"u","amount":"abc","ts":1}}`+"\n", Options{})
	if err == nil || !strings.Contains(err.Error(), `d.jsonl:1: features.amount: must be float, got a string`) {
		t.Errorf("jsonl: %v", err)
	}
}

func TestErrorsNameThePlace(t *testing.T) {
	cases := []struct{ data, opts, want string }{
		{"event,user,amount,ts\npay,u,abc,1\n", "", `d.csv:2: amount: must be a number, got "abc"`},
		{"event,user,amount,ts\npay,u,-1,1\n", "", `d.csv:2: amount: -1 is below the minimum >= 0`},
		{"event,user,amount\npay,u,1\npay,u,2\n", "", `d.csv:1: the header has no column for the required input(s) ts, so no row can be evaluated; its columns are event, user, amount`},
		{"user,amount,ts\nu,1,1\n", "", `d.csv:1: the header has no event column; give the event of every row with --event NAME (this policy handles pay, refund), or add an event column`},
		{"event,user,amount,ts\nchargeback,u,1,1\n", "", `d.csv:2: event: unknown event "chargeback"`},
		{"event,user,amount,ts,n\npay,u,1,1,1.5\n", "", `d.csv:2: n: must be an integer, got 1.5`},
		{"event,user,amount,ts,ok\npay,u,1,1,maybe\n", "", `d.csv:2: ok: must be a bool, got "maybe"`},
		{"event,user,amount,ts,y\npay,u,1,1,2\n", "y", `d.csv:2: label "2" is not 0/1`},
		{"event,user,amount,ts\npay,u,1,1\n", "nolabel", `d.csv:1: no label column "nolabel" in the header; its columns are event, user, amount, ts`},
		{"event,user,amount,ts,label\npay,u,1,1,0\n", "lable", `d.csv:1: no label column "lable" in the header (did you mean "label"?); its columns are event, user, amount, ts, label`},
	}
	for _, tc := range cases {
		_, _, err := readAll(t, "d.csv", tc.data, Options{Label: tc.opts})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.data, err, tc.want)
		}
	}
}

// TestNA: --na texts leave optional inputs absent; rows missing a
// required input are skipped and counted per input, or refused (Strict)
// at their line; Record maps returned rows back to file records.
func TestNA(t *testing.T) {
	data := "event,user,amount,ts,email,bad\n" +
		"pay,u1,1,1,NA,0\n" + // optional email NA: kept, absent
		"pay,u2,NA,1,a@b,1\n" + // required amount NA: skipped
		"pay,u3,2,,x,0\n" + // required ts empty: skipped
		"pay,NA,?,,x,0\n" + // user, amount and ts missing: skipped
		"pay,u5,3,1,,1\n"
	prog := program(t)
	r, err := NewReader(strings.NewReader(data), "d.csv", prog, Options{Label: "bad", NA: []string{"NA", "?"}})
	if err != nil {
		t.Fatal(err)
	}
	var records []int
	var users []string
	for {
		req := prog.NewRequest()
		if _, err := r.Next(req); err != nil {
			if err.Error() != "EOF" {
				t.Fatal(err)
			}
			break
		}
		records = append(records, r.Record())
		users = append(users, req.Str[prog.Inputs[prog.InputIndex("user")].Slot])
		if e := prog.InputIndex("email"); len(records) == 1 && req.Present[e] {
			t.Error("email NA is present")
		}
	}
	if fmt.Sprint(records) != "[0 4]" || fmt.Sprint(users) != "[u1 u5]" {
		t.Errorf("records %v users %v, want [0 4] [u1 u5]", records, users)
	}
	per, n := r.Skipped()
	if n != 3 || fmt.Sprint(per) != "[{amount 2} {ts 2} {user 1}]" {
		t.Errorf("skipped %d %v", n, per)
	}
	if got := r.SkipSummary(); !strings.Contains(got, "skipped 3 rows missing a required input (amount 2, ts 2, user 1)") {
		t.Errorf("summary %q", got)
	}
	// Without --na, "NA" in a number column is an error at its place.
	if _, _, err := readAll(t, "d.csv", data, Options{Label: "bad"}); err == nil || !strings.Contains(err.Error(), `d.csv:3: amount: must be a number, got "NA"`) {
		t.Errorf("no --na: %v", err)
	}
	// Strict refuses the first incomplete row at its line.
	_, _, err = readAll(t, "d.csv", data, Options{Label: "bad", NA: []string{"NA", "?"}, Strict: true})
	if err == nil || !strings.Contains(err.Error(), "d.csv:3: required input amount is missing") {
		t.Errorf("strict: %v", err)
	}
	// JSON Lines: null is absent; the same skipping applies.
	jl := `{"event":"pay","features":{"user":"a","amount":1,"ts":1}}` + "\n" + `{"event":"pay","features":{"user":null,"amount":1}}` + "\n"
	r, err = NewReader(strings.NewReader(jl), "d.jsonl", prog, Options{})
	if err != nil {
		t.Fatal(err)
	}
	reqs, _, err := r.ReadAll()
	if _, n := r.Skipped(); err != nil || len(reqs) != 1 || n != 1 || !strings.Contains(r.SkipSummary(), "ts 1, user 1") {
		t.Errorf("jsonl: %d rows, %v, %q", len(reqs), err, r.SkipSummary())
	}
}

func TestEventOption(t *testing.T) {
	reqs, _, err := readAll(t, "d.csv", "user,amount,ts\nu,1,1\n", Options{Event: "refund"})
	if err != nil || reqs[0].Event != "refund" {
		t.Fatalf("got %v, %v", reqs, err)
	}
	if _, err := NewReader(strings.NewReader(""), "x.parquet", program(t), Options{Format: "parquet"}); err == nil {
		t.Fatal("unknown format accepted")
	}
}

// FuzzCSV feeds arbitrary CSV text: reading never panics, and every row
// it accepts has its required inputs.
func FuzzCSV(f *testing.F) {
	f.Add("event,user,amount,ts,y\npay,u,1,1,1\n")
	f.Add("event,user,amount,n,ok,email,ts\nrefund,u2,0,,0,,2026-01-01T00:00:00Z\n")
	f.Fuzz(func(t *testing.T, data string) {
		prog := program(t)
		r, err := NewReader(strings.NewReader(data), "f.csv", prog, Options{Event: "pay"})
		if err != nil {
			return
		}
		for i := 0; i < 100; i++ {
			req := prog.NewRequest()
			if _, err := r.Next(req); err != nil {
				return
			}
			for j, in := range prog.Inputs {
				if !in.Optional && !req.Present[j] {
					t.Fatalf("accepted a row without %s", in.Name)
				}
			}
		}
	})
}

// TestLookupColumns: a backtest reads a lookup's fields from columns
// named LOOKUP.FIELD (the values serving saw); an empty cell is absent.
func TestLookupColumns(t *testing.T) {
	src := `policy p version "1"
input {
  user_id string
  amount  float
}
lookup profile = redis "profile:{user_id}" {
  fields  [limit float, segment string]
  ttl     5m
  timeout 5ms
}
rule r when exists(profile.limit) and amount > profile.limit emit score 1 reason "over"
decide { otherwise approve }
`
	prog := testpolicy.Compile(t, "p.risk", src)
	r, err := NewReader(strings.NewReader("user_id,amount,profile.limit,profile.segment\nu1,500,100,gold\nu2,500,,\n"), "d.csv", prog, Options{Event: "x"})
	if err != nil {
		t.Fatal(err)
	}
	reqs, _, err := r.ReadAll()
	if err != nil || len(reqs) != 2 {
		t.Fatalf("%d rows, %v", len(reqs), err)
	}
	m := prog.NewMachine()
	for i, want := range []int{1, 0} {
		d, err := m.Eval(reqs[i])
		if err != nil || len(d.Fired) != want {
			t.Errorf("row %d: %d rules fired (%v), want %d", i, len(d.Fired), err, want)
		}
	}
}

// TestEachStopsAtFirstError checks that Each hands over the rows in file
// order, with the reader pointing at each row's line, and returns the
// first error without reading on.
func TestEachStopsAtFirstError(t *testing.T) {
	data := "event,user,amount,ts\n" +
		"pay,u1,1,1767225600\n" +
		"pay,u2,2,1767225600\n" +
		"pay,u3,oops,1767225600\n" +
		"pay,u4,4,1767225600\n"
	prog := program(t)
	r, err := NewReader(strings.NewReader(data), "e.csv", prog, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	err = r.Each(func(req *vm.Request, label int) {
		if label != Unlabelled {
			t.Errorf("line %d: label %d, want Unlabelled", r.Line(), label)
		}
		lines = append(lines, r.Line())
	})
	if err == nil || !strings.Contains(err.Error(), "oops") {
		t.Fatalf("Each: err = %v, want the error of line 4", err)
	}
	if fmt.Sprint(lines) != "[2 3]" {
		t.Fatalf("rows at lines %v, want [2 3]", lines)
	}
}
