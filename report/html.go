package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Page is a report page for [WriteHTML]: a title, a row of summary cards,
// charts and tables, in that order. Every field is optional.
type Page struct {
	// Title heads the page and names the browser tab.
	Title string
	// Subtitle is a line of context under the title.
	Subtitle string
	// Summary holds the headline figures, each shown as a card.
	Summary []KV
	// Curves are line charts, drawn before the histograms.
	Curves []Chart
	// Histograms are distribution charts.
	Histograms []Histogram
	// Tables are drawn after the charts.
	Tables []Table
}

// KV is a labelled figure shown as a summary card.
type KV struct {
	// Label names the figure, e.g. "AUC".
	Label string
	// Value is the figure, already formatted, e.g. "0.873".
	Value string
	// Note is optional small print under the value, e.g. a share.
	Note string
}

// Chart is a line chart of one or more series. The axes span [0, 1] when
// every point lies in it, as for ROC curves, and otherwise a rounded range
// covering the data.
type Chart struct {
	// Title heads the chart.
	Title string
	// XLabel names the x axis.
	XLabel string
	// YLabel names the y axis.
	YLabel string
	// Series are the lines, each in its own colour and named in the legend.
	Series []Series
	// Diagonal adds the dashed y = x line of a random score, as on ROC
	// charts.
	Diagonal bool
}

// Series is one line of a [Chart]: points joined in order, each point's FPR
// read as x and TPR as y. A point with a NaN or infinite coordinate breaks
// the line.
type Series struct {
	// Name labels the line in the legend.
	Name string
	// Points are the line's vertices.
	Points []Point
}

// Histogram compares the distributions of one or more groups of values, for
// example the scores of good and bad rows. Each group's bars show the share
// of that group falling in each bin, so groups of very different sizes stay
// comparable; bars of different groups stand side by side within a bin.
type Histogram struct {
	// Title heads the chart.
	Title string
	// XLabel optionally names the x axis.
	XLabel string
	// Groups are the distributions compared, each in its own colour.
	Groups []HistGroup
	// Bins is the number of equal-width bins; 0 or less means 20, and more
	// than 200 means 200.
	Bins int
	// Min and Max bound the binned range; values outside it are counted in
	// the first or last bin and NaN values are skipped. When Max <= Min the
	// range is [0, 1] if every value lies in it, and otherwise the range of
	// the values.
	Min, Max float64
}

// HistGroup is one distribution of a [Histogram].
type HistGroup struct {
	// Name labels the group in the legend.
	Name string
	// Values are the observations binned.
	Values []float64
}

// Table is a table of preformatted cells. Columns whose cells all look
// numeric (digits, separators, %, ×, or — for "none") are right-aligned.
type Table struct {
	// Title heads the table.
	Title string
	// Columns are the header cells.
	Columns []string
	// Rows are the body rows; short rows are padded with empty cells.
	Rows [][]string
}

// WriteHTML writes page to w as a single self-contained HTML document:
// styles are inline, charts are inline SVG drawn here, and nothing is
// fetched from the network — no scripts, fonts or images. All text is
// escaped with html/template. The output is a deterministic function of
// page.
func WriteHTML(w io.Writer, page Page) error {
	v := pageView{Title: page.Title, Subtitle: page.Subtitle, Summary: page.Summary}
	for _, c := range page.Curves {
		v.Figures = append(v.Figures, chartView(c))
	}
	for _, h := range page.Histograms {
		v.Figures = append(v.Figures, histView(h))
	}
	for _, t := range page.Tables {
		v.Tables = append(v.Tables, tableView(t))
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, v); err != nil {
		return fmt.Errorf("report: rendering HTML: %w", err)
	}
	_, err := buf.WriteTo(w)
	return err
}

//go:embed page.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("page").Parse(pageSource))

// The view types below hold everything the template draws, with SVG
// coordinates already formatted.

type pageView struct {
	Title, Subtitle string
	Summary         []KV
	Figures         []figure
	Tables          []tableData
}

type figure struct {
	Title  string
	Legend []legendItem
	SVG    svgData
}

type legendItem struct {
	Name, Color  string
	Line, Dashed bool // swatch: a line, a dashed line, or else a bar
}

type svgData struct {
	W, H       int
	Grid, Axes []svgLine
	Texts      []svgText
	Diagonal   *svgLine
	Paths      []svgPath
	Bars       []svgBar
}

type svgLine struct{ X1, Y1, X2, Y2 string }

type svgText struct {
	X, Y, Text, Class string
	Anchor            string // start, middle or end
	Rotate            string // a transform, or empty
}

