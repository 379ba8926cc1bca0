package backtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/replay"
	"github.com/riskforge/riskforge/vm"
	"github.com/riskforge/riskforge/windows"
)

const policy = `policy b version "1"
input {
  user   string
  amount float
  n      int
}
rule big
  when amount > 500
  emit score 1.5 reason "big"
rule many
  when n >= 3
  emit score 0.8 reason "many"
rule blocked
  when user in ["u7", "u13"]
  emit reject reason "blocked"
decide {
  bias -1
  reject when score >= 0.8
  review when score >= 0.5
  otherwise approve
}
`

func compile(t *testing.T, src string) *vm.Program {
	t.Helper()
	p, diags := compiler.CheckSource("b.risk", []byte(src), compiler.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	prog, _, err := compiler.Compile(p, compiler.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

func data(rows int) string {
	var b strings.Builder
	b.WriteString("user,amount,n,bad\n")
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "u%d,%d,%d,%d\n", i%20, (i*37)%1000, i%5, (i/3)%2)
	}
	return b.String()
}

func run(t *testing.T, prog *vm.Program, rows, workers int) ([]byte, []byte) {
	t.Helper()
	r, err := dataset.NewReader(strings.NewReader(data(rows)), "b.csv", prog, dataset.Options{Label: "bad"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	bt, stats, err := Run(prog, r, Options{Workers: workers, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Rows != rows {
		t.Fatalf("stats.Rows = %d, want %d", stats.Rows, rows)
	}
	res, _ := json.Marshal(bt.Result())
	return res, out.Bytes()
}

// TestParallelEqualsSequential checks that workers change nothing but speed:
// same figures, same decisions, in input order.
func TestParallelEqualsSequential(t *testing.T) {
	prog := compile(t, policy)
	rows := 5*replay.BatchSize + 17
	res1, out1 := run(t, prog, rows, 1)
	res4, out4 := run(t, prog, rows, 4)
	if !bytes.Equal(res1, res4) {
		t.Errorf("results differ:\n%s\n%s", res1, res4)
	}
	if !bytes.Equal(out1, out4) {
		t.Error("decision files differ between 1 and 4 workers")
	}
	sc := bufio.NewScanner(bytes.NewReader(out4))
	prev := 0
	for sc.Scan() {
		var d struct {
			Line     int    `json:"line"`
			Decision string `json:"decision"`
		}
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		if d.Line != prev+1 && prev != 0 || d.Line <= prev {
			t.Fatalf("line %d after %d: decisions out of order", d.Line, prev)
		}
		prev = d.Line
	}
	if prev != rows+1 {
		t.Errorf("last line %d, want %d", prev, rows+1)
	}
}

// TestWindowsReplayed checks that a policy with windows is evaluated in
// parallel yet decides exactly as one machine fed in file order does: the
// reader feeds the windows in order and workers replay the aggregates.
func TestWindowsReplayed(t *testing.T) {
	src := strings.Replace(policy, "rule big", "window seen = count() over 1h by user\nwindow spent = sum(amount) over 1h by user\nrule repeat\n  when seen > 3 and spent > 900\n  emit review reason \"seen often\"\nrule big", 1)
	prog := compile(t, src)
	rows := 3*replay.BatchSize + 5
	r, err := dataset.NewReader(strings.NewReader(data(rows)), "b.csv", prog, dataset.Options{Label: "bad"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	bt, stats, err := Run(prog, r, Options{Workers: 4, Out: &out})
	if err != nil || !stats.Replayed || stats.Sequential || stats.Workers != 4 {
		t.Fatalf("err %v, stats %+v", err, stats)
	}
	// The reference: one machine, one store, file order.
	r, _ = dataset.NewReader(strings.NewReader(data(rows)), "b.csv", prog, dataset.Options{Label: "bad"})
	reqs, _, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	m := prog.NewMachine()
	m.Windows = windows.NewMemory(prog, 0)
	hits := 0
	sc := bufio.NewScanner(&out)
	for i, req := range reqs {
		d, err := m.Eval(req)
		if err != nil {
			t.Fatal(err)
		}
		if m.FiredRule(0) {
			hits++
		}
		sc.Scan()
		var got struct {
			Decision string  `json:"decision"`
			Score    float64 `json:"score"`
		}
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Decision != d.Action.String() || got.Score != d.Score {
			t.Fatalf("row %d: parallel %s %v, file order %s %v", i, got.Decision, got.Score, d.Action, d.Score)
		}
	}
	if hits == 0 || bt.Result().Rules[0].Hits != hits {
		t.Errorf("repeat fired %d times in parallel, %d in file order", bt.Result().Rules[0].Hits, hits)
	}
}

func TestParamsOverride(t *testing.T) {
	prog := compile(t, policy)
	params := prog.ParamValues()
	params[prog.ParamIndex("big.amount")] = 2000 // nothing is that big
	r, _ := dataset.NewReader(strings.NewReader(data(100)), "b.csv", prog, dataset.Options{Label: "bad"})
	bt, _, err := Run(prog, r, Options{Params: params})
	if err != nil {
		t.Fatal(err)
	}
	if hits := bt.Result().Rules[0].Hits; hits != 0 {
		t.Errorf("big fired %d times with threshold 2000", hits)
	}
}

// badEventSource yields rows from reqs and gives row `bad` an event the
// policy does not declare, which the dataset reader would have refused.
type badEventSource struct {
	prog *vm.Program
	n    int
	bad  int
	i    int
}

func (s *badEventSource) Next(req *vm.Request) (int, error) {
	if s.i == s.n {
		return 0, io.EOF
	}
	s.i++
	req.Reset()
	req.Event = "card_auth"
	if s.i == s.bad {
		req.Event = "nope"
	}
	return 0, s.prog.SetText(req, s.prog.InputIndex("amount"), fmt.Sprint(s.i))
}

func (s *badEventSource) Line() int { return s.i + 1 }

// TestEvalErrorNotDropped checks that a row the VM refuses stops the
// backtest with an error naming its line, instead of being counted as an
// approve with score 0 (as it once was).
func TestEvalErrorNotDropped(t *testing.T) {
	prog := compile(t, "policy e version \"1\"\nevents card_auth\ninput { amount float }\nrule big\n  when amount > 5\n  emit score 1 reason \"big\"\ndecide {\n  reject when score >= 0.9\n  otherwise approve\n}\n")
	for _, workers := range []int{1, 4} {
		src := &badEventSource{prog: prog, n: 3 * replay.BatchSize, bad: replay.BatchSize + 7}
		_, _, err := Run(prog, src, Options{Workers: workers})
		if err == nil || !errors.Is(err, vm.ErrUnknownEvent) || !strings.Contains(err.Error(), fmt.Sprintf("line %d:", replay.BatchSize+8)) {
			t.Errorf("workers %d: err %v, want the unknown event on line %d", workers, err, replay.BatchSize+8)
		}
	}
}
