package compiler

import (
	"crypto/sha256"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// checkErr checks src and returns its diagnostics as one string ("" when
// there is no error; warnings are left out).
func checkErr(t *testing.T, src string) string {
	t.Helper()
	_, diags := CheckSource("t.risk", []byte(src), Options{})
	if !diags.HasErrors() {
		return ""
	}
	return diags.Error()
}

// TestVariadicArity: min and max take 2 to maxVariadic (64) arguments;
// 64 compile, 65 are refused with the limit named.
func TestVariadicArity(t *testing.T) {
	args := func(n int) string { return strings.TrimSuffix(strings.Repeat("amount, ", n), ", ") }
	for _, fn := range []string{"min", "max"} {
		for n, want := range map[int]string{
			1:  fn + " takes at least 2 arguments, got 1",
			2:  "",
			64: "",
			65: fn + " takes at most 64 arguments, got 65",
		} {
			got := checkErr(t, prelude+"rule r\n  when "+fn+"("+args(n)+") > 1\n  emit review reason \"x\"\n")
			if want == "" && got != "" || !strings.Contains(got, want) {
				t.Errorf("%s with %d arguments: %q, want %q", fn, n, got, want)
			}
		}
	}
}

// TestInputBoundsOpen: `>` and `<` make open bounds, `>=`, `<=` and
// between closed ones, in the compiled program's input table (which the
// VM enforces); an input without bounds is unbounded both ways.
func TestInputBoundsOpen(t *testing.T) {
	src := "policy t version \"1\"\ninput {\n  a float > 1\n  b float >= 2\n  c float < 3\n  d float <= 4\n  e float between 5 and 6\n  f float > 7 < 8\n  g int\n}\n" +
		"rule r\n  when a + b + c + d + e + f + g > 1\n  emit review reason \"x\"\n"
	prog := compileSource(t, src)
	inf := math.Inf(1)
	want := []struct {
		min, max         float64
		minOpen, maxOpen bool
	}{
		{1, inf, true, false},
		{2, inf, false, false},
		{-inf, 3, false, true},
		{-inf, 4, false, false},
		{5, 6, false, false},
		{7, 8, true, true},
		{-inf, inf, false, false},
	}
	for i, w := range want {
		in := prog.Inputs[i]
		if in.Min != w.min || in.Max != w.max || in.MinOpen != w.minOpen || in.MaxOpen != w.maxOpen {
			t.Errorf("input %s: min %v (open %v) max %v (open %v), want %+v", in.Name, in.Min, in.MinOpen, in.Max, in.MaxOpen, w)
		}
	}
}

// TestLookupFailedInputUnbounded: the hidden bool input behind
// failed(LOOKUP) is unbounded, like every input declared without bounds.
func TestLookupFailedInputUnbounded(t *testing.T) {
	src := "policy t version \"1\"\ninput {\n  user_id string\n}\n" +
		"lookup profile = redis \"p:{user_id}\" {\n  fields [limit float]\n  ttl 5m\n  timeout 10ms\n  on_error absent\n}\n" +
		"rule r\n  when failed(profile)\n  emit review reason \"x\"\n"
	prog := compileSource(t, src)
	found := false
	for _, in := range prog.Inputs {
		if !math.IsInf(in.Min, -1) || !math.IsInf(in.Max, 1) {
			t.Errorf("input %s: bounds [%v, %v], want unbounded", in.Name, in.Min, in.Max)
		}
		found = found || in.Name == "failed(profile)"
	}
	if !found {
		t.Errorf("no failed(profile) input among %+v", prog.Inputs)
	}
}

// TestModelTimeoutRange: a model's timeout is more than 0 and at most 10s.
func TestModelTimeoutRange(t *testing.T) {
	const msg = "model timeout must be between 1ms and 10s"
	for timeout, want := range map[string]string{"0ms": msg, "1ms": "", "10s": "", "10001ms": msg} {
		src := prelude + "model m = onnx \"m.onnx\" {\n  inputs [amount]\n  output \"p\" [1]\n  timeout " + timeout + "\n  on_error 0.5\n}\n" +
			"rule r\n  when m > 0.5\n  emit review reason \"x\"\n"
		if got := checkErr(t, src); want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("timeout %s: %q, want %q", timeout, got, want)
		}
	}
}

// TestWindowArgumentInputsOnly: a window's argument, like its where
// condition, may only use inputs: windows are fed from events, before
// lets and models are evaluated.
func TestWindowArgumentInputsOnly(t *testing.T) {
	for arg, want := range map[string]string{
		"sum(amount)":     "",
		"sum(double)":     `window arguments may only use inputs; "double" is a let`,
		"sum(amount * 2)": "",
		"sum(double + 1)": `window arguments may only use inputs; "double" is a let`,
	} {
		src := prelude + "let double = amount * 2\nwindow w = " + arg + " over 1h by name\nrule r\n  when w > double\n  emit review reason \"x\"\n"
		if got := checkErr(t, src); want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", arg, got, want)
		}
	}
}

// TestInstructionLines: each instruction carries the source line of the
// expression it was compiled from (traces and the disassembly print it),
// also inside a let and when a condition spans lines; an operator's
// instruction, emitted after its operands, carries its last operand's.
func TestInstructionLines(t *testing.T) {
	src := prelude + // 14 lines
		"let big = amount >\n" + // 15
		"  100\n" + // 16
		"rule r\n" + // 17
		"  when flag and\n" + // 18
		"    big\n" + // 19
		"  emit review reason \"x\"\n"
	prog := compileSource(t, src)
	var got []string
	for pc, in := range prog.Code {
		got = append(got, fmt.Sprintf("%v@%d", in.Op, prog.Lines[pc]))
	}
	want := "loadf@15 param@16 gt@16 storef@16 rule@17 loadf@18 jf@18 loadf@19 fire@19 halt@19"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("instructions and lines:\n got %s\nwant %s", g, want)
	}
}

