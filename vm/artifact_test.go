package vm_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
)

// allConstructs uses every construct of the language: a file list, inline
// lists, a model, windows, lets, forced and score rules, fixed numbers and
// a decide block.
const allConstructs = "testdata/allconstructs.risk"

// compileFile checks and compiles a policy; ok is false when it has errors.
func compileFile(t testing.TB, path string) (p *vm.Program, ok bool) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pol, diags := compiler.CheckSource(path, src, compiler.Options{})
	if diags.HasErrors() {
		t.Logf("%s does not check:\n%v", path, diags)
		return nil, false
	}
	prog, _, err := compiler.Compile(pol, compiler.CompileOptions{})
	if err != nil {
		t.Logf("%s does not compile: %v", path, err)
		return nil, false
	}
	return prog, true
}

// testPolicies compiles the test policy (which must compile) and every
// example that currently compiles.
func testPolicies(t testing.TB) map[string]*vm.Program {
	t.Helper()
	progs := map[string]*vm.Program{}
	p, ok := compileFile(t, allConstructs)
	if !ok {
		t.Fatalf("%s must compile", allConstructs)
	}
	progs[allConstructs] = p
	examples, _ := filepath.Glob("../examples/*/*.risk")
	for _, path := range examples {
		if p, ok := compileFile(t, path); ok {
			progs[path] = p
		}
	}
	return progs
}

func marshal(t testing.TB, p *vm.Program) []byte {
	t.Helper()
	data, err := p.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	return data
}

// exportedEqual compares the exported fields of two programs and names
// the first that differs.
func exportedEqual(a, b *vm.Program) (string, bool) {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := 0; i < va.NumField(); i++ {
		f := va.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return f.Name, false
		}
	}
	return "", true
}

func disasm(p *vm.Program) string {
	var b strings.Builder
	vm.Disassemble(&b, p)
	return b.String()
}

// fullRequest returns a request for p with every input present (zero
// values) for the given event.
func fullRequest(p *vm.Program, event string) *vm.Request {
	req := p.NewRequest()
	req.Event = event
	req.Time = 1e9
	for i := range req.Present {
		req.Present[i] = true
	}
	return req
}

func TestArtifactRoundTrip(t *testing.T) {
	progs := testPolicies(t)
	if _, ok := progs["../examples/loan/loan.risk"]; !ok {
		t.Log("the loan example does not compile at the moment; round trip covers the others")
	}
	for path, p := range progs {
		t.Run(path, func(t *testing.T) {
			data := marshal(t, p)
			t.Logf("%s: %d bytes", path, len(data))
			q, err := vm.Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if field, ok := exportedEqual(p, q); !ok {
				t.Fatalf("field %s differs after the round trip:\n got %#v\nwant %#v", field,
					reflect.ValueOf(q).Elem().FieldByName(field), reflect.ValueOf(p).Elem().FieldByName(field))
			}
			if a, b := disasm(p), disasm(q); a != b {
				t.Errorf("disassembly differs after the round trip:\n%s\n----\n%s", a, b)
			}
			if again := marshal(t, q); !bytes.Equal(again, data) {
				t.Error("re-marshalling the decoded program gives different bytes")
			}
			// Same decisions from both.
			events := append([]string{""}, p.Events...)
			for _, ev := range events {
				d1, err1 := p.NewMachine().Eval(fullRequest(p, ev))
				d2, err2 := q.NewMachine().Eval(fullRequest(q, ev))
				if (err1 == nil) != (err2 == nil) {
					t.Fatalf("event %q: errors differ: %v vs %v", ev, err1, err2)
				}
				if err1 == nil && (d1.Action != d2.Action || d1.Score != d2.Score || len(d1.Fired) != len(d2.Fired)) {
					t.Errorf("event %q: decisions differ: %+v vs %+v", ev, d1, d2)
				}
			}
		})
	}
}

func TestArtifactCoversEveryConstruct(t *testing.T) {
	p, _ := compileFile(t, allConstructs)
	switch {
	case len(p.Events) == 0, len(p.Inputs) == 0, len(p.Params) == 0, len(p.NumConsts) == 0, len(p.StrConsts) == 0,
		len(p.Lists) < 3, len(p.Models) == 0, len(p.Windows) == 0, len(p.Rules) == 0, len(p.Decide.Cuts) == 0,
		p.TimeSlot < 0, p.StrSlots == 0:
		t.Fatalf("%s no longer exercises every part of a Program: %s", allConstructs, p)
	}
	if p.Lists[0].Digest == ([32]byte{}) || p.Models[0].Digest == ([32]byte{}) {
		t.Error("expected digests for the list file and the model file")
	}
}

