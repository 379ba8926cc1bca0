package rules

import (
	"strings"
	"testing"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
)

// TestLimitReviewNamesForcedRules: a review limit that forced review
// rules alone exceed is reported with the rules that make it unreachable.
func TestLimitReviewNamesForcedRules(t *testing.T) {
	src := `policy f version "1"
input {
  amount float
  flagged bool
  newbie bool
}
rule big    when amount > 1000 emit score 3.0 reason "big"
rule manual when flagged emit review reason "flagged"
rule newc   when newbie emit at_least review reason "new customer"
decide { bias -2.0  reject when score >= 0.9  review when score >= 0.5  otherwise approve }
`
	prog, _, diags, err := compiler.Load("f.risk", []byte(src))
	if err != nil {
		t.Fatal(err, diags)
	}
	var reqs []*vm.Request
	for i := 0; i < 10; i++ {
		req := prog.NewRequest()
		req.Num[0] = float64(100 * (i + 1)) // rows 9 and 10: score 0.73, review
		req.Num[1] = b2f(i < 3)             // 3 rows flagged
		req.Num[2] = b2f(i >= 3 && i < 5)   // 2 new customers
		req.Present[0], req.Present[1], req.Present[2] = true, true, true
		reqs = append(reqs, req)
	}
	d, err := EvalVM(prog, nil, reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	res := LimitReview(prog, prog.ParamValues(), d, rows, 0.2)
	want := "even the highest review cut-off leaves too many reviews: forced review rules review 50.0% of the rows whatever the cut-off: manual (3 rows), newc (2 rows)"
	if res.Satisfied || res.Note != want {
		t.Errorf("note %q (satisfied %v)\nwant %q", res.Note, res.Satisfied, want)
	}
	if res := LimitReview(prog, prog.ParamValues(), d, rows, 0.5); !res.Satisfied || strings.Contains(res.Note, "forced") {
		t.Errorf("a reachable limit: %+v", res)
	}
}

func b2f(x bool) float64 {
	if x {
		return 1
	}
	return 0
}
