package dataset

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/riskforge/riskforge/vm"
)

// Lookups fills the fields of a policy's lookups while rows are read
// (Options.Lookups), from snapshot files of the records serving would
// have fetched, and counts per lookup how many rows found a record. A
// lookup without a file keeps what the data carries in LOOKUP.FIELD
// columns (or features), which is then all a replay knows of it.
//
// A snapshot is CSV (with a header row) or JSON Lines of flat objects:
//
//   - the key: a `key` column holding the rendered key (profile:u123, or
//     the URL of an http lookup), or else one column per input the key
//     template names (user_id), rendered with vm.Program.AppendLookupKey,
//     the function riskd fetches and caches by;
//   - one column per declared field, named FIELD or LOOKUP.FIELD; an
//     empty cell (or JSON null) is a field the record lacks;
//   - optionally `valid_from` (RFC 3339 or Unix seconds): the file then
//     holds each key's history, and a row reads the latest record whose
//     valid_from is at or before the row's ts (a point-in-time join); a
//     row before a key's first record finds none.
//
// Values are checked against the declared types when the file is read;
// an error names the file, the line and the column. A row whose data
// says failed(LOOKUP) is true (a fetch that failed when it was served)
// reads no record, as serving did.
type Lookups struct {
	prog   *vm.Program
	tables []*lookupTable // by lookup index; nil: the data's columns
	failed []int          // by lookup index, the input failed(LOOKUP), -1 when no rule reads it
	tsIn   int            // the ts input, -1 when the policy has none

	mu     sync.Mutex // readers sharing a Lookups (train's data and test files)
	counts []LookupCount
	key    []byte
}

// LookupCount is how many rows read a lookup and how many of them found
// a record: one in the snapshot file, or, without a file, any of the
// lookup's fields in the data.
type LookupCount struct {
	Name  string
	File  string // "" when the fields come from the data's columns
	Rows  int
	Found int
}

// lookupTable is one snapshot file's records by rendered key, each key's
// records sorted by valid_from.
type lookupTable struct {
	path  string
	timed bool // the file has valid_from
	byKey map[string][]snapRecord
}

// snapRecord is one record of a snapshot, its fields in declaration order.
type snapRecord struct {
	from float64 // valid_from, Unix seconds (timed files)
	line int
	num  []float64
	str  []string
	has  []bool
}

// ParseLookupSpec splits a --lookup argument NAME=FILE.
func ParseLookupSpec(spec string) (name, path string, err error) {
	name, path, ok := strings.Cut(spec, "=")
	name, path = strings.TrimSpace(name), strings.TrimSpace(path)
	if !ok || name == "" || path == "" {
		return "", "", fmt.Errorf("--lookup %q: want NAME=FILE, e.g. profile=profiles.csv", spec)
	}
	return name, path, nil
}

// OpenLookups reads the snapshot files of specs (NAME=FILE, at most one
// per lookup) for prog. With no specs it still counts, per lookup, the
// rows whose data carries its fields.
func OpenLookups(prog *vm.Program, specs []string) (*Lookups, error) {
	l := &Lookups{prog: prog, tables: make([]*lookupTable, len(prog.Lookups)), tsIn: -1}
	if i := prog.InputIndex("ts"); i >= 0 && prog.Inputs[i].Type == vm.TTime {
		l.tsIn = i
	}
	names := make([]string, len(prog.Lookups))
	for i, lk := range prog.Lookups {
		names[i] = lk.Name
		l.counts = append(l.counts, LookupCount{Name: lk.Name})
		l.failed = append(l.failed, prog.InputIndex("failed("+lk.Name+")"))
	}
	for _, spec := range specs {
		name, path, err := ParseLookupSpec(spec)
		if err != nil {
			return nil, err
		}
		li := -1
		for i, n := range names {
			if n == name {
				li = i
			}
		}
		switch {
		case len(names) == 0:
			return nil, fmt.Errorf("--lookup %s: the policy declares no lookup", spec)
		case li < 0:
			return nil, fmt.Errorf("--lookup %s: the policy has no lookup %q (its lookups: %s)", spec, name, strings.Join(names, ", "))
		case l.tables[li] != nil:
			return nil, fmt.Errorf("--lookup %s: lookup %s already reads %s", spec, name, l.tables[li].path)
		}
		t, err := l.readTable(li, path)
		if err != nil {
			return nil, err
		}
		l.tables[li], l.counts[li].File = t, path
	}
	return l, nil
}