// TestLookupKeyTemplate: a key template compiles to literal text and
// input holes, which build the key riskd fetches by; an int input is
// written in decimal. Bad templates are refused at the key.
func TestLookupKeyTemplate(t *testing.T) {
	head := "policy t version \"1\"\ninput {\n  user string\n  n int\n  x float\n  o string optional\n}\n"
	rule := "rule r\n  when exists(k.f) and k.f > 1\n  emit review reason \"x\"\n"
	for key, want := range map[string]string{
		"p:{user}":           "p:ann",
		"{user}":             "ann",
		"{user}:s":           "ann:s",
		"a{user}b{n}c":       "aannb42c",
		"{user}{n}":          "ann42",
		"{n}":                "42",
		"p:{user":            `error: lookup key "p:{user": '{' without '}'`,
		"p:{x}":              `error: lookup key "p:{x}": {x} is float; a key is built from string or int inputs`,
		"p:{o}":              `error: lookup key "p:{o}": {o} is optional`,
		"p:{nope}":           `error: lookup key "p:{nope}": {nope} is not an input`,
		"static":             `error: lookup key "static" has no {input}`,
		"{user}{user}{n}{n}": "annann4242",
	} {
		src := head + "lookup k = redis \"" + key + "\" {\n  fields [f float]\n  ttl 5m\n  timeout 10ms\n}\n" + rule
		p, diags := CheckSource("t.risk", []byte(src), Options{})
		if strings.HasPrefix(want, "error: ") {
			if !strings.Contains(diags.Error(), want) {
				t.Errorf("%s: %v, want %q", key, diags, want)
			}
			continue
		}
		if diags.HasErrors() {
			t.Errorf("%s: %v", key, diags)
			continue
		}
		prog, _, err := Compile(p, CompileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		req := prog.NewRequest()
		if err := prog.SetString(req, 0, "ann"); err != nil {
			t.Fatal(err)
		}
		if err := prog.SetNumber(req, 1, 42); err != nil {
			t.Fatal(err)
		}
		if got := string(prog.AppendLookupKey(nil, 0, req)); got != want {
			t.Errorf("%s: key %q, want %q", key, got, want)
		}
	}
}

// TestTimeSlot: the event time is the required `ts time` input when the
// policy has one, and otherwise none (-1: the VM uses the request's time).
func TestTimeSlot(t *testing.T) {
	for inputs, want := range map[string]int32{
		"  a float\n  b float\n":              -1,
		"  a float\n  ts time\n":              1,
		"  a float\n  b float\n  ts string\n": -1,
		"  a float\n  ts time optional\n":     -1,
	} {
		src := "policy t version \"1\"\ninput {\n" + inputs + "}\nrule r\n  when a > 1\n  emit review reason \"x\"\n"
		prog := compileSource(t, src)
		if prog.TimeSlot != want {
			t.Errorf("inputs %q: time slot %d, want %d", inputs, prog.TimeSlot, want)
		}
	}
}

// TestCompiledTables: what the lowerer writes into the program's window
// and model tables. A window's where condition is kept as text (the
// window store keys a window's state by its definition, where included);
// a model carries its output index and the SHA-256 of its file when the
// file can be read (the zero digest when it cannot).
func TestCompiledTables(t *testing.T) {
	src := prelude +
		"window big = count() over 1h by name where amount > 100\nwindow all = count() over 1h by name\n" +
		"model m = onnx \"m.onnx\" {\n  inputs [amount]\n  output \"p\" [2]\n  timeout 10ms\n  on_error 0.5\n}\n" +
		"model n = onnx \"gone.onnx\" {\n  inputs [amount]\n  output \"p\"\n  timeout 10ms\n  on_error 0.5\n}\n" +
		"rule r\n  when big > 1 and all > 1 and m > 0.5 and n > 0.5\n  emit review reason \"x\"\n"
	p, diags := CheckSource("dir/t.risk", []byte(src), Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	read := func(path string) ([]byte, error) {
		if path == "dir/m.onnx" {
			return []byte("model bytes"), nil
		}
		return nil, os.ErrNotExist
	}
	prog, _, err := Compile(p, CompileOptions{ReadFile: read})
	if err != nil {
		t.Fatal(err)
	}
	if w := prog.Windows; w[0].Where != "amount > 100" || w[1].Where != "" {
		t.Errorf("where texts %q, %q", w[0].Where, w[1].Where)
	}
	m, n := prog.Models[0], prog.Models[1]
	if m.Index != 2 || m.Digest != sha256.Sum256([]byte("model bytes")) {
		t.Errorf("model m: index %d digest %x", m.Index, m.Digest)
	}
	if n.Index != 0 || n.Digest != ([32]byte{}) {
		t.Errorf("model n: index %d digest %x", n.Index, n.Digest)
	}
}

// TestParseListFile: one entry a line, trimmed; blank lines and lines
// starting with # are skipped.
func TestParseListFile(t *testing.T) {
	got := ParseListFile([]byte("a\n\n  b  \n# note\n#\nc # not a comment\n\t\n d"))
	if g := strings.Join(got, "|"); g != "a|b|c # not a comment|d" {
		t.Errorf("entries %q", g)
	}
}
