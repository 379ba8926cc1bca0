package compiler

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// manyRules is a policy with n rules of two comparisons each.
func manyRules(n int) []byte {
	var b strings.Builder
	b.WriteString("policy p version \"1\"\ninput {\n  amount float\n}\n")
	for i := range n {
		fmt.Fprintf(&b, "rule r%d\n  when amount > %d and amount < %d\n  emit score 0.01 reason \"r%d\"\n", i, i, i+1000, i)
	}
	b.WriteString("decide {\n  bias 0\n  otherwise approve\n}\n")
	return []byte(b.String())
}

// BenchmarkCheckBuild10kRules checks and builds (compiles and encodes
// the artifact of) a policy of 10,000 rules.
func BenchmarkCheckBuild10kRules(b *testing.B) {
	src := manyRules(10000)
	b.ReportAllocs()
	for b.Loop() {
		prog, _, diags, err := Load("many.risk", src)
		if err != nil || diags.HasErrors() {
			b.Fatal(err, diags)
		}
		if _, err := prog.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckBuild1MList checks and builds a policy whose list file
// holds 1,000,000 entries.
func BenchmarkCheckBuild1MList(b *testing.B) {
	dir := b.TempDir()
	var l strings.Builder
	for i := range 1000000 {
		fmt.Fprintf(&l, "dev-%07d\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "devices.txt"), []byte(l.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	src := []byte("policy p version \"1\"\ninput {\n  device string\n}\nlist blocked = file \"devices.txt\"\nrule blocked_device\n  when device in blocked\n  emit reject reason \"blocked\"\n")
	path := filepath.Join(dir, "p.risk")
	b.ReportAllocs()
	for b.Loop() {
		prog, _, diags, err := Load(path, src)
		if err != nil || diags.HasErrors() {
			b.Fatal(err, diags)
		}
		if _, err := prog.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}