type svgPath struct{ D, Color, Name string }

type svgBar struct{ X, Y, W, H, Color, Tip string }

type tableData struct {
	Title   string
	Columns []cell
	Rows    [][]cell
	Span    int // colspan of the "no rows" cell
}

type cell struct {
	Text string
	Num  bool
}

// Canvas geometry of every chart, in SVG user units.
const (
	svgW, svgH = 560, 380
	padL, padR = 64, 18
	padT, padB = 14, 58
	plotL      = padL
	plotR      = svgW - padR
	plotT      = padT
	plotB      = svgH - padB
)

// palette holds distinct, colour-blind-friendlier hues; blue and red come
// first so that "good" and "bad" read naturally.
var palette = []string{"#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#475569"}

func color(i int) string { return palette[i%len(palette)] }

func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// axis maps a data range onto a pixel range and knows its ticks.
type axis struct {
	lo, hi  float64 // data range
	p0, p1  float64 // pixel positions of lo and hi
	ticks   []float64
	step    float64
	percent bool
}

func (a axis) px(v float64) float64 { return a.p0 + (v-a.lo)/(a.hi-a.lo)*(a.p1-a.p0) }

func (a axis) label(v float64) string {
	if a.percent {
		return formatTick(v*100, a.step*100) + "%"
	}
	return formatTick(v, a.step)
}

// formatTick prints v with as many decimals as the tick step needs.
func formatTick(v, step float64) string {
	d := 0
	for s := step; d < 6 && math.Abs(s-math.Round(s)) > 1e-9*math.Max(1, math.Abs(s)); s *= 10 {
		d++
	}
	if math.Abs(v) < step*1e-9 {
		v = 0 // avoid "-0.0"
	}
	return strconv.FormatFloat(v, 'f', d, 64)
}

