package dataset

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
)

const lookupPolicy = `policy lk version "1"
events apply
input {
  user  string
  dev   string
  acct  int default 0
  amount float >= 0
  ts    time
}
lookup profile = redis "profile:{user}" {
  fields  [segment string, limit float, missed int]
  ttl     5m
  timeout 10ms
}
lookup device = http "http://dev.internal/devices/{dev}" {
  fields  [rep float, seen time]
  ttl     1h
  timeout 10ms
}
lookup account = redis "acct:{acct}:{user}" {
  fields  [vip bool]
  ttl     1h
  timeout 10ms
}
rule over
  when exists(profile.limit) and amount > profile.limit
  emit review reason "over"
`

func lookupProgram(t *testing.T) *vm.Program {
	t.Helper()
	p, diags := compiler.CheckSource("lk.risk", []byte(lookupPolicy), compiler.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	prog, _, err := compiler.Compile(p, compiler.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// writeFiles writes name → content into a temporary directory and
// returns the directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// field reads an input of req as text ("-" when absent).
func field(prog *vm.Program, req *vm.Request, name string) string {
	i := prog.InputIndex(name)
	if i < 0 || !req.Present[i] {
		return "-"
	}
	in := &prog.Inputs[i]
	if in.Type == vm.TString {
		return req.Str[in.Slot]
	}
	return strconv.FormatFloat(req.Num[in.Slot], 'f', -1, 64)
}

// TestLookupFileErrors: every problem with a snapshot file is an error
// naming the file, its line and the column.
func TestLookupFileErrors(t *testing.T) {
	prog := lookupProgram(t)
	cases := []struct {
		name, spec, file, content, want string
	}{
		{"no such lookup", "prof=p.csv", "p.csv", "user,segment,limit,missed\n", `the policy has no lookup "prof" (its lookups: profile, device, account)`},
		{"bad spec", "profile", "p.csv", "", `want NAME=FILE`},
		{"missing file", "profile=nope.csv", "p.csv", "", `nope.csv: no such file`},
		{"declared field without column", "profile=p.csv", "p.csv", "user,segment,limit\nu1,gold,100\n", `p.csv:1: lookup profile declares field missed but the header has no column missed (or profile.missed)`},
		{"field given twice", "profile=p.csv", "p.csv", "user,segment,limit,missed,profile.limit\n", `p.csv:1: columns limit and profile.limit both give field profile.limit`},
		{"no key", "profile=p.csv", "p.csv", "segment,limit,missed\ngold,1,0\n", `p.csv:1: no key: add a column key (the rendered key of "profile:{user}") or a column user`},
		{"wrong type", "profile=p.csv", "p.csv", "user,segment,limit,missed\nu1,gold,100,0\nu2,gold,lots,0\n", `p.csv:3: column limit: must be a number, got "lots"`},
		{"int field with a fraction", "profile=p.csv", "p.csv", "user,segment,profile.limit,missed\nu1,gold,100,1.5\n", `p.csv:2: column missed: must be an integer, got 1.5`},
		{"int key input", "account=a.csv", "a.csv", "acct,user,vip\nx7,u1,true\n", `a.csv:2: column acct: must be a number, got "x7"`},
		{"bool", "account=a.csv", "a.csv", "acct,user,vip\n7,u1,maybe\n", `a.csv:2: column vip: must be a bool, got "maybe"`},
		{"duplicate key", "profile=p.csv", "p.csv", "user,segment,limit,missed\nu1,gold,1,0\nu2,gold,1,0\nu1,gold,2,0\n", `p.csv:4: key "profile:u1" is also at line 2; a file without valid_from holds one record per key`},
		{"same valid_from", "profile=p.csv", "p.csv", "user,valid_from,segment,limit,missed\nu1,2026-01-01T00:00:00Z,gold,1,0\nu1,1767225600,gold,2,0\n", `p.csv:3: key "profile:u1" has a record with the same valid_from at line 2`},
		{"bad valid_from", "profile=p.csv", "p.csv", "user,valid_from,segment,limit,missed\nu1,yesterday,gold,1,0\n", `p.csv:2: column valid_from: must be an RFC 3339 time or Unix seconds, got "yesterday"`},
		{"empty valid_from", "profile=p.csv", "p.csv", "user,valid_from,segment,limit,missed\nu1,,gold,1,0\n", `p.csv:2: column valid_from: empty`},
		{"empty key", "profile=p.csv", "p.csv", "key,segment,limit,missed\n,gold,1,0\n", `p.csv:2: column key: empty key`},
		{"ragged csv", "profile=p.csv", "p.csv", "user,segment,limit,missed\nu1,gold\n", `p.csv: record on line 2: wrong number of fields`},
		{"jsonl not an object", "device=d.jsonl", "d.jsonl", `{"dev":"d1","rep":0.5,"seen":null}` + "\n[1,2]\n", `d.jsonl:2: not a JSON object`},
		{"jsonl nested value", "device=d.jsonl", "d.jsonl", `{"dev":"d1","rep":{"v":1},"seen":null}` + "\n", `d.jsonl:1: column rep: an object or array is not a field value`},
		{"jsonl wrong type", "device=d.jsonl", "d.jsonl", "\n" + `{"dev":"d1","rep":"high","seen":null}` + "\n", `d.jsonl:2: column rep: must be a number, got "high"`},
		{"jsonl field never given", "device=d.jsonl", "d.jsonl", `{"dev":"d1","rep":0.5}` + "\n", `d.jsonl: lookup device declares field seen but no line has a member seen (or device.seen)`},
		{"jsonl valid_from on some lines", "device=d.jsonl", "d.jsonl", `{"dev":"d1","rep":0.5,"seen":1,"valid_from":1}` + "\n" + `{"dev":"d2","rep":0.5,"seen":1}` + "\n", `d.jsonl:2: valid_from must be on every line or on none`},
		{"jsonl no key", "device=d.jsonl", "d.jsonl", `{"rep":0.5,"seen":1}` + "\n", `d.jsonl:1: no key: give key (the rendered key of "http://dev.internal/devices/{dev}") or dev`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{c.file: c.content})
			name, path, _ := strings.Cut(c.spec, "=")
			spec := name
			if path != "" {
				spec += "=" + filepath.Join(dir, path)
			}
			_, err := OpenLookups(prog, []string{spec})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v\nwant an error containing %q", err, c.want)
			}
		})
	}
	dir := writeFiles(t, map[string]string{"p.csv": "user,segment,limit,missed\n"})
	p := filepath.Join(dir, "p.csv")
	if _, err := OpenLookups(prog, []string{"profile=" + p, "profile=" + p}); err == nil || !strings.Contains(err.Error(), "lookup profile already reads") {
		t.Fatalf("the same lookup twice: %v", err)
	}
}

