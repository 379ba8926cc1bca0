package lang

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/internal/golden"
)

// TestFormatGolden formats every testdata/fmt/*.risk and compares the
// result with the .golden file next to it (go test ./lang -update
// rewrites them).
func TestFormatGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "fmt", "*.risk"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs found: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src := readFile(t, in)
			f, err := Parse(in, src)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got := Format(f)
			goldenFile := strings.TrimSuffix(in, ".risk") + ".golden"
			if want := golden.Want(t, goldenFile, got); !bytes.Equal(got, want) {
				t.Errorf("Format(%s) differs from %s:\n%s", in, goldenFile, lineDiff(string(want), string(got)))
			}
			checkRoundTrip(t, in, src)
		})
	}
}

// TestFormatRoundTrip checks every policy of the repository that parses:
// formatting keeps the tree and the comments, and is idempotent.
func TestFormatRoundTrip(t *testing.T) {
	files := corpusFiles(t)
	if len(files) == 0 {
		t.Fatal("no .risk files found")
	}
	checked := 0
	for _, path := range files {
		src := readFile(t, path)
		if _, err := Parse(path, src); err != nil {
			continue // intentional syntax errors in compiler testdata
		}
		checked++
		t.Run(path, func(t *testing.T) { checkRoundTrip(t, path, src) })
	}
	t.Logf("round-tripped %d of %d .risk files", checked, len(files))
}

// FuzzFormat checks that for any input that parses, formatting does not
// panic, keeps the tree and the comments, and is idempotent. Seeds are the
// repository's small policies and every declaration of all of them: small
// seeds keep the minimisation of new inputs quick.
func FuzzFormat(f *testing.F) {
	for _, path := range corpusFiles(f) {
		src := readFile(f, path)
		if len(src) <= 2048 {
			f.Add(src)
		}
		for _, chunk := range declChunks(src) {
			f.Add(chunk)
		}
	}
	f.Add([]byte("policy p\nlet a = - -2 # c\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 1<<16 {
			return
		}
		if _, err := Parse("fuzz.risk", src); err != nil {
			return
		}
		checkRoundTrip(t, "fuzz.risk", src)
	})
}

// declChunks splits src before each line that starts with a top-level
// keyword, so each declaration (with the comments before it) is a seed.
func declChunks(src []byte) [][]byte {
	var chunks [][]byte
	start := 0
	lines := bytes.SplitAfter(src, []byte("\n"))
	off := 0
	for _, line := range lines {
		word, _, _ := strings.Cut(string(line), " ")
		if off > start && topKeywords[strings.TrimSpace(word)] {
			chunks = append(chunks, src[start:off])
			start = off
		}
		off += len(line)
	}
	return append(chunks, src[start:])
}

// checkRoundTrip asserts Dump(Parse(Format(Parse(src)))) == Dump(Parse(src)),
// comment texts kept in order, a clean ending, and idempotence.
func checkRoundTrip(t testing.TB, name string, src []byte) {
	t.Helper()
	f, err := Parse(name, src)
	if err != nil {
		t.Fatalf("parse input: %v", err)
	}
	out := Format(f)
	g, err := Parse(name, out)
	if err != nil {
		t.Fatalf("formatted output does not parse: %v\n--- output:\n%s", err, out)
	}
	if a, b := Dump(f), Dump(g); a != b {
		t.Fatalf("tree changed by formatting:\n%s\n--- output:\n%s", lineDiff(a, b), out)
	}
	if a, b := commentTexts(f), commentTexts(g); a != b {
		t.Fatalf("comments changed by formatting:\n%s", lineDiff(a, b))
	}
	if again := Format(g); !bytes.Equal(out, again) {
		t.Fatalf("Format is not idempotent:\n%s", lineDiff(string(out), string(again)))
	}
	checkClean(t, out)
}

// checkClean asserts one final newline and no trailing blanks.
func checkClean(t testing.TB, out []byte) {
	t.Helper()
	if len(out) == 0 {
		return
	}
	if !bytes.HasSuffix(out, []byte("\n")) || bytes.HasSuffix(out, []byte("\n\n")) {
		t.Fatalf("output must end with exactly one newline:\n%q", out)
	}
	for i, line := range strings.Split(string(out), "\n") {
		if strings.TrimRight(line, " \t") != line {
			t.Fatalf("line %d has trailing blanks: %q", i+1, line)
		}
	}
}