// niceStep returns a round step (1, 2, 2.5 or 5 times a power of ten)
// dividing span into about n intervals.
func niceStep(span float64, n int) float64 {
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5} {
		if raw <= m*mag*(1+1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// newAxis returns an axis over [lo, hi]. When expand is set the range grows
// to the surrounding ticks; otherwise ticks are those inside the range.
func newAxis(lo, hi, p0, p1 float64, expand bool) axis {
	if !(hi > lo) {
		if lo == 0 {
			lo, hi = 0, 1
		} else {
			d := math.Abs(lo) / 2
			lo, hi = lo-d, hi+d
		}
	}
	step := niceStep(hi-lo, 5)
	if expand {
		lo = math.Floor(lo/step+1e-9) * step
		hi = math.Ceil(hi/step-1e-9) * step
	}
	a := axis{lo: lo, hi: hi, p0: p0, p1: p1, step: step}
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+step*1e-9; k++ {
		a.ticks = append(a.ticks, k*step)
	}
	return a
}

// frame draws grid lines, axes, tick labels and axis titles.
func frame(s *svgData, x, y axis, xlabel, ylabel string) {
	for _, t := range x.ticks {
		px := num(x.px(t))
		s.Grid = append(s.Grid, svgLine{px, num(plotT), px, num(plotB)})
		s.Texts = append(s.Texts, svgText{X: px, Y: num(plotB + 18), Text: x.label(t), Class: "tick", Anchor: "middle"})
	}
	for _, t := range y.ticks {
		py := num(y.px(t))
		s.Grid = append(s.Grid, svgLine{num(plotL), py, num(plotR), py})
		s.Texts = append(s.Texts, svgText{X: num(plotL - 8), Y: num(y.px(t) + 4), Text: y.label(t), Class: "tick", Anchor: "end"})
	}
	s.Axes = []svgLine{
		{num(plotL), num(plotB), num(plotR), num(plotB)},
		{num(plotL), num(plotT), num(plotL), num(plotB)},
	}
	if xlabel != "" {
		s.Texts = append(s.Texts, svgText{X: num((plotL + plotR) / 2), Y: num(svgH - 12), Text: xlabel, Class: "axis-label", Anchor: "middle"})
	}
	if ylabel != "" {
		cx, cy := 16.0, float64(plotT+plotB)/2
		s.Texts = append(s.Texts, svgText{X: num(cx), Y: num(cy), Text: ylabel, Class: "axis-label", Anchor: "middle",
			Rotate: fmt.Sprintf("rotate(-90 %s %s)", num(cx), num(cy))})
	}
}

func noData(s *svgData) {
	s.Texts = append(s.Texts, svgText{X: num((plotL + plotR) / 2), Y: num((plotT + plotB) / 2), Text: "no data", Class: "empty", Anchor: "middle"})
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func chartView(c Chart) figure {
	f := figure{Title: c.Title, SVG: svgData{W: svgW, H: svgH}}
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	if c.Diagonal {
		xlo, xhi, ylo, yhi = 0, 1, 0, 1
	}
	points := 0
	for _, s := range c.Series {
		for _, p := range s.Points {
			if finite(p.FPR) && finite(p.TPR) {
				xlo, xhi = min(xlo, p.FPR), max(xhi, p.FPR)
				ylo, yhi = min(ylo, p.TPR), max(yhi, p.TPR)
				points++
			}
		}
	}
	if math.IsInf(xlo, 1) { // nothing to draw
		xlo, xhi, ylo, yhi = 0, 1, 0, 1
	}
	unit := func(lo, hi float64) (float64, float64) {
		if lo >= 0 && hi <= 1 {
			return 0, 1
		}
		return lo, hi
	}
	xlo, xhi = unit(xlo, xhi)
	ylo, yhi = unit(ylo, yhi)
	x := newAxis(xlo, xhi, plotL, plotR, true)
	y := newAxis(ylo, yhi, plotB, plotT, true)
	frame(&f.SVG, x, y, c.XLabel, c.YLabel)
	if c.Diagonal {
		lo, hi := max(x.lo, y.lo), min(x.hi, y.hi)
		if hi > lo {
			f.SVG.Diagonal = &svgLine{num(x.px(lo)), num(y.px(lo)), num(x.px(hi)), num(y.px(hi))}
		}
	}
	for i, s := range c.Series {
		var d strings.Builder
		pen := false
		for _, p := range s.Points {
			if !finite(p.FPR) || !finite(p.TPR) {
				pen = false
				continue
			}
			if pen {
				d.WriteByte('L')
			} else {
				d.WriteByte('M')
			}
			d.WriteString(num(x.px(p.FPR)))
			d.WriteByte(',')
			d.WriteString(num(y.px(p.TPR)))
			pen = true
		}
		f.SVG.Paths = append(f.SVG.Paths, svgPath{D: d.String(), Color: color(i), Name: s.Name})
		f.Legend = append(f.Legend, legendItem{Name: s.Name, Color: color(i), Line: true})
	}
	if c.Diagonal {
		f.Legend = append(f.Legend, legendItem{Name: "random", Color: "#9ca3af", Dashed: true})
	}
	if points == 0 {
		noData(&f.SVG)
	}
	return f
}

func histView(h Histogram) figure {
	f := figure{Title: h.Title, SVG: svgData{W: svgW, H: svgH}}
	bins := h.Bins
	switch {
	case bins <= 0:
		bins = 20
	case bins > 200:
		bins = 200
	}
	lo, hi := h.Min, h.Max
	if !(hi > lo) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, g := range h.Groups {
			for _, v := range g.Values {
				if finite(v) {
					lo, hi = min(lo, v), max(hi, v)
				}
			}
		}
		switch {
		case math.IsInf(lo, 1) || lo >= 0 && hi <= 1:
			lo, hi = 0, 1
		case hi == lo:
			lo, hi = lo-0.5, hi+0.5
		}
	}
	width := (hi - lo) / float64(bins)

	counts := make([][]int, len(h.Groups))
	totals := make([]int, len(h.Groups))
	maxShare := 0.0
	for gi, g := range h.Groups {
		counts[gi] = make([]int, bins)
		for _, v := range g.Values {
			if math.IsNaN(v) {
				continue
			}
			b := int(math.Floor((v - lo) / width))
			b = min(max(b, 0), bins-1) // clamp outliers and v == hi
			counts[gi][b]++
			totals[gi]++
		}
		for _, c := range counts[gi] {
			if totals[gi] > 0 {
				maxShare = max(maxShare, float64(c)/float64(totals[gi]))
			}
		}
	}

	x := newAxis(lo, hi, plotL, plotR, false)
	y := newAxis(0, maxShare, plotB, plotT, true)
	y.percent = true
	ylabel := "share of rows"
	if len(h.Groups) > 1 {
		ylabel = "share of group"
	}
	frame(&f.SVG, x, y, h.XLabel, ylabel)

	binPx := (plotR - plotL) / float64(bins)
	gap := binPx * 0.12
	barPx := (binPx - gap) / float64(max(len(h.Groups), 1))
	for gi, g := range h.Groups {
		f.Legend = append(f.Legend, legendItem{Name: g.Name, Color: color(gi)})
		if totals[gi] == 0 {
			continue
		}
		for b, c := range counts[gi] {
			if c == 0 {
				continue
			}
			share := float64(c) / float64(totals[gi])
			top := y.px(share)
			from, to := lo+float64(b)*width, lo+float64(b+1)*width
			f.SVG.Bars = append(f.SVG.Bars, svgBar{
				X:     num(plotL + float64(b)*binPx + gap/2 + float64(gi)*barPx),
				Y:     num(top),
				W:     num(barPx),
				H:     num(plotB - top),
				Color: color(gi),
				Tip: fmt.Sprintf("%s, %s–%s: %s rows (%s)", g.Name, formatTick(from, width), formatTick(to, width),
					fmtCount(c), fmtPct(share)),
			})
		}
	}
	if len(f.SVG.Bars) == 0 {
		noData(&f.SVG)
	}
	return f
}

func tableView(t Table) tableData {
	n := len(t.Columns)
	for _, r := range t.Rows {
		n = max(n, len(r))
	}
	numeric := make([]bool, n)
	for c := range numeric {
		seen := false
		numeric[c] = true
		for _, r := range t.Rows {
			if c < len(r) && r[c] != "" {
				seen = true
				if !isNumeric(r[c]) {
					numeric[c] = false
					break
				}
			}
		}
		numeric[c] = numeric[c] && seen
	}
	td := tableData{Title: t.Title, Span: max(n, 1)}
	for c := range n {
		text := ""
		if c < len(t.Columns) {
			text = t.Columns[c]
		}
		td.Columns = append(td.Columns, cell{text, numeric[c]})
	}
	for _, r := range t.Rows {
		row := make([]cell, n)
		for c := range row {
			if c < len(r) {
				row[c].Text = r[c]
			}
			row[c].Num = numeric[c]
		}
		td.Rows = append(td.Rows, row)
	}
	return td
}

// isNumeric reports whether s reads as a formatted number: digits with
// optional sign, separators and a unit suffix, or Undefined.
func isNumeric(s string) bool {
	s = strings.TrimSpace(s)
	if s == Undefined {
		return true
	}
	digits := false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits = true
		case strings.ContainsRune("+-−.,% ×x∞eE", r):
		default:
			return false
		}
	}
	return digits || strings.Contains(s, "∞")
}

