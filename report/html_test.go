package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// firstDiff shows where two texts first differ, with some context.
func firstDiff(want, got string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	from := max(0, i-80)
	return "want …" + want[from:min(len(want), i+80)] + "…\ngot  …" + got[from:min(len(got), i+80)] + "…"
}

// examplePage builds the backtest page of a synthetic labelled policy with
// an awkwardly named rule.
func examplePage(t testing.TB, unlabelled float64) Page {
	rules := []string{"overdue_high_dti", "blocked_device", "velocity_1h", "<script>alert('x')</script>"}
	rows := randomRows(rand.New(rand.NewPCG(21, 22)), 50000, unlabelled)
	b := NewBacktest(rules, []string{"approve", "review", "reject"})
	for i, r := range rows {
		fired := r.fired
		if i%97 == 0 {
			fired = append(fired, 3)
		}
		b.Add(r.score, r.action, fired, r.label)
	}
	scores, labels := b.Scores()
	return BacktestPage("Backtest · loan_apply 2026.11.1 vs history", b.Result(), scores, labels)
}

func render(t testing.TB, p Page) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, p); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// parseXMLish runs the page through encoding/xml in its lenient HTML mode
// and fails on any syntax error, such as an unclosed or mismatched element.
func parseXMLish(t *testing.T, page string) (elements map[string]int) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	elements = make(map[string]int)
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("page does not parse: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			elements[tok.Name.Local]++
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if depth != 0 {
		t.Errorf("%d elements left open", depth)
	}
	return elements
}

func TestBacktestPageHTML(t *testing.T) {
	for _, tc := range []struct {
		name       string
		unlabelled float64
	}{{"labelled", 0.1}, {"unlabelled", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			page := render(t, examplePage(t, tc.unlabelled))
			els := parseXMLish(t, page)
			if !strings.HasPrefix(page, "<!DOCTYPE html>") {
				t.Error("missing doctype")
			}
			if els["svg"] == 0 || els["table"] != 2 || els["rect"] == 0 {
				t.Errorf("elements: %v", els)
			}
			wantPaths := 1
			if tc.unlabelled == 1 {
				wantPaths = 0 // no ROC without labels
			}
			if els["path"] != wantPaths {
				t.Errorf("%d paths, want %d", els["path"], wantPaths)
			}

			// Self-contained: no URL but the SVG namespace, no scripts, no
			// external resources of any kind.
			rest := strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, "")
			for _, bad := range []string{"http://", "https://", "<script", "src=", "href=", "url(", "@import", "@font-face", "//"} {
				if strings.Contains(rest, bad) {
					t.Errorf("page contains %q", bad)
				}
			}
			if !strings.Contains(page, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") {
				t.Error("the rule name <script>… is not shown escaped")
			}
			for _, want := range []string{"Backtest · loan_apply 2026.11.1 vs history", "overdue_high_dti", "approve", "Score distribution"} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			labelOnly := []string{"ROC curve", "AUC", "Recall @ 1% FPR", "Lift", ">bads<"}
			for _, s := range labelOnly {
				if got := strings.Contains(page, s); got != (tc.unlabelled < 1) {
					t.Errorf("page contains %q: %v", s, got)
				}
			}
			if again := render(t, examplePage(t, tc.unlabelled)); again != page {
				t.Error("output is not deterministic")
			}
		})
	}
}

func TestWriteHTMLEscapes(t *testing.T) {
	evil := `<img src=x onerror="alert(1)">&`
	page := render(t, Page{
		Title:      evil,
		Subtitle:   evil,
		Summary:    []KV{{evil, evil, evil}},
		Curves:     []Chart{{Title: evil, XLabel: evil, YLabel: evil, Series: []Series{{Name: evil, Points: []Point{{0, 0}, {1, 1}}}}}},
		Histograms: []Histogram{{Title: evil, Groups: []HistGroup{{Name: evil, Values: []float64{0.5}}}}},
		Tables:     []Table{{Title: evil, Columns: []string{evil}, Rows: [][]string{{evil}}}},
	})
	parseXMLish(t, page)
	if strings.Contains(page, "<img") || strings.Contains(page, `onerror="`) {
		t.Error("markup in text was not escaped")
	}
	if n := strings.Count(page, "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;"); n < 10 {
		t.Errorf("escaped text appears %d times, want every field", n)
	}
}

func TestWriteHTMLEmptyAndDegenerate(t *testing.T) {
	nan := math.NaN()
	page := render(t, Page{
		Curves: []Chart{
			{Title: "empty"},
			{Title: "gaps", Series: []Series{{Name: "s", Points: []Point{{0, 0}, {nan, 1}, {0.5, 0.5}, {1, math.Inf(1)}, {1, 1}}}}},
			{Title: "wide", Series: []Series{{Name: "loss", Points: []Point{{1, 0.9}, {2, 0.5}, {40, 0.31}}}}},
			{Title: "flat", Series: []Series{{Name: "c", Points: []Point{{3, 3}}}}},
		},
		Histograms: []Histogram{
			{Title: "no groups"},
			{Title: "empty group", Groups: []HistGroup{{Name: "none"}}},
			{Title: "constant", Groups: []HistGroup{{Name: "k", Values: []float64{7, 7, 7, nan}}}},
			{Title: "clamped", Bins: 5, Min: 0, Max: 1, Groups: []HistGroup{{Name: "g", Values: []float64{-3, 0.5, 1, 9}}}},
		},
		Tables: []Table{{Title: "ragged", Columns: []string{"a"}, Rows: [][]string{{"x", "1"}, {}}}, {Title: "none"}},
	})
	parseXMLish(t, page)
	if n := strings.Count(page, ">no data<"); n != 3 {
		t.Errorf("%d 'no data' notes, want 3 (the empty chart and two empty histograms)", n)
	}
	gaps := chartView(Chart{Series: []Series{{Points: []Point{{0, 0}, {nan, 1}, {0.5, 0.5}, {0.7, 0.8}, {1, math.Inf(1)}, {1, 1}}}}})
	if d := gaps.SVG.Paths[0].D; strings.Count(d, "M") != 3 || strings.Count(d, "L") != 1 {
		t.Errorf("series with gaps drawn as %q, want three pieces", d)
	}
	if !strings.Contains(page, ">no rows<") {
		t.Error("empty table has no placeholder")
	}
	if strings.Contains(page, "NaN") || strings.Contains(page, "Inf") {
		t.Error("NaN or Inf leaked into the SVG")
	}
}

