package rules

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/riskforge/riskforge/dataset"
)

// Baseline is the logistic regression a tuned policy is compared with:
// fitted on the fit rows, on every column of the data but the label and
// the event, numeric columns as they are (a missing value is the fit
// rows' mean plus a 0/1 "missing" column) and text columns one-hot
// encoded (one 0/1 column per level seen on the fit rows).
type Baseline struct {
	Columns []string // the design columns, as fitted
	Numeric []string // source columns used as numbers
	Text    []string // source columns one-hot encoded, "name (k levels)"
	Dropped []string // source columns not used, "name: why"
	Fig     Figures
}

// maxLevels caps the levels of a text column: more, or more than half
// the fit rows, make it an identifier, which is dropped.
const maxLevels = 50

// Describe says in one line which columns the baseline used.
func (b *Baseline) Describe() string {
	s := fmt.Sprintf("%d columns: %d numeric", len(b.Columns), len(b.Numeric))
	if len(b.Text) > 0 {
		s += fmt.Sprintf(", %d one-hot from %d text columns (%s)", len(b.Columns)-len(b.Numeric)-b.missingCols(), len(b.Text), strings.Join(b.Text, ", "))
	}
	if m := b.missingCols(); m > 0 {
		s += fmt.Sprintf(", %d missing-value indicators", m)
	}
	if len(b.Dropped) > 0 {
		s += "; not used: " + strings.Join(b.Dropped, ", ")
	}
	return s
}

func (b *Baseline) missingCols() int {
	n := 0
	for _, c := range b.Columns {
		if strings.HasSuffix(c, "=missing") {
			n++
		}
	}
	return n
}

// fitBaseline reads the raw data (and test) files and fits the baseline.
func (r *RunResult) fitBaseline() (*Baseline, error) {
	o := r.opts
	if dataset.IsJSONL(o.Data, o.Read.Format) {
		return nil, errors.New("--baseline reads CSV data only")
	}
	tables := []*dataset.Table{}
	for _, path := range []string{o.Data, o.Test} {
		if path == "" {
			continue
		}
		t, err := dataset.ReadTable(path, o.Read.Format)
		if err != nil {
			return nil, err
		}
		tables = append(tables, t)
	}
	// Row i of the outcome is record Records[i] of the data or test file.
	header := tables[0].Header
	recs := make([][]string, len(r.Records))
	for i, rec := range r.Records {
		t := tables[0]
		if i >= r.TestFile {
			t = tables[1]
		}
		recs[i] = alignRecord(t, header, rec)
	}
	na := map[string]bool{"": true}
	for _, v := range o.Read.NA {
		na[strings.TrimSpace(v)] = true
	}
	skip := map[string]bool{o.Read.Label: true, "event": true}
	return FitBaseline(header, recs, skip, na, r.Labels, r.Train, r.Valid, r.Test)
}

// alignRecord returns record rec of t with its fields in header's order
// (a test file may order its columns differently; a missing column reads
// as empty).
func alignRecord(t *dataset.Table, header []string, rec int) []string {
	out := make([]string, len(header))
	idx := map[string]int{}
	for j, h := range t.Header {
		idx[h] = j
	}
	for k, h := range header {
		if j, ok := idx[h]; ok && j < len(t.Records[rec]) {
			out[k] = t.Records[rec][j]
		}
	}
	return out
}

// encoding is how one source column becomes design columns.
type encoding struct {
	col     int
	numeric bool
	mean    float64
	missing bool     // numeric with missing values: add an indicator
	levels  []string // text: one 0/1 column per level
}

// FitBaseline fits the baseline on the fit rows of recs (text records in
// header's columns), skipping the columns in skip; texts in na are
// missing values. sel and test rows get figures only.
func FitBaseline(header []string, recs [][]string, skip, na map[string]bool, labels []float64, fit, sel, test []int) (*Baseline, error) {
	b, encs := encodeColumns(header, recs, skip, na, fit)
	if len(b.Columns) == 0 {
		return nil, errors.New("no usable column")
	}
	xs := make([][]float64, len(recs))
	for i, rec := range recs {
		xs[i] = designRow(encs, rec, na, len(b.Columns))
	}
	tx, ty := make([][]float64, 0, len(fit)), make([]float64, 0, len(fit))
	for _, r := range fit {
		tx, ty = append(tx, xs[r]), append(ty, labels[r])
	}
	m, err := FitLogReg(tx, ty, 1)
	if err != nil {
		return nil, err
	}
	scores := make([]float64, len(xs))
	for i := range xs {
		scores[i] = m.Predict(xs[i])
	}
	b.Fig = Figures{Train: Summary(scores, labels, fit), Valid: Summary(scores, labels, sel), Test: Summary(scores, labels, test),
		All: Summary(scores, labels, allLabelled(labels))}
	return b, nil
}

// encodeColumns decides, on the fit rows, how each column is used.
func encodeColumns(header []string, recs [][]string, skip, na map[string]bool, fit []int) (*Baseline, []encoding) {
	b := &Baseline{}
	var encs []encoding
	for j, name := range header {
		if skip[name] {
			continue
		}
		e := encoding{col: j, numeric: true}
		sum, n := 0.0, 0
		levels := map[string]bool{}
		for _, r := range fit {
			v := strings.TrimSpace(recs[r][j])
			if na[v] {
				e.missing = true
				continue
			}
			levels[v] = true
			if x, err := strconv.ParseFloat(v, 64); err == nil && !math.IsInf(x, 0) && !math.IsNaN(x) {
				sum, n = sum+x, n+1
			} else {
				e.numeric = false
			}
		}
		switch {
		case len(levels) <= 1:
			b.Dropped = append(b.Dropped, name+": constant")
			continue
		case e.numeric:
			e.mean = sum / float64(n)
			b.Numeric = append(b.Numeric, name)
			b.Columns = append(b.Columns, name)
			if e.missing {
				b.Columns = append(b.Columns, name+"=missing")
			}
		case len(levels) > maxLevels || 2*len(levels) > len(fit):
			b.Dropped = append(b.Dropped, fmt.Sprintf("%s: %d distinct texts (an identifier?)", name, len(levels)))
			continue
		default:
			for l := range levels {
				e.levels = append(e.levels, l)
			}
			sort.Strings(e.levels)
			for _, l := range e.levels {
				b.Columns = append(b.Columns, name+"="+l)
			}
			b.Text = append(b.Text, fmt.Sprintf("%s %d levels", name, len(e.levels)))
		}
		encs = append(encs, e)
	}
	return b, encs
}

// designRow encodes one record: numbers as they are (a missing one is the
// fit mean, with its indicator), texts one-hot (an unseen level is all 0).
func designRow(encs []encoding, rec []string, na map[string]bool, width int) []float64 {
	x := make([]float64, 0, width)
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, e := range encs {
		v := strings.TrimSpace(rec[e.col])
		if e.numeric {
			f, err := strconv.ParseFloat(v, 64)
			miss := na[v] || err != nil
			if miss {
				f = e.mean
			}
			x = append(x, f)
			if e.missing {
				x = append(x, b2f(miss))
			}
			continue
		}
		for _, l := range e.levels {
			x = append(x, b2f(v == l))
		}
	}
	return x
}
