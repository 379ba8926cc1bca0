// Package dataset reads labelled history — CSV with a header row, or JSON
// Lines of decision requests — into VM requests for backtesting and
// training. Every problem names the file, the line and the field. Texts
// listed as missing (Options.NA) leave an input absent; a row missing a
// required input is skipped and counted, or refused (Options.Strict).
package dataset

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// Options say how to read a file.
type Options struct {
	// Event is used for rows without an event column or field.
	Event string
	// Label names the 0/1 label column (CSV) or field (JSONL); "" reads
	// no labels.
	Label string
	// Positive, when set, is the label text that means "bad" (1); every
	// other value means 0. Otherwise labels are read as 1/0, true/false,
	// yes/no, bad/good, fraud/legit.
	Positive string
	// Format is "csv" or "jsonl"; "" picks by file extension.
	Format string
	// KeepOrder: for a policy with windows, replay rows in file order and
	// refuse a file whose ts goes backwards (see TimeOrder); by default
	// tools that replay windows sort rows by ts.
	KeepOrder bool
	// NA lists the CSV texts that mean "no value" besides the empty text
	// (e.g. "NA", "?"): such a field leaves its input absent. In JSON
	// Lines, null already does.
	NA []string
	// Strict refuses a row that misses a required input (an error at its
	// line) instead of skipping it; skipped rows are counted per input
	// (Reader.Skipped).
	Strict bool
	// Lookups, when set, fills the policy's lookup fields of every row
	// from snapshot files (see Lookups) and counts the rows that found a
	// record.
	Lookups *Lookups
}

// Reader yields one request per data row.
type Reader struct {
	prog   *vm.Program
	opts   Options
	path   string
	closer io.Closer
	line   int

	csv     *csv.Reader
	columns []int // CSV column -> input index, -1 if not an input
	eventCo int
	labelCo int
	header  []string

	lines *bufio.Scanner

	na      map[string]bool
	record  int            // data records read (CSV rows, non-blank JSONL lines)
	skipped map[string]int // rows skipped per missing required input
	nSkip   int
}

// Unlabelled is the label of a row without one.
const Unlabelled = -1

// Open opens path for reading requests of prog.
func Open(path string, prog *vm.Program, opts Options) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f, path, prog, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewReader reads requests from an open stream; name is used in errors
// and, when opts.Format is empty, to pick the format by extension.
func NewReader(in io.Reader, name string, prog *vm.Program, opts Options) (*Reader, error) {
	r := &Reader{prog: prog, opts: opts, path: name, skipped: map[string]int{}, na: map[string]bool{}}
	for _, v := range opts.NA {
		r.na[strings.TrimSpace(v)] = true
	}
	format := opts.Format
	if format == "" {
		format = "csv"
		if IsJSONL(name, "") {
			format = "jsonl"
		}
	}
	switch format {
	case "csv":
		return r, r.openCSV(in)
	case "jsonl":
		r.lines = bufio.NewScanner(in)
		r.lines.Buffer(make([]byte, 64*1024), 16<<20)
		return r, nil
	}
	return nil, fmt.Errorf("unknown data format %q (use csv or jsonl)", format)
}