func TestDecodeTruncated(t *testing.T) {
	p, _ := compileFile(t, allConstructs)
	data := marshal(t, p)
	for n := 0; n < len(data); n++ {
		_, err := vm.Decode(data[:n])
		if err == nil {
			t.Fatalf("Decode of the first %d of %d bytes succeeded", n, len(data))
		}
		if !strings.HasPrefix(err.Error(), "artifact: truncated") {
			t.Fatalf("Decode of the first %d bytes: got %q, want a truncation error", n, err)
		}
	}
	_, err := vm.Decode(data[:100])
	want := "artifact: truncated (file has 100 bytes, its header says"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want %s…", err, want)
	}
}

func TestDecodeEveryByteFlipped(t *testing.T) {
	p, _ := compileFile(t, allConstructs)
	data := marshal(t, p)
	bad := bytes.Clone(data)
	for i := range bad {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad[i] ^= mask
			if _, err := vm.Decode(bad); err == nil {
				t.Fatalf("Decode succeeded with byte %d xor %#x", i, mask)
			}
			bad[i] ^= mask
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	p, _ := compileFile(t, allConstructs)
	data := marshal(t, p)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(data)) }
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "artifact: truncated (0 bytes, too short for the header)"},
		{"magic only", []byte("RFB"), "artifact: truncated (3 bytes, too short for the header)"},
		{"not an artifact", []byte("policy x version \"1\"\n"), "artifact: bad magic (not a Riskforge artifact)"},
		{"short junk", []byte("{}"), "artifact: bad magic (not a Riskforge artifact)"},
		{"bad magic", edit(func(b []byte) []byte { b[0] = 'X'; return b }), "artifact: bad magic (not a Riskforge artifact)"},
		{"future version", edit(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[4:], 7); return b }),
			"artifact: format version 7 is not supported (this build reads version 3)"},
		{"checksum tampered", edit(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "artifact: checksum mismatch (file is corrupted)"},
		{"body tampered", edit(func(b []byte) []byte { b[len(b)/2] ^= 1; return b }), "artifact: checksum mismatch (file is corrupted)"},
		{"trailing bytes", edit(func(b []byte) []byte { return append(b, '\n') }), "artifact: 1 unexpected bytes after the end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vm.Decode(tt.data)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v\nwant %s", err, tt.want)
			}
		})
	}
}

// TestDecodeBadPrograms seals well-formed artifacts (valid checksum) that
// hold programs Decode must reject.
func TestDecodeBadPrograms(t *testing.T) {
	orig, _ := compileFile(t, allConstructs)
	data := marshal(t, orig)
	fresh := func() *vm.Program {
		p, err := vm.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name   string
		mutate func(p *vm.Program)
		want   string
	}{
		{"no halt", func(p *vm.Program) { p.Code[len(p.Code)-1].Op = vm.NOP },
			"artifact: invalid program: code must end with halt"},
		{"operand out of range", func(p *vm.Program) {
			for i, in := range p.Code {
				if in.Op == vm.PUSHK {
					p.Code[i].A = uint32(len(p.NumConsts))
					return
				}
			}
		}, "artifact: invalid program: pc "},
		{"illegal opcode", func(p *vm.Program) { p.Code[0].Op = 200 }, "artifact: invalid program: pc 0 (illegal): illegal opcode"},
		{"short line table", func(p *vm.Program) { p.Lines = p.Lines[1:] }, "artifact: invalid program: line table does not match code"},
		{"bad input type", func(p *vm.Program) { p.Inputs[0].Type = 9 }, "artifact: invalid program: input "},
		{"bad action", func(p *vm.Program) { p.Decide.Otherwise = 3 }, "artifact: invalid program: decide: bad bias or otherwise"},
		{"source edited", func(p *vm.Program) { p.Source += " " }, "artifact: the embedded source does not match its SHA-256"},
		{"huge slot count", func(p *vm.Program) { p.NumSlots = 1 << 31 }, "artifact: invalid program: 2147"},
		{"rule ends at the end of code", func(p *vm.Program) { p.Rules[0].End = uint32(len(p.Code)) },
			"artifact: invalid program: rule 0 "},
		{"rule ends before it starts", func(p *vm.Program) { p.Rules[len(p.Rules)-1].End = 0 },
			"artifact: invalid program: pc "},
		{"backward jump", func(p *vm.Program) { p.Code[len(p.Code)-2] = vm.Instr{Op: vm.JMP, A: 0} },
			"artifact: invalid program: pc "},
		{"unknown param kind", func(p *vm.Program) { p.Params[0].Kind = 4 }, "artifact: bad params: param "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fresh()
			tt.mutate(p)
			_, err := vm.Decode(vm.SealForTest(p))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v\nwant %s…", err, tt.want)
			}
			if _, err := p.MarshalBinary(); err == nil {
				t.Error("MarshalBinary wrote an artifact that does not load")
			}
		})
	}
}

