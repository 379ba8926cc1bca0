package replay

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/vm"
	"github.com/riskforge/riskforge/windows"
)

const policy = `policy r version "1"
events pay
input {
  user   string
  amount float
  ts     time
}
window seen = count() over 1h by user
window spent = sum(amount) over 1h by user
rule repeat
  when seen > 3 and spent > 900
  emit score 1 reason "seen often"
rule big
  when amount > 500
  emit score 1.5 reason "big"
decide {
  bias -1
  reject when score >= 0.8
  review when score >= 0.5
  otherwise approve
}
`

func compile(t *testing.T, src string) *vm.Program {
	t.Helper()
	p, diags := compiler.CheckSource("r.risk", []byte(src), compiler.Options{})
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
	b.WriteString("event,user,amount,ts\n")
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&b, "pay,u%d,%d,%d\n", i%13, (i*37)%1000, 1700000000+60*i)
	}
	return b.String()
}

func requests(t *testing.T, prog *vm.Program, rows int) []*vm.Request {
	t.Helper()
	r, err := dataset.NewReader(strings.NewReader(data(rows)), "r.csv", prog, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reqs, _, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

// reference evaluates reqs on one machine with one store, in order.
func reference(t *testing.T, prog *vm.Program, reqs []*vm.Request) []float64 {
	t.Helper()
	m := prog.NewMachine()
	m.Windows = windows.NewMemory(prog, 0)
	scores := make([]float64, len(reqs))
	for i, req := range reqs {
		d, err := m.Eval(req)
		if err != nil {
			t.Fatal(err)
		}
		scores[i] = d.Score
	}
	return scores
}

// TestRowsFeedsWindowsInOrder checks that parallel workers with the window
// feed decide every row exactly as one machine fed in order does.
func TestRowsFeedsWindowsInOrder(t *testing.T) {
	prog := compile(t, policy)
	reqs := requests(t, prog, 4*BatchSize+3)
	want := reference(t, prog, reqs)
	got := make([]float64, len(reqs))
	var doneRows atomic.Int64
	next := 0
	stats, err := Rows(prog, reqs, Options{Workers: 4}, Handler[struct{}]{
		Row: func(b *Batch[struct{}], i int, m *vm.Machine, d *vm.Decision) error {
			got[b.Start+i] = d.Score
			return nil
		},
		Done: func(b *Batch[struct{}]) error {
			if b.Start != next {
				return fmt.Errorf("batch at %d, want %d: out of order", b.Start, next)
			}
			next += len(b.Reqs)
			doneRows.Add(int64(len(b.Reqs)))
			return nil
		},
	})
	if err != nil || !stats.Replayed || stats.Sequential || stats.Workers != 4 || stats.Rows != len(reqs) {
		t.Fatalf("err %v, stats %+v", err, stats)
	}
	fired := 0
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d: score %v, in order %v", i, got[i], want[i])
		}
		if want[i] > 0.5 {
			fired++
		}
	}
	if fired == 0 || int(doneRows.Load()) != len(reqs) {
		t.Errorf("fired %d, done rows %d", fired, doneRows.Load())
	}
}

// TestRunRecyclesRequests checks that Run from a Source, whose batches
// reuse their requests, gives the same decisions as Rows over requests
// read beforehand.
func TestRunRecyclesRequests(t *testing.T) {
	prog := compile(t, policy)
	rows := 7*BatchSize + 1
	want := reference(t, prog, requests(t, prog, rows))
	r, err := dataset.NewReader(strings.NewReader(data(rows)), "r.csv", prog, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []float64
	_, err = Run(prog, r, Options{Workers: 3}, Handler[[]float64]{
		Row: func(b *Batch[[]float64], i int, _ *vm.Machine, d *vm.Decision) error {
			if b.Lines[i] != b.Start+i+2 {
				return fmt.Errorf("row %d on line %d", b.Start+i, b.Lines[i])
			}
			b.Res = append(b.Res, d.Score)
			return nil
		},
		Done: func(b *Batch[[]float64]) error {
			got = append(got, b.Res...)
			b.Res = b.Res[:0]
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d: score %v, in order %v", i, got[i], want[i])
		}
	}
}

// TestErrorsStopTheReplay checks that no error is dropped: an evaluation
// error (named by its row, also when the window feed meets it first), a
// failed prefetch, and errors of Row and Done.
func TestErrorsStopTheReplay(t *testing.T) {
	prog := compile(t, policy)
	noWin := compile(t, strings.NewReplacer("window seen = count() over 1h by user\n", "", "window spent = sum(amount) over 1h by user\n", "", "seen > 3 and spent > 900", "amount > 900").Replace(policy))
	boom := errors.New("boom")
	row := func(*Batch[struct{}], int, *vm.Machine, *vm.Decision) error { return nil }
	for _, p := range []struct {
		name string
		prog *vm.Program
	}{{"windows", prog}, {"no windows", noWin}} {
		reqs := requests(t, p.prog, 3*BatchSize)
		reqs[BatchSize+4].Event = "refund"
		_, err := Rows(p.prog, reqs, Options{Workers: 2}, Handler[struct{}]{Row: row})
		if !errors.Is(err, vm.ErrUnknownEvent) || !strings.HasPrefix(err.Error(), fmt.Sprintf("row %d: ", BatchSize+5)) {
			t.Errorf("%s: unknown event: %v", p.name, err)
		}
		reqs[BatchSize+4].Event = "pay"
		_, err = Rows(p.prog, reqs, Options{Workers: 2, Prefetch: func([]*vm.Request) (vm.ModelRunner, error) { return nil, boom }}, Handler[struct{}]{Row: row})
		if !errors.Is(err, boom) {
			t.Errorf("%s: prefetch: %v", p.name, err)
		}
		_, err = Rows(p.prog, reqs, Options{Workers: 2}, Handler[struct{}]{Row: func(b *Batch[struct{}], i int, _ *vm.Machine, _ *vm.Decision) error {
			if b.Start+i == 2*BatchSize {
				return boom
			}
			return nil
		}})
		if !errors.Is(err, boom) {
			t.Errorf("%s: row: %v", p.name, err)
		}
		calls := 0
		_, err = Rows(p.prog, reqs, Options{Workers: 2}, Handler[struct{}]{Row: row, Done: func(*Batch[struct{}]) error { calls++; return boom }})
		if !errors.Is(err, boom) || calls != 1 {
			t.Errorf("%s: done: %v after %d calls", p.name, err, calls)
		}
	}
}

// TestTraceOnlyTheChosenLine checks that Options.Trace turns the step
// trace on for the rows it names and no others.
func TestTraceOnlyTheChosenLine(t *testing.T) {
	prog := compile(t, policy)
	r, err := dataset.NewReader(strings.NewReader(data(2*BatchSize)), "r.csv", prog, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var traced []int
	_, err = Run(prog, r, Options{Workers: 1, Trace: func(line int) bool { return line == 600 }}, Handler[struct{}]{
		Row: func(b *Batch[struct{}], i int, _ *vm.Machine, d *vm.Decision) error {
			if len(d.Trace) > 0 {
				traced = append(traced, b.Lines[i])
			}
			return nil
		},
	})
	if err != nil || len(traced) != 1 || traced[0] != 600 {
		t.Errorf("err %v, traced lines %v, want [600]", err, traced)
	}
}