// Close closes the underlying file.
func (r *Reader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

func (r *Reader) openCSV(in io.Reader) error {
	r.csv = csv.NewReader(bufio.NewReaderSize(in, 1<<16))
	r.csv.ReuseRecord = true
	head, err := r.csv.Read()
	if err != nil {
		return fmt.Errorf("%s: reading the header row: %w", r.path, err)
	}
	r.line = 1
	r.header = append([]string(nil), head...)
	r.eventCo, r.labelCo = -1, -1
	r.columns = make([]int, len(head))
	for i, name := range r.header {
		name = HeaderCell(name)
		r.header[i] = name // messages and suggestions quote the name as matched
		r.columns[i] = r.prog.InputIndex(name)
		switch {
		case name == "event":
			r.eventCo = i
		case r.opts.Label != "" && name == r.opts.Label:
			r.labelCo = i
		}
	}
	return r.checkHeader()
}

// checkHeader reports, once for the header instead of once per row, the
// columns the rows cannot do without: the label, the required inputs
// and the event.
func (r *Reader) checkHeader() error {
	cols := strings.Join(r.header, ", ")
	if r.opts.Label != "" && r.labelCo < 0 {
		hint := ""
		if h := lang.Suggest(r.opts.Label, r.header); h != "" {
			hint = " (" + h + ")"
		}
		return fmt.Errorf("%s:1: no label column %q in the header%s; its columns are %s", r.path, r.opts.Label, hint, cols)
	}
	have := map[int]bool{}
	for _, in := range r.columns {
		have[in] = true
	}
	var missing []string
	for i, in := range r.prog.Inputs {
		if !have[i] && !in.Optional && in.Default == nil {
			missing = append(missing, in.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s:1: the header has no column for the required input(s) %s, so no row can be evaluated; its columns are %s", r.path, strings.Join(missing, ", "), cols)
	}
	if r.eventCo < 0 && r.opts.Event == "" && r.prog.EventsDeclared {
		return fmt.Errorf("%s:1: the header has no event column; give the event of every row with --event NAME (this policy handles %s), or add an event column", r.path, strings.Join(r.prog.Events, ", "))
	}
	return nil
}

// IsCSV reports whether the file is CSV (its line 1 is the header).
func (r *Reader) IsCSV() bool { return r.csv != nil }

// Line returns the line number of the row last read.
func (r *Reader) Line() int { return r.line }

// Record returns the 0-based index, among the file's data records (CSV
// rows after the header, non-blank JSONL lines), of the row last read:
// skipped rows make it differ from the count of rows returned.
func (r *Reader) Record() int { return r.record - 1 }

// Skip is the count of rows skipped because they miss a required input.
type Skip struct {
	Input string
	Rows  int
}

// Skipped returns the rows skipped so far (Options.Strict off) per
// missing required input, most first; a row missing several inputs counts
// once for each. Rows gives the number of rows skipped.
func (r *Reader) Skipped() (perInput []Skip, rows int) {
	for name, n := range r.skipped {
		perInput = append(perInput, Skip{Input: name, Rows: n})
	}
	sort.Slice(perInput, func(i, j int) bool {
		a, b := perInput[i], perInput[j]
		return a.Rows > b.Rows || (a.Rows == b.Rows && a.Input < b.Input)
	})
	return perInput, r.nSkip
}

// SkipSummary describes the skipped rows in one line ("" when none):
// "skipped 3 rows missing a required input: income 2, age 1".
func (r *Reader) SkipSummary() string {
	per, n := r.Skipped()
	if n == 0 {
		return ""
	}
	parts := make([]string, len(per))
	for i, s := range per {
		parts[i] = fmt.Sprintf("%s %d", s.Input, s.Rows)
	}
	return fmt.Sprintf("%s: skipped %d rows missing a required input (%s); --strict refuses them", r.path, n, strings.Join(parts, ", "))
}

// Next fills req with the next row and returns its label (Unlabelled
// when the file has none). It returns io.EOF after the last row. A row
// missing a required input is skipped and counted (or, with
// Options.Strict, an error).
func (r *Reader) Next(req *vm.Request) (int, error) {
	for {
		var label int
		var err error
		if r.csv != nil {
			label, err = r.nextCSV(req)
		} else {
			label, err = r.nextJSON(req)
		}
		if err == nil && r.opts.Lookups != nil {
			err = r.opts.Lookups.fill(req, r.where)
		}
		var miss *missingError
		if !errors.As(err, &miss) || r.opts.Strict {
			return label, err
		}
		for _, name := range miss.inputs {
			r.skipped[name]++
		}
		r.nSkip++
	}
}

// missingError is a row without some required inputs.
type missingError struct {
	where  string
	inputs []string
}

func (e *missingError) Error() string {
	return fmt.Sprintf("%s: required input %s is missing (rows missing a required input are refused with --strict, skipped otherwise)", e.where, strings.Join(e.inputs, ", "))
}

// missing lists the required inputs req lacks (before Complete applies
// defaults).
func (r *Reader) missing(req *vm.Request) error {
	var names []string
	for i := range r.prog.Inputs {
		in := &r.prog.Inputs[i]
		if !req.Present[i] && !in.Optional && in.Default == nil {
			names = append(names, in.Name)
		}
	}
	if names == nil {
		return nil
	}
	return &missingError{where: r.where(), inputs: names}
}

func (r *Reader) where() string { return fmt.Sprintf("%s:%d", r.path, r.line) }

func (r *Reader) nextCSV(req *vm.Request) (int, error) {
	rec, err := r.csv.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, io.EOF
		}
		return 0, fmt.Errorf("%s: %w", r.path, err)
	}
	r.line, _ = r.csv.FieldPos(0)
	r.record++
	req.Reset()
	req.Event = r.opts.Event
	if r.eventCo >= 0 && rec[r.eventCo] != "" {
		req.Event = rec[r.eventCo]
	}
	for i, in := range r.columns {
		if in < 0 || r.na[strings.TrimSpace(rec[i])] {
			continue
		}
		if err := r.prog.SetText(req, in, rec[i]); err != nil {
			return 0, fmt.Errorf("%s: %w", r.where(), err)
		}
	}
	if err := r.finish(req); err != nil {
		return 0, err
	}
	if r.labelCo < 0 {
		return Unlabelled, nil
	}
	return r.label(rec[r.labelCo])
}

func (r *Reader) finish(req *vm.Request) error {
	if err := r.prog.CheckEvent(req.Event); err != nil {
		return fmt.Errorf("%s: %w", r.where(), err)
	}
	if err := r.missing(req); err != nil {
		return err
	}
	if err := r.prog.Complete(req); err != nil {
		return fmt.Errorf("%s: %w", r.where(), err)
	}
	return nil
}

func (r *Reader) nextJSON(req *vm.Request) (int, error) {
	for r.lines.Scan() {
		r.line++
		line := strings.TrimSpace(r.lines.Text())
		if line == "" {
			continue
		}
		r.record++
		if err := api.DecodeJSON(r.prog, []byte(line), req); err != nil {
			var fe *vm.FieldError
			if errors.As(err, &fe) && fe.Msg == "required feature is missing" {
				// DecodeJSON stops at the first missing input; list them all.
				if m := r.missing(req); m != nil {
					return 0, m
				}
			}
			if fe != nil {
				// A JSON Lines row is a v1 request: name the field by its path in it.
				err = &vm.FieldError{Field: api.FieldPath(fe), Msg: fe.Msg}
			}
			return 0, fmt.Errorf("%s: %w", r.where(), err)
		}
		if req.Event == "" && r.opts.Event != "" {
			req.Event = r.opts.Event
			if err := r.finish(req); err != nil {
				return 0, err
			}
		}
		if r.opts.Label == "" {
			return Unlabelled, nil
		}
		return r.jsonLabel(line)
	}
	if err := r.lines.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", r.path, err)
	}
	return 0, io.EOF
}