// Counts returns, per lookup in declaration order, the rows read so far
// and how many found a record.
func (l *Lookups) Counts() []LookupCount {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LookupCount(nil), l.counts...)
}

// fill sets req's lookup fields from the snapshots (replacing what the
// data carried, as riskd replaces what a request carries) and counts.
func (l *Lookups) fill(req *vm.Request, where func() string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.prog
	for i := range p.Lookups {
		lk := &p.Lookups[i]
		c := &l.counts[i]
		c.Rows++
		t := l.tables[i]
		if t == nil {
			for _, f := range lk.Fields {
				if req.Present[f] {
					c.Found++
					break
				}
			}
			continue
		}
		for _, f := range lk.Fields {
			req.Present[f] = false
		}
		if fi := l.failed[i]; fi >= 0 && req.Present[fi] && req.Num[p.Inputs[fi].Slot] != 0 {
			continue // the history says this fetch failed: serving read the fields absent
		}
		l.key = p.AppendLookupKey(l.key[:0], i, req)
		recs := t.byKey[string(l.key)]
		if len(recs) == 0 {
			continue
		}
		rec := &recs[len(recs)-1]
		if t.timed {
			if l.tsIn < 0 || !req.Present[l.tsIn] {
				return fmt.Errorf("%s: the row has no ts, and lookup %s reads %s by valid_from, which needs the row's time", where(), lk.Name, t.path)
			}
			ts := req.Num[p.Inputs[l.tsIn].Slot]
			k := sort.Search(len(recs), func(k int) bool { return recs[k].from > ts })
			if k == 0 {
				continue // the key's first record came later
			}
			rec = &recs[k-1]
		}
		c.Found++
		for j, f := range lk.Fields {
			if !rec.has[j] {
				continue
			}
			in := &p.Inputs[f]
			if in.Type == vm.TString {
				req.Str[in.Slot] = rec.str[j]
			} else {
				req.Num[in.Slot] = rec.num[j]
			}
			req.Present[f] = true
		}
	}
	return nil
}

// snapRow is one record of a snapshot file as text: a cell getter that
// says whether the row has the column at all.
type snapRow struct {
	line int
	cell func(col string) (text string, ok bool)
}

// readTable reads and checks the snapshot of lookup li.
func (l *Lookups) readTable(li int, path string) (*lookupTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--lookup %s: %w", l.prog.Lookups[li].Name, err)
	}
	defer f.Close()
	b := &tableBuilder{l: l, li: li, t: &lookupTable{path: path, byKey: map[string][]snapRecord{}}, scratch: l.prog.NewRequest()}
	if IsJSONL(path, "") {
		err = b.readJSONL(f)
	} else {
		err = b.readCSV(f)
	}
	if err != nil {
		return nil, err
	}
	return b.finish()
}

// tableBuilder turns the rows of one snapshot file into a lookupTable.
type tableBuilder struct {
	l       *Lookups
	li      int
	t       *lookupTable
	scratch *vm.Request
	cols    []string // per field, the column that holds it (CSV: resolved at the header)
	seen    []bool   // per field, some JSONL line has it
	rows    int
}

func (b *tableBuilder) lookup() *vm.Lookup { return &b.l.prog.Lookups[b.li] }

// fieldColumns are the column names field j may have: FIELD or LOOKUP.FIELD.
func (b *tableBuilder) fieldColumns(j int) (short, long string) {
	long = b.l.prog.Inputs[b.lookup().Fields[j]].Name
	return strings.TrimPrefix(long, b.lookup().Name+"."), long
}

// keyInputs are the inputs the key template names.
func (b *tableBuilder) keyInputs() []int {
	var ins []int
	for _, kp := range b.lookup().Key {
		if kp.Input >= 0 {
			ins = append(ins, int(kp.Input))
		}
	}
	return ins
}