// BacktestPage lays out the standard backtest report of r: summary cards
// (rows, AUC, KS, log loss, recall at 1% and 5% FPR, and the count of each
// decision), the ROC curve, the score distribution of goods against bads, and
// tables of per-action and per-rule figures.
//
// scores and labels are the score distribution to plot, as returned by
// [Backtest.Scores]: labels[i] reports whether row i was bad. With nil labels
// the page shows the distribution of all scores and leaves out every
// label-dependent figure; otherwise labels must be as long as scores. r may
// be nil, leaving out the figures that come from it.
func BacktestPage(title string, r *BacktestResult, scores []float64, labels []bool) Page {
	p := Page{Title: title}
	labelled := labels != nil
	if labelled {
		checkLen(len(scores), len(labels))
	}
	bads := 0
	for _, l := range labels {
		if l {
			bads++
		}
	}
	rows := len(scores)
	if r != nil {
		rows = r.Rows
		labelled = labelled && r.Labelled
	}

	// Subtitle and cards.
	if labelled {
		p.Subtitle = fmt.Sprintf("%s rows · %s labelled · %s bad (%s)",
			fmtCount(rows), fmtCount(len(labels)), fmtCount(bads), fmtPct(ratio(bads, len(labels))))
	} else {
		p.Subtitle = fmt.Sprintf("%s rows · no labels, so no outcome figures", fmtCount(rows))
	}
	p.Summary = append(p.Summary, KV{Label: "Rows", Value: fmtCount(rows)})
	if r != nil && labelled {
		p.Summary = append(p.Summary,
			KV{Label: "AUC", Value: fmtFixed(r.AUC, 3)},
			KV{Label: "KS", Value: fmtFixed(r.KS, 3)},
			KV{Label: "Log loss", Value: fmtFixed(r.LogLoss, 4)},
			KV{Label: "Recall @ 1% FPR", Value: fmtPct(r.RecallAtFPR1)},
			KV{Label: "Recall @ 5% FPR", Value: fmtPct(r.RecallAtFPR5)},
		)
	}
	var actions []string
	if r != nil {
		actions = actionOrder(r)
		for _, a := range actions {
			p.Summary = append(p.Summary, KV{Label: a, Value: fmtCount(r.Decisions[a]), Note: fmtPct(r.Actions[a].Share) + " of rows"})
		}
	}

	// Charts.
	if labelled && bads > 0 && bads < len(labels) {
		name := "score"
		if r != nil {
			name = fmt.Sprintf("score (AUC %s)", fmtFixed(r.AUC, 3))
		}
		p.Curves = append(p.Curves, Chart{
			Title:    "ROC curve",
			XLabel:   "false-positive rate",
			YLabel:   "true-positive rate (recall)",
			Series:   []Series{{Name: name, Points: ROC(scores, labels)}},
			Diagonal: true,
		})
	}
	if labelled {
		p.Histograms = append(p.Histograms, ScoreHistogram("Score distribution", scores, labels))
	} else {
		p.Histograms = append(p.Histograms, Histogram{Title: "Score distribution", XLabel: "score", Bins: 20,
			Groups: []HistGroup{{Name: "all rows", Values: scores}}})
	}

	if r == nil {
		return p
	}

	// Tables.
	at := Table{Title: "Decisions", Columns: []string{"Action", "Rows", "Share"}}
	if labelled {
		at.Columns = append(at.Columns, "Bads", "Bad rate (precision)", "Recall")
	}
	for _, a := range actions {
		s := r.Actions[a]
		row := []string{a, fmtCount(s.Count), fmtPct(s.Share)}
		if labelled {
			row = append(row, fmtCountPtr(s.Bads), fmtPct(s.BadRate), fmtPct(s.Recall))
		}
		at.Rows = append(at.Rows, row)
	}
	rt := Table{Title: "Rules", Columns: []string{"Rule", "Hits", "Hit rate"}}
	if labelled {
		rt.Columns = append(rt.Columns, "Bads", "Bad rate (precision)", "Recall", "Lift")
	}
	for _, s := range r.Rules {
		row := []string{s.Name, fmtCount(s.Hits), fmtPct(s.HitRate)}
		if labelled {
			row = append(row, fmtCountPtr(s.Bads), fmtPct(s.BadRate), fmtPct(s.Recall), fmtLift(s.Lift))
		}
		rt.Rows = append(rt.Rows, row)
	}
	p.Tables = append(p.Tables, at, rt)
	if never, always := r.SilentRules(); len(never)+len(always) > 0 {
		ct := Table{Title: "Rules the data does not test", Columns: []string{"Rule", "Why"}}
		for _, n := range never {
			ct.Rows = append(ct.Rows, []string{n, "never fired: no row tests it"})
		}
		for _, n := range always {
			ct.Rows = append(ct.Rows, []string{n, "fired on every row: no row tests it staying silent"})
		}
		p.Tables = append(p.Tables, ct)
	}
	return p
}