func TestHistogramBars(t *testing.T) {
	h := Histogram{Bins: 4, Groups: []HistGroup{
		{Name: "goods", Values: []float64{0.1, 0.1, 0.3, 0.9}},
		{Name: "bads", Values: []float64{0.9, 0.95, 1}},
	}}
	f := histView(h)
	if len(f.SVG.Bars) != 4 {
		t.Fatalf("%d bars, want 4 (3 non-empty goods bins, 1 bads bin)", len(f.SVG.Bars))
	}
	if tip := f.SVG.Bars[3].Tip; tip != "bads, 0.75–1.00: 3 rows (100.0%)" {
		t.Errorf("tooltip = %q", tip)
	}
	if len(f.Legend) != 2 || f.Legend[0].Color == f.Legend[1].Color {
		t.Errorf("legend = %+v", f.Legend)
	}
}

func TestAxisTicks(t *testing.T) {
	a := newAxis(0, 1, 0, 100, true)
	var labels []string
	for _, v := range a.ticks {
		labels = append(labels, a.label(v))
	}
	if got := strings.Join(labels, " "); got != "0.0 0.2 0.4 0.6 0.8 1.0" {
		t.Errorf("unit axis ticks = %s", got)
	}
	a = newAxis(0, 0.137, 0, 100, true)
	a.percent = true
	labels = labels[:0]
	for _, v := range a.ticks {
		labels = append(labels, a.label(v))
	}
	if got := strings.Join(labels, " "); got != "0% 5% 10% 15%" {
		t.Errorf("percent axis ticks = %s", got)
	}
	a = newAxis(1, 40, 0, 100, true)
	if a.lo != 0 || a.hi != 40 || a.label(a.ticks[1]) != "10" {
		t.Errorf("axis over 1..40: %+v", a)
	}
}

func TestIsNumeric(t *testing.T) {
	for s, want := range map[string]bool{
		"1,234": true, "12.5%": true, "—": true, "3.42×": true, "-0.5": true, "1e-05": true,
		"approve": false, "": false, "%": false, "<script>": false, "rule_1": false,
	} {
		if got := isNumeric(s); got != want {
			t.Errorf("isNumeric(%q) = %v", s, got)
		}
	}
}

func TestFormatting(t *testing.T) {
	if got := fmtCount(1234567); got != "1,234,567" {
		t.Error(got)
	}
	if got := fmtCount(-1000); got != "-1,000" {
		t.Error(got)
	}
	if got := fmtCount(999); got != "999" {
		t.Error(got)
	}
	if got := fmtPct(Float(0.00042)); got != "0.04%" {
		t.Error(got)
	}
	if got := fmtPct(0.5); got != "50.0%" {
		t.Error(got)
	}
	if got := fmtPct(nan); got != "—" {
		t.Error(got)
	}
}

// TestWriteExample renders the example page and, when REPORT_EXAMPLE_HTML
// names a file, writes it there for looking at in a browser:
//
//	REPORT_EXAMPLE_HTML=/tmp/report.html go test ./report -run TestWriteExample
//
// TestWriteExample holds the whole example page to a golden file
// (testdata/example.html.golden): every figure, plot and escaped name. After a
// deliberate change, look at the new page and update the golden with
// go test ./report -run TestWriteExample -update.
func TestWriteExample(t *testing.T) {
	page := render(t, examplePage(t, 0.1))
	const golden = "testdata/example.html.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if page != string(want) {
		t.Errorf("the example page differs from %s (rerun with -update after checking the change):\n%s", golden, firstDiff(string(want), page))
	}
	if path := os.Getenv("REPORT_EXAMPLE_HTML"); path != "" {
		if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSilentRules: rules that never fire or fire on every row are listed
// by SilentRules and in the page.
func TestSilentRules(t *testing.T) {
	b := NewBacktest([]string{"never", "always", "some"}, []string{"approve", "review", "reject"})
	b.Add(0.1, "approve", []int{1}, 0)
	b.Add(0.9, "reject", []int{1, 2}, 1)
	r := b.Result()
	never, always := r.SilentRules()
	if strings.Join(never, ",") != "never" || strings.Join(always, ",") != "always" {
		t.Fatalf("SilentRules = %v, %v", never, always)
	}
	var out strings.Builder
	if err := WriteHTML(&out, BacktestPage("t", r, nil, nil)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Rules the data does not test", "never fired: no row tests it", "fired on every row: no row tests it staying silent"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
