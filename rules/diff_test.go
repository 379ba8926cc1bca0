package rules

import (
	"math"
	"os"
	"testing"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/vm"
	"github.com/riskforge/riskforge/windows"
)

// loadProblem compiles a policy, reads its labelled data and extracts the
// training matrix: the setup of every graph-versus-VM test.
func loadProblem(t testing.TB, policy, data, label, positive string) (*vm.Program, *Problem, []*vm.Request, []float64, *Matrix) {
	t.Helper()
	prog, ir := loadPolicy(t, policy)
	reqs, labels, err := ReadRequests(prog, data, dataset.Options{Label: label, Positive: positive})
	if err != nil {
		t.Fatal(err)
	}
	p, m := extract(t, prog, ir, reqs)
	return prog, p, reqs, labels, m
}

// extract builds the training problem of prog and its matrix over reqs.
func extract(t testing.TB, prog *vm.Program, ir *compiler.IR, reqs []*vm.Request) (*Problem, *Matrix) {
	t.Helper()
	p, err := NewProblem(prog, ir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Extract(reqs, ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p, m
}

func loadPolicy(t testing.TB, path string) (*vm.Program, *compiler.IR) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pol, diags := compiler.CheckSource(path, src, compiler.Options{CheckFiles: true})
	if diags.HasErrors() {
		t.Fatalf("%s: %v", path, diags)
	}
	prog, ir, err := compiler.Compile(pol, compiler.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return prog, ir
}

// vmRun evaluates every request with the serving VM in file order.
func vmRun(t testing.TB, prog *vm.Program, reqs []*vm.Request) (logits []float64, fired [][]bool) {
	m := prog.NewMachine()
	if len(prog.Windows) > 0 {
		m.Windows = windows.NewMemory(prog, 0)
	}
	for _, req := range reqs {
		d, err := m.Eval(req)
		if err != nil {
			t.Fatal(err)
		}
		logits = append(logits, d.Logit)
		f := make([]bool, len(prog.Rules))
		for i := range f {
			f[i] = m.FiredRule(i)
		}
		fired = append(fired, f)
	}
	return logits, fired
}

// TestHardLimitMatchesVM checks the graph at T → 0 against the VM: every
// rule firing and every score, on every row of the example data.
func TestHardLimitMatchesVM(t *testing.T) {
	cases := []struct{ policy, data, label, positive string }{
		{"../examples/loan/loan.risk", "../examples/loan/history.csv", "default", ""},
		{"../examples/credit/credit.risk", "../examples/credit/german_credit.csv", "Class", "Bad"},
	}
	for _, c := range cases {
		t.Run(c.policy, func(t *testing.T) {
			prog, p, reqs, labels, data := loadProblem(t, c.policy, c.data, c.label, c.positive)
			rows := allRows(len(reqs))
			g, err := p.NewGraph(data, rows, GraphConfig{Batch: 1000, Fires: true, L2: 0.01, Range: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			out, err := g.Eval(rows, labels, HardInvT)
			if err != nil {
				t.Fatal(err)
			}
			logits, fired := vmRun(t, prog, reqs)
			bad := 0
			hits := make([]int, len(prog.Rules))
			for r := range reqs {
				for i := range prog.Rules {
					f := out.Fires[i][r]
					if f != 0 && f != 1 || (f == 1) != fired[r][i] {
						if bad++; bad < 10 {
							t.Errorf("row %d rule %s: graph fires %v, VM %v", r+1, prog.Rules[i].Name, f, fired[r][i])
						}
					}
					if fired[r][i] {
						hits[i]++
					}
				}
				if math.Abs(out.Logit[r]-logits[r]) > 1e-9 || math.Abs(Score(out.Logit[r])-Score(logits[r])) > 1e-12 {
					if bad++; bad < 10 {
						t.Errorf("row %d: graph logit %v, VM %v", r+1, out.Logit[r], logits[r])
					}
				}
			}
			t.Logf("%d rows, %d rules, %d params, %d atoms, %d columns; hits %v", len(reqs), len(prog.Rules), len(prog.Params), p.Atoms(), p.Columns(), hits)
			for i, prm := range prog.Params {
				if ok, why := p.Frozen(i); ok {
					t.Logf("frozen %s: %s", prm.Name, why)
				}
				if n := g.ParamNode(i); n == nil {
					t.Errorf("param %s has no node", prm.Name)
				} else if j, ok := g.NodeParam(n); !ok || j != i {
					t.Errorf("param %s: node maps back to %d", prm.Name, j)
				}
				if math.Abs(g.ParamValue(i)-prm.Value) > 1e-9*math.Max(1, math.Abs(prm.Value)) {
					t.Errorf("param %s: graph value %v, VM %v", prm.Name, g.ParamValue(i), prm.Value)
				}
			}
		})
	}
}