func commentTexts(f *File) string {
	var b strings.Builder
	for _, c := range f.Comments {
		b.WriteString(c.Text + "\n")
	}
	return b.String()
}

// corpusFiles lists the .risk files under examples/, lang/testdata/ and
// compiler/testdata/ of the repository (the parent of this package).
func corpusFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"examples", filepath.Join("lang", "testdata"), filepath.Join("compiler", "testdata")} {
		root := filepath.Join("..", dir)
		if _, err := os.Stat(root); err != nil {
			continue
		}
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".risk") {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lineDiff shows the first differing line of two texts with context.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	from := max(0, i-3)
	var b strings.Builder
	for k := from; k < i; k++ {
		b.WriteString("   " + w[k] + "\n")
	}
	for k := i; k < min(len(w), i+3); k++ {
		b.WriteString(" - " + w[k] + "\n")
	}
	for k := i; k < min(len(g), i+3); k++ {
		b.WriteString(" + " + g[k] + "\n")
	}
	return b.String()
}

// TestFormatExprParens checks that hand-built trees get the parentheses
// their precedence needs, and parsed trees print as written.
func TestFormatExprParens(t *testing.T) {
	a, b, c := &Ident{Name: "a"}, &Ident{Name: "b"}, &Ident{Name: "c"}
	bin := func(op string, x, y Expr) Expr { return &Binary{Op: op, X: x, Y: y} }
	tests := []struct {
		e    Expr
		want string
	}{
		{bin("*", bin("+", a, b), c), "(a + b) * c"},
		{bin("-", a, bin("-", b, c)), "a - (b - c)"},
		{bin("-", bin("-", a, b), c), "a - b - c"},
		{bin("and", bin("or", a, b), c), "(a or b) and c"},
		{bin("<", bin("<", a, b), c), "(a < b) < c"},
		{&Unary{Op: "-", X: bin("+", a, b)}, "-(a + b)"},
		{&Unary{Op: "-", X: &NumberLit{Raw: "-2"}}, "- -2"},
		{&Unary{Op: "not", X: bin("and", a, b)}, "not (a and b)"},
		{&Between{X: bin("==", a, b), Lo: a, Hi: b}, "(a == b) between a and b"},
		{&NumberLit{Value: 0.25, Fixed: true}, "fixed 0.25"},
		{&Call{Fn: &Ident{Name: "f"}}, "f()"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := FormatExpr(tt.e); got != tt.want {
			t.Errorf("FormatExpr = %q, want %q", got, tt.want)
		}
	}
	for _, src := range []string{"(a + b) * c", "a - (b - c)", "- -2", "-fixed 2", `x not in ["a", "b"]`, "not not a"} {
		e, err := ParseExpr("x", src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := FormatExpr(e); got != src {
			t.Errorf("FormatExpr(ParseExpr(%q)) = %q", src, got)
		}
	}
}

// TestFormatWithoutSource checks that a File without Src (built by a tool)
// still formats, placing comments by line numbers alone.
func TestFormatWithoutSource(t *testing.T) {
	src := "policy p\n\n# lead\nlet a = 1 # trail\nlet b = 2\n"
	f, err := Parse("x.risk", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	f.Src = nil
	if got := string(Format(f)); got != src {
		t.Errorf("got:\n%s\nwant:\n%s", got, src)
	}
	if got := Format(&File{}); len(got) != 0 {
		t.Errorf("empty file formats to %q", got)
	}
}

// TestNestingLimit: absurd nesting is an error at its place, not a stack
// overflow in the parser or a later stage.
func TestNestingLimit(t *testing.T) {
	head := "policy p version \"1\"\ninput { a int }\nrule r when "
	tail := " emit review reason \"x\"\n"
	for name, cond := range map[string]string{
		"parens":   strings.Repeat("(", 100000) + "a > 1" + strings.Repeat(")", 100000),
		"brackets": "a in " + strings.Repeat("[", 100000),
		"not":      strings.Repeat("not ", 100000) + "a > 1",
		"minus":    strings.Repeat("- ", 100000) + "a > 1",
	} {
		_, err := Parse("deep.risk", []byte(head+cond+tail))
		if err == nil || !strings.Contains(err.Error(), "nested more than 500 levels deep") {
			t.Errorf("%s: %v", name, err)
		}
	}
	ok := head + strings.Repeat("(", 100) + "a > 1" + strings.Repeat(")", 100) + tail
	if _, err := Parse("ok.risk", []byte(ok)); err != nil {
		t.Errorf("100 levels: %v", err)
	}
}