// TestDecodeHugeLengths checks that a length or count larger than the
// input is an error found before anything is allocated.
func TestDecodeHugeLengths(t *testing.T) {
	huge := binary.AppendUvarint(nil, 1<<62)
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"empty body", nil, "artifact: truncated while reading header"},
		{"huge name", huge, "artifact: truncated while reading header"},
		{"varint overflow", bytes.Repeat([]byte{0xff}, 11), "artifact: bad header: number overflows 64 bits"},
		{"huge event count", append(bytes.Repeat([]byte{0}, 4+32), huge...), "artifact: truncated while reading events"},
		{"unterminated varint", append(bytes.Repeat([]byte{0}, 4+32), 0x80), "artifact: truncated while reading events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(1, func() { vm.Decode(vm.SealBodyForTest(tt.body)) })
			_, err := vm.Decode(vm.SealBodyForTest(tt.body))
			if err == nil || err.Error() != tt.want {
				t.Errorf("got %v\nwant %s", err, tt.want)
			}
			if allocs > 20 {
				t.Errorf("%v allocations for a tiny corrupted artifact", allocs)
			}
		})
	}
	// A well-formed prefix, then an input whose optional flag is 2.
	body := append(bytes.Repeat([]byte{0}, 4), sha256.New().Sum(nil)...) // empty strings, SHA-256 of ""
	body = append(body, 1, 1, 'e', 1)                                    // events: ["e"], declared
	body = append(body, 1, 1, 'x', byte(vm.TInt), 0, 2)                  // inputs: x int slot 0, optional 2
	body = append(body, make([]byte, 32)...)
	want := "artifact: bad inputs: invalid boolean 2"
	if _, err := vm.Decode(vm.SealBodyForTest(body)); err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// reseal replaces data's header length and trailing checksum, so that
// fuzzed mutations reach the body decoder and the verifier instead of
// stopping at the checksum.
func reseal(data []byte) []byte {
	const header, sum = 10, sha256.Size
	if len(data) < header+sum || string(data[:4]) != vm.ArtifactMagic {
		return nil
	}
	return vm.SealBodyForTest(data[header : len(data)-sum])
}

// exercise runs what a loaded artifact is used for; none of it may panic.
func exercise(t *testing.T, p *vm.Program) {
	vm.Disassemble(io.Discard, p)
	data, err := p.MarshalBinary()
	if err != nil {
		t.Fatalf("a decoded program does not marshal: %v", err)
	}
	if _, err := vm.Decode(data); err != nil {
		t.Fatalf("a re-marshalled program does not decode: %v", err)
	}
	events := p.Events
	if len(events) > 4 {
		events = events[:4]
	}
	for _, ev := range append([]string{""}, events...) {
		req := fullRequest(p, ev)
		p.Complete(req)
		m := p.NewMachine()
		m.Eval(req)
		m.Trace = true
		req.Present = make([]bool, len(p.Inputs)) // every input absent
		m.Eval(req)
	}
}

func FuzzDecode(f *testing.F) {
	progs := testPolicies(f)
	for _, p := range progs {
		data, err := p.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for _, n := range []int{0, 3, 4, 6, 10, 11, 50, len(data) / 4, len(data) / 2, len(data) - 33, len(data) - 1} {
			f.Add(data[:n])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, reseal(data)} {
			p, err := vm.Decode(in)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "artifact: ") {
					t.Fatalf("error without the artifact: prefix: %v", err)
				}
				continue
			}
			exercise(t, p)
		}
	})
}

// TestArtifactSectionRoundTrip round-trips every section of the artifact
// body alone, on the test policy and the examples, which between them use
// every construct: the section's bytes decode without error, to the end,
// into fields that encode to the same bytes (a decoder that drops or
// misreads a field fails here, naming the section). Every section must be
// exercised by some policy: its bytes differ from an empty program's.
func TestArtifactSectionRoundTrip(t *testing.T) {
	progs := testPolicies(t)
	for i, name := range vm.ArtifactSections() {
		t.Run(name, func(t *testing.T) {
			exercised := false
			for path, p := range progs {
				enc, again, empty, err := vm.SectionRoundTrip(p, i)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				if !bytes.Equal(enc, again) {
					t.Errorf("%s: section %s decodes to a program that encodes differently:\n% x\n% x", path, name, enc, again)
				}
				exercised = exercised || !bytes.Equal(enc, empty)
			}
			if !exercised {
				t.Errorf("no test policy exercises section %s", name)
			}
		})
	}
}
