package lang

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocExamplesParse keeps the documentation honest: every ```risk
// block in README.md and docs/*.md must parse.
func TestDocExamplesParse(t *testing.T) {
	docs, _ := filepath.Glob("../docs/*.md")
	docs = append(docs, "../README.md")
	blocks := 0
	for _, path := range docs {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		for i := 0; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) != "```risk" {
				continue
			}
			start := i + 1
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			}
			src := strings.Join(lines[start:i], "\n")
			blocks++
			if _, err := Parse(path, []byte(src)); err != nil {
				t.Errorf("%s: block at line %d does not parse:\n%v", path, start, err)
			}
		}
	}
	if blocks < 10 {
		t.Errorf("found only %d risk blocks in the docs", blocks)
	}
}