func (b *tableBuilder) readCSV(in io.Reader) error {
	r := csv.NewReader(bufio.NewReaderSize(in, 1<<16))
	head, err := r.Read()
	if err != nil {
		return fmt.Errorf("%s: reading the header row: %w", b.t.path, err)
	}
	index := map[string]int{}
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := index[h]; dup {
			return fmt.Errorf("%s:1: column %q appears twice", b.t.path, h)
		}
		index[h] = i
	}
	b.cols = make([]string, len(b.lookup().Fields))
	for j := range b.cols {
		short, long := b.fieldColumns(j)
		_, hasShort := index[short]
		_, hasLong := index[long]
		switch {
		case hasShort && hasLong:
			return fmt.Errorf("%s:1: columns %s and %s both give field %s; keep one", b.t.path, short, long, long)
		case hasShort:
			b.cols[j] = short
		case hasLong:
			b.cols[j] = long
		default:
			return fmt.Errorf("%s:1: lookup %s declares field %s but the header has no column %s (or %s); its columns are %s",
				b.t.path, b.lookup().Name, short, short, long, strings.Join(head, ", "))
		}
	}
	if _, ok := index["key"]; !ok {
		for _, in := range b.keyInputs() {
			if _, ok := index[b.l.prog.Inputs[in].Name]; !ok {
				return fmt.Errorf("%s:1: no key: add a column key (the rendered key of %q) or a column %s for the key template",
					b.t.path, b.lookup().Template, b.l.prog.Inputs[in].Name)
			}
		}
	}
	_, b.t.timed = index["valid_from"]
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", b.t.path, err)
		}
		line, _ := r.FieldPos(0)
		row := snapRow{line: line, cell: func(col string) (string, bool) {
			i, ok := index[col]
			if !ok {
				return "", false
			}
			return rec[i], true
		}}
		if err := b.add(row); err != nil {
			return err
		}
	}
}

func (b *tableBuilder) readJSONL(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	b.seen = make([]bool, len(b.lookup().Fields))
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(text, &obj); err != nil || obj == nil {
			return fmt.Errorf("%s:%d: not a JSON object", b.t.path, line)
		}
		cells := map[string]string{}
		for k, raw := range obj {
			s, present, err := jsonCell(raw)
			if err != nil {
				return fmt.Errorf("%s:%d: column %s: %v", b.t.path, line, k, err)
			}
			if present {
				cells[k] = s
			}
		}
		_, timed := obj["valid_from"]
		if b.rows == 0 {
			b.t.timed = timed
		} else if timed != b.t.timed {
			return fmt.Errorf("%s:%d: valid_from must be on every line or on none (line 1 %s)", b.t.path, line, map[bool]string{true: "has it", false: "has none"}[b.t.timed])
		}
		if b.cols == nil {
			b.cols = make([]string, len(b.lookup().Fields))
		}
		for j := range b.cols {
			short, long := b.fieldColumns(j)
			_, hasShort := obj[short]
			_, hasLong := obj[long]
			switch {
			case hasShort && hasLong:
				return fmt.Errorf("%s:%d: members %s and %s both give field %s; keep one", b.t.path, line, short, long, long)
			case hasShort:
				b.cols[j] = short
			case hasLong:
				b.cols[j] = long
			default:
				b.cols[j] = short // absent on this line: the record lacks the field
			}
			b.seen[j] = b.seen[j] || hasShort || hasLong
		}
		row := snapRow{line: line, cell: func(col string) (string, bool) {
			if _, ok := obj[col]; !ok {
				return "", false
			}
			return cells[col], true
		}}
		if err := b.add(row); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", b.t.path, err)
	}
	for j, ok := range b.seen {
		if !ok && b.rows > 0 {
			short, long := b.fieldColumns(j)
			return fmt.Errorf("%s: lookup %s declares field %s but no line has a member %s (or %s)", b.t.path, b.lookup().Name, short, short, long)
		}
	}
	return nil
}

// jsonCell is a JSON value as the text a CSV cell would hold; null is
// no value, and objects and arrays are refused.
func jsonCell(raw json.RawMessage) (string, bool, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case bytes.Equal(raw, []byte("null")):
		return "", false, nil
	case len(raw) > 0 && raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, err
		}
		return s, true, nil
	case len(raw) > 0 && (raw[0] == '{' || raw[0] == '['):
		return "", false, errors.New("an object or array is not a field value")
	}
	return string(raw), true, nil // a number, true or false
}