// readWith reads data (CSV) with the given snapshots and returns, per row,
// the named fields as text joined by spaces.
func readWith(t *testing.T, prog *vm.Program, data string, specs []string, fields ...string) ([]string, *Lookups) {
	t.Helper()
	lk, err := OpenLookups(prog, specs)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(strings.NewReader(data), "data.csv", prog, Options{Event: "apply", Lookups: lk})
	if err != nil {
		t.Fatal(err)
	}
	reqs, _, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, req := range reqs {
		var vals []string
		for _, f := range fields {
			vals = append(vals, field(prog, req, f))
		}
		rows = append(rows, strings.Join(vals, " "))
	}
	return rows, lk
}

// TestLookupFilePointInTime: with valid_from each row reads the latest
// record in effect at its ts; before a key's first record it finds none.
// The snapshot's rows need not be in time order, and its values replace
// what the data carries.
func TestLookupFilePointInTime(t *testing.T) {
	prog := lookupProgram(t)
	dir := writeFiles(t, map[string]string{"p.csv": "user,valid_from,segment,profile.limit,missed\n" +
		"u1,2026-01-10T00:00:00Z,gold,500,\n" +
		"u1,2026-01-01T00:00:00Z,silver,100,2\n" +
		"u2,1767225600,bronze,,0\n"})
	data := "user,dev,amount,ts,profile.limit\n" +
		"u1,d,1,2025-12-31T23:59:59Z,999\n" + // before u1's first record
		"u1,d,1,2026-01-01T00:00:00Z,999\n" + // the instant it takes effect
		"u1,d,1,2026-01-09T23:59:59Z,\n" +
		"u1,d,1,2026-01-10T00:00:00Z,\n" +
		"u1,d,1,2027-01-01T00:00:00Z,\n" +
		"u2,d,1,2026-06-01T00:00:00Z,7\n" + // a record without limit
		"u3,d,1,2026-06-01T00:00:00Z,7\n" // no record
	rows, lk := readWith(t, prog, data, []string{"profile=" + filepath.Join(dir, "p.csv")}, "profile.segment", "profile.limit", "profile.missed")
	want := []string{"- - -", "silver 100 2", "silver 100 2", "gold 500 -", "gold 500 -", "bronze - 0", "- - -"}
	if strings.Join(rows, "|") != strings.Join(want, "|") {
		t.Fatalf("got  %q\nwant %q", rows, want)
	}
	c := lk.Counts()
	if c[0] != (LookupCount{Name: "profile", File: filepath.Join(dir, "p.csv"), Rows: 7, Found: 5}) {
		t.Errorf("profile count %+v, want 5 of 7 found", c[0])
	}
	// device has no file and the data no device.* column: nothing found;
	// account likewise.
	if c[1].Found != 0 || c[1].Rows != 7 || c[1].File != "" {
		t.Errorf("device count %+v", c[1])
	}

	// A policy without ts cannot join by valid_from.
	src := strings.Replace(lookupPolicy, "  ts    time\n", "", 1)
	p, diags := compiler.CheckSource("lk.risk", []byte(src), compiler.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	noTS, _, err := compiler.Compile(p, compiler.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLookups(noTS, []string{"profile=" + filepath.Join(dir, "p.csv")}); err == nil || !strings.Contains(err.Error(), "p.csv:2: column valid_from: a point-in-time snapshot needs each row's time, and the policy has no `ts time` input") {
		t.Fatalf("valid_from without ts: %v", err)
	}
}

// TestLookupFileJSONL: a JSON Lines snapshot keyed by the template's
// input, its string values path-escaped into the URL as riskd does;
// null and a missing member are a field the record lacks.
func TestLookupFileJSONL(t *testing.T) {
	prog := lookupProgram(t)
	dir := writeFiles(t, map[string]string{"d.jsonl": `{"dev":"d 1/x","rep":0.25,"seen":"2026-01-01T00:00:00Z"}` + "\n\n" +
		`{"dev":"d2","device.rep":1,"seen":null}` + "\n" +
		`{"dev":"d3","note":"no fields at all"}` + "\n"})
	data := "user,dev,amount,ts\nu,d 1/x,1,1\nu,d2,1,1\nu,d3,1,1\nu,d4,1,1\n"
	rows, lk := readWith(t, prog, data, []string{"device=" + filepath.Join(dir, "d.jsonl")}, "device.rep", "device.seen")
	want := []string{"0.25 1767225600", "1 -", "- -", "- -"}
	if strings.Join(rows, "|") != strings.Join(want, "|") {
		t.Fatalf("got  %q\nwant %q", rows, want)
	}
	if c := lk.Counts()[1]; c.Found != 3 || c.Rows != 4 {
		t.Errorf("device count %+v, want 3 of 4 (d3's record exists without fields)", c)
	}
	// The key riskd fetches for d 1/x is the escaped URL.
	req := prog.NewRequest()
	req.Str[prog.Inputs[prog.InputIndex("dev")].Slot] = "d 1/x"
	if k := string(prog.AppendLookupKey(nil, 1, req)); k != "http://dev.internal/devices/d%201%2Fx" {
		t.Errorf("http key %q", k)
	}
}

// TestLookupFileKeyColumn: a key column holds the rendered key (for an
// http lookup, the URL), and wins over template inputs in the same
// file; an int key input is rendered in decimal, so 007 and 7 meet.
func TestLookupFileKeyColumn(t *testing.T) {
	prog := lookupProgram(t)
	dir := writeFiles(t, map[string]string{
		"d.csv": "key,dev,rep,seen\nhttp://dev.internal/devices/d%201%2Fx,ignored,0.5,\n",
		"a.csv": "acct,user,account.vip\n007,u1,true\n8,u1,false\n",
		"p.csv": "key,segment,limit,missed\nprofile:u1,gold,10,1\n",
	})
	data := "user,dev,acct,amount,ts\nu1,d 1/x,7,1,1\nu1,ignored,8,1,1\nu2,d,9,1,1\n"
	specs := []string{"device=" + filepath.Join(dir, "d.csv"), "account=" + filepath.Join(dir, "a.csv"), "profile=" + filepath.Join(dir, "p.csv")}
	rows, lk := readWith(t, prog, data, specs, "device.rep", "account.vip", "profile.segment")
	want := []string{"0.5 1 gold", "- 0 gold", "- - -"}
	if strings.Join(rows, "|") != strings.Join(want, "|") {
		t.Fatalf("got  %q\nwant %q", rows, want)
	}
	for _, c := range lk.Counts() {
		if c.Rows != 3 {
			t.Errorf("%+v: want 3 rows", c)
		}
	}
}

// TestLookupFileDataColumns: without a file a lookup's fields come from
// the data's LOOKUP.FIELD columns, and the count says how many rows
// carried any of them.
func TestLookupFileDataColumns(t *testing.T) {
	prog := lookupProgram(t)
	data := "user,dev,amount,ts,profile.limit,profile.segment\nu1,d,1,1,5,\nu2,d,1,1,,gold\nu3,d,1,1,,\n"
	rows, lk := readWith(t, prog, data, nil, "profile.limit", "profile.segment")
	if want := "5 -|- gold|- -"; strings.Join(rows, "|") != want {
		t.Fatalf("got %q, want %q", rows, want)
	}
	if c := lk.Counts()[0]; c.Found != 2 || c.Rows != 3 || c.File != "" {
		t.Errorf("profile count %+v", c)
	}
}

// TestLookupFileFailedColumn: a history that records failed fetches in a
// failed(LOOKUP) column replays them: the row reads no record although
// the snapshot has one, as serving read the fields absent.
func TestLookupFileFailedColumn(t *testing.T) {
	src := lookupPolicy + "rule down\n  when failed(profile)\n  emit review reason \"down\"\n"
	p, diags := compiler.CheckSource("lk.risk", []byte(src), compiler.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	prog, _, err := compiler.Compile(p, compiler.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string]string{"p.csv": "user,segment,limit,missed\nu1,gold,10,0\n"})
	data := "user,dev,amount,ts,failed(profile)\nu1,d,1,1,true\nu1,d,1,1,false\nu1,d,1,1,\n"
	rows, lk := readWith(t, prog, data, []string{"profile=" + filepath.Join(dir, "p.csv")}, "failed(profile)", "profile.segment")
	if want := "1 -|0 gold|0 gold"; strings.Join(rows, "|") != want {
		t.Fatalf("got %q, want %q", rows, want)
	}
	if c := lk.Counts()[0]; c.Found != 2 || c.Rows != 3 {
		t.Errorf("profile count %+v: the failed fetch found nothing", c)
	}
}
