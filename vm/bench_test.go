package vm_test

import (
	"math"
	"testing"

	exprvm "github.com/expr-lang/expr/vm"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/vm"
)

// benchSeed fixes the benchmark policy and requests.
const benchSeed = 20261125

// benchPolicyOptions is a 50-rule policy without lower/upper (they
// allocate when they change a string, see TestZeroAllocs).
var benchPolicyOptions = genOptions{Rules: 50, Lets: 2, Depth: 3, NoAlloc: true, Events: true, Decide: true}

// benchRequests returns n requests generated from the benchmark seed.
func benchRequests(n int) []genRequest {
	g := newGenerator(benchSeed+1, genOptions{})
	out := make([]genRequest, n)
	for i := range out {
		out[i] = g.request()
	}
	return out
}

// BenchmarkPolicy evaluates the same generated 50-rule policy on the same
// 1024 requests (cycled) with the Riskforge VM and with expr-lang/expr.
// One op is one request: every rule, then the decision.
//
// expr is used the way an expr user would use it at its fastest: one
// program per rule (and per let), compiled once with a typed env and
// expr.AsBool; per request one env map is built from the request's
// values, the lets are computed into it, and the rule programs run on a
// reused vm.VM; the Go code then checks events and sums the weights.
func BenchmarkPolicy(b *testing.B) {
	gp := generatePolicy(b, benchSeed, benchPolicyOptions)
	reqs := benchRequests(1024)
	b.Run("riskvm", func(b *testing.B) {
		p := gp.Prog
		vreqs := make([]*vm.Request, len(reqs))
		for i, r := range reqs {
			vreqs[i] = p.NewRequest()
			r.fill(b, p, vreqs[i])
		}
		m := p.NewMachine()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := m.Eval(vreqs[i&1023]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("expr", func(b *testing.B) {
		ep := compileExprPolicy(b, gp)
		rules := gp.Policy.Rules
		weights := make([]float64, len(rules))
		for i, r := range rules {
			if !r.Forces {
				weights[i] = r.Weight.Value
			}
		}
		var xm exprvm.VM
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r := &reqs[i&1023]
			env := r.env()
			if err := ep.evalLets(&xm, env); err != nil {
				b.Fatal(err)
			}
			logit, forced := -1.5, -1
			for k, prog := range ep.rules {
				if !ruleListens(ep.on[k], r.event) {
					continue
				}
				v, err := xm.Run(prog, env)
				if err != nil {
					b.Fatal(err)
				}
				if v.(bool) {
					if rules[k].Forces {
						forced = max(forced, int(rules[k].Action))
					}
					logit += weights[k]
				}
			}
			if 1/(1+math.Exp(-logit)) > 2 && forced > 5 {
				b.Fatal("unreachable")
			}
		}
	})
}

// BenchmarkDecodeJSON decodes the benchmark requests from JSON.
func BenchmarkDecodeJSON(b *testing.B) {
	gp := generatePolicy(b, benchSeed, benchPolicyOptions)
	p := gp.Prog
	reqs := benchRequests(256)
	data := make([][]byte, len(reqs))
	size := 0
	for i, r := range reqs {
		data[i] = r.json()
		size += len(data[i])
	}
	req := p.NewRequest()
	b.SetBytes(int64(size / len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := api.DecodeJSON(p, data[i&255], req); err != nil {
			b.Fatal(err)
		}
	}
}