// actionOrder lists the actions of r in r.ActionOrder order, followed by any
// others (as after a JSON round trip) sorted by name.
func actionOrder(r *BacktestResult) []string {
	seen := make(map[string]bool)
	var out []string
	for _, a := range r.ActionOrder {
		if _, ok := r.Decisions[a]; ok && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	var rest []string
	for a := range r.Decisions {
		if !seen[a] {
			rest = append(rest, a)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// fmtCount formats n with thousands separators.
func fmtCount(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtCountPtr(n *int) string {
	if n == nil {
		return Undefined
	}
	return fmtCount(*n)
}

// ScoreHistogram is the score distribution of goods against bads, 20 bins
// over [0, 1]: how every report shows a score.
func ScoreHistogram(title string, scores []float64, labels []bool) Histogram {
	var good, bad []float64
	for i, s := range scores {
		if labels[i] {
			bad = append(bad, s)
		} else {
			good = append(good, s)
		}
	}
	return Histogram{Title: title, XLabel: "score", Bins: 20, Groups: []HistGroup{{Name: "goods", Values: good}, {Name: "bads", Values: bad}}}
}

// fmtPct formats a share as a percentage, with two decimals below 1%.
func fmtPct[F Float | float64](f F) string {
	v := float64(f) * 100
	switch {
	case !finite(v):
		return Undefined
	case v != 0 && math.Abs(v) < 1:
		return strconv.FormatFloat(v, 'f', 2, 64) + "%"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + "%"
}

func fmtFixed(f Float, decimals int) string { return f.Fixed(decimals) }

func fmtLift(f Float) string {
	if !finite(float64(f)) {
		return Undefined
	}
	return strconv.FormatFloat(float64(f), 'f', 2, 64) + "×"
}
