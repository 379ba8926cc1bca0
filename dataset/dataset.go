// Package dataset reads labelled history — CSV with a header row, or JSON
// Lines of decision requests — into VM requests for backtesting and
// training. Every problem names the file, the line and the field.
package dataset

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

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
	r := &Reader{prog: prog, opts: opts, path: name}
	format := opts.Format
	if format == "" {
		format = "csv"
		if strings.HasSuffix(name, ".jsonl") || strings.HasSuffix(name, ".ndjson") || strings.HasSuffix(name, ".json") {
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
		name = strings.TrimSpace(strings.TrimPrefix(name, "\ufeff"))
		r.columns[i] = r.prog.InputIndex(name)
		switch {
		case name == "event":
			r.eventCo = i
		case r.opts.Label != "" && name == r.opts.Label:
			r.labelCo = i
		}
	}
	if r.opts.Label != "" && r.labelCo < 0 {
		return fmt.Errorf("%s: no label column %q in the header", r.path, r.opts.Label)
	}
	return nil
}

// Line returns the line number of the row last read.
func (r *Reader) Line() int { return r.line }

// Next fills req with the next row and returns its label (Unlabelled
// when the file has none). It returns io.EOF after the last row.
func (r *Reader) Next(req *vm.Request) (int, error) {
	if r.csv != nil {
		return r.nextCSV(req)
	}
	return r.nextJSON(req)
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
	req.Reset()
	req.Event = r.opts.Event
	if r.eventCo >= 0 && rec[r.eventCo] != "" {
		req.Event = rec[r.eventCo]
	}
	for i, in := range r.columns {
		if in < 0 {
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
		if err := r.prog.DecodeJSON([]byte(line), req); err != nil {
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
	var obj struct {
		Features map[string]json.RawMessage `json:"features"`
	}
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
	for {
		req := r.prog.NewRequest()
		label, err := r.Next(req)
		if errors.Is(err, io.EOF) {
			return reqs, labels, nil
		}
		if err != nil {
			return reqs, labels, err
		}
		reqs, labels = append(reqs, req), append(labels, label)
	}
}