// add checks one row and stores its record under its rendered key.
func (b *tableBuilder) add(row snapRow) error {
	p, lk := b.l.prog, b.lookup()
	where := func(col string) string { return fmt.Sprintf("%s:%d: column %s", b.t.path, row.line, col) }
	b.rows++
	var key string
	if k, ok := row.cell("key"); ok {
		if key = strings.TrimSpace(k); key == "" {
			return fmt.Errorf("%s: empty key", where("key"))
		}
	} else {
		for _, in := range b.keyInputs() {
			name := p.Inputs[in].Name
			text, ok := row.cell(name)
			if !ok {
				return fmt.Errorf("%s:%d: no key: give key (the rendered key of %q) or %s", b.t.path, row.line, lk.Template, name)
			}
			b.scratch.Present[in] = false
			if err := p.SetText(b.scratch, in, text); err != nil {
				return fmt.Errorf("%s: %s", where(name), fieldMsg(err))
			}
			if !b.scratch.Present[in] {
				return fmt.Errorf("%s: empty key input", where(name))
			}
		}
		key = string(p.AppendLookupKey(nil, b.li, b.scratch))
	}
	rec := snapRecord{line: row.line, num: make([]float64, len(lk.Fields)), str: make([]string, len(lk.Fields)), has: make([]bool, len(lk.Fields))}
	if b.t.timed {
		text, _ := row.cell("valid_from")
		if b.l.tsIn < 0 {
			return fmt.Errorf("%s: a point-in-time snapshot needs each row's time, and the policy has no `ts time` input", where("valid_from"))
		}
		b.scratch.Present[b.l.tsIn] = false
		if err := p.SetText(b.scratch, b.l.tsIn, text); err != nil {
			return fmt.Errorf("%s: %s", where("valid_from"), fieldMsg(err))
		}
		if !b.scratch.Present[b.l.tsIn] {
			return fmt.Errorf("%s: empty (every record of a point-in-time snapshot needs the time it took effect)", where("valid_from"))
		}
		rec.from = b.scratch.Num[p.Inputs[b.l.tsIn].Slot]
	}
	for j, f := range lk.Fields {
		text, ok := row.cell(b.cols[j])
		if !ok {
			continue
		}
		b.scratch.Present[f] = false
		if err := p.SetText(b.scratch, int(f), text); err != nil {
			return fmt.Errorf("%s: %s", where(b.cols[j]), fieldMsg(err))
		}
		if b.scratch.Present[f] {
			in := &p.Inputs[f]
			if in.Type == vm.TString {
				rec.str[j] = b.scratch.Str[in.Slot]
			} else {
				rec.num[j] = b.scratch.Num[in.Slot]
			}
			rec.has[j] = true
		}
	}
	b.t.byKey[key] = append(b.t.byKey[key], rec)
	return nil
}

// finish orders each key's history and refuses ambiguous records: two
// for one key without valid_from, or two with the same valid_from.
func (b *tableBuilder) finish() (*lookupTable, error) {
	for key, recs := range b.t.byKey {
		if len(recs) < 2 {
			continue
		}
		if !b.t.timed {
			return nil, fmt.Errorf("%s:%d: key %q is also at line %d; a file without valid_from holds one record per key", b.t.path, recs[1].line, key, recs[0].line)
		}
		sort.SliceStable(recs, func(i, j int) bool { return recs[i].from < recs[j].from })
		for i := 1; i < len(recs); i++ {
			if recs[i].from == recs[i-1].from {
				a, c := min(recs[i].line, recs[i-1].line), max(recs[i].line, recs[i-1].line)
				return nil, fmt.Errorf("%s:%d: key %q has a record with the same valid_from at line %d", b.t.path, c, key, a)
			}
		}
	}
	return b.t, nil
}

// fieldMsg is a conversion error without the features.NAME prefix,
// since the caller names the column.
func fieldMsg(err error) string {
	var fe *vm.FieldError
	if errors.As(err, &fe) {
		return fe.Msg
	}
	return err.Error()
}
