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

// checkBuild checks, compiles and encodes (riskc build) one policy.
func checkBuild(b *testing.B, path string, src []byte) {
	prog, _, diags, err := Load(path, src)
	if err != nil || diags.HasErrors() {
		b.Fatal(err, diags)
	}
	if _, err := prog.MarshalBinary(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCheckBuildRules checks and builds policies of 1,000 and 10,000
// rules: the ratio of the two shows whether the cost is linear.
func BenchmarkCheckBuildRules(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		src := manyRules(n)
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				checkBuild(b, "many.risk", src)
			}
		})
	}
}

// BenchmarkCheckBuildList checks and builds a policy whose list file holds
// 100,000 and 1,000,000 entries.
func BenchmarkCheckBuildList(b *testing.B) {
	for _, n := range []int{100000, 1000000} {
		dir := b.TempDir()
		var l strings.Builder
		for i := range n {
			fmt.Fprintf(&l, "dev-%07d\n", i)
		}
		if err := os.WriteFile(filepath.Join(dir, "devices.txt"), []byte(l.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		src := []byte("policy p version \"1\"\ninput {\n  device string\n}\nlist blocked = file \"devices.txt\"\n" +
			"rule blocked_device\n  when device in blocked\n  emit reject reason \"blocked\"\n")
		path := filepath.Join(dir, "p.risk")
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				checkBuild(b, path, src)
			}
		})
	}
}

// BenchmarkCheckAndChain checks a rule whose condition is a chain of
// 1,000 and 10,000 `and` terms (it used to be quadratic).
func BenchmarkCheckAndChain(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		terms := make([]string, n)
		for i := range terms {
			terms[i] = fmt.Sprintf("amount > %d", i)
		}
		src := []byte("policy p version \"1\"\ninput {\n  amount float\n}\nrule r\n  when " + strings.Join(terms, " and ") +
			"\n  emit score 1 reason \"x\"\n")
		b.Run(fmt.Sprintf("terms=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				checkBuild(b, "chain.risk", src)
			}
		})
	}
}