// jsonLabel finds the label at the top level of the object or in its
// features.
func (r *Reader) jsonLabel(line string) (int, error) {
	var obj api.DecideRequest
	var top map[string]json.RawMessage
	_ = json.Unmarshal([]byte(line), &top)
	raw, ok := top[r.opts.Label]
	if !ok {
		_ = json.Unmarshal([]byte(line), &obj)
		raw, ok = obj.Features[r.opts.Label]
	}
	if !ok {
		return 0, fmt.Errorf("%s: label %q is missing", r.where(), r.opts.Label)
	}
	text := strings.Trim(string(raw), `" `)
	return r.label(text)
}

// label converts a label text to 1 (bad) or 0 (good).
func (r *Reader) label(text string) (int, error) {
	text = strings.TrimSpace(text)
	if r.opts.Positive != "" {
		if text == r.opts.Positive {
			return 1, nil
		}
		return 0, nil
	}
	if v, err := strconv.ParseFloat(text, 64); err == nil && (v == 0 || v == 1) {
		return int(v), nil
	}
	switch strings.ToLower(text) {
	case "true", "yes", "bad", "fraud", "positive":
		return 1, nil
	case "false", "no", "good", "legit", "negative":
		return 0, nil
	}
	return 0, fmt.Errorf("%s: label %q is not 0/1, true/false, yes/no, bad/good or fraud/legit (use --positive VALUE)", r.where(), text)
}

// ReadAll reads every remaining row into its own request, with labels
// (Unlabelled for rows without one): for tools that hold a whole file.
// On an error it also returns the rows read before it.
func (r *Reader) ReadAll() ([]*vm.Request, []int, error) {
	var reqs []*vm.Request
	var labels []int
	err := r.Each(func(req *vm.Request, label int) {
		reqs, labels = append(reqs, req), append(labels, label)
	})
	return reqs, labels, err
}

// Each reads every remaining row into its own request and hands it to
// row with its label (Unlabelled for rows without one); row may ask r
// for the row's Line and Record. It stops at the end of the data (nil)
// or at the first error, which it returns.
func (r *Reader) Each(row func(req *vm.Request, label int)) error {
	for {
		req := r.prog.NewRequest()
		label, err := r.Next(req)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		row(req, label)
	}
}
