package dataset

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Table is a data file's records as text, every column included: for
// tools that need what the policy does not read (a baseline model on all
// columns) or write rows back out (a hold-out file). Record i is the row
// Reader.Record reports as i.
type Table struct {
	Header  []string   // CSV: the header, BOM and spaces trimmed
	Records [][]string // CSV: the data rows
	Lines   []string   // JSON Lines: the non-blank lines
}

// HeaderCell is a CSV header cell as a column name: without a byte order
// mark (spreadsheet exports start the file with one, so it sticks to the
// first cell) and surrounding spaces. Reader and ReadTable both name
// columns this way, so a column one finds the other finds too.
func HeaderCell(cell string) string {
	return strings.TrimSpace(strings.TrimPrefix(cell, "\ufeff"))
}

// IsJSONL reports whether a file is read as JSON Lines: format when set,
// else by the extension of name.
func IsJSONL(name, format string) bool {
	if format != "" {
		return format == "jsonl"
	}
	return strings.HasSuffix(name, ".jsonl") || strings.HasSuffix(name, ".ndjson") || strings.HasSuffix(name, ".json")
}

// ReadTable reads every record of path (format as in Options).
func ReadTable(path, format string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t := &Table{}
	if IsJSONL(path, format) {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 16<<20)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) != "" {
				t.Lines = append(t.Lines, sc.Text())
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return t, nil
	}
	all, err := csv.NewReader(bufio.NewReader(f)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%s: empty file", path)
	}
	t.Header = all[0]
	for i, h := range t.Header {
		t.Header[i] = HeaderCell(h)
	}
	t.Records = all[1:]
	return t, nil
}

// Len returns the number of records.
func (t *Table) Len() int {
	if t.Lines != nil {
		return len(t.Lines)
	}
	return len(t.Records)
}

// WriteRows writes the given records, in the given order, in the table's
// format (CSV with its header, or JSON Lines).
func (t *Table) WriteRows(w io.Writer, rows []int) error {
	for _, r := range rows {
		if r < 0 || r >= t.Len() {
			return errors.New("dataset: record out of range")
		}
	}
	if t.Lines != nil {
		bw := bufio.NewWriter(w)
		for _, r := range rows {
			if _, err := fmt.Fprintln(bw, t.Lines[r]); err != nil {
				return err
			}
		}
		return bw.Flush()
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(t.Header); err != nil {
		return err
	}
	for _, r := range rows {
		if err := cw.Write(t.Records[r]); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
