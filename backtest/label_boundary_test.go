package backtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/dataset"
)

// TestDecisionLabels: the decisions file carries a `label` field exactly
// for labelled rows — with its value, 0 included — and none at all when
// the data has no label column.
func TestDecisionLabels(t *testing.T) {
	prog := compile(t, policy)
	const rows = 12
	for _, labelled := range []bool{true, false} {
		opts := dataset.Options{}
		if labelled {
			opts.Label = "bad"
		}
		r, err := dataset.NewReader(strings.NewReader(data(rows)), "b.csv", prog, opts)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if _, _, err := Run(prog, r, Options{Workers: 2, Out: &out}); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(&out)
		n := 0
		for ; sc.Scan(); n++ {
			var d map[string]any
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				t.Fatal(err)
			}
			label, has := d["label"]
			switch {
			case !labelled && has:
				t.Fatalf("row %d: unlabelled data but label %v: %s", n, label, sc.Bytes())
			case labelled && !has:
				t.Fatalf("row %d: labelled data but no label: %s", n, sc.Bytes())
			case labelled && label != float64((n/3)%2):
				t.Fatalf("row %d: label %v, want %d", n, label, (n/3)%2)
			}
			if d["line"] != float64(n+2) {
				t.Fatalf("row %d: line %v, want %d", n, d["line"], n+2)
			}
		}
		if n != rows {
			t.Fatalf("%d decision lines, want %d", n, rows)
		}
	}
}
