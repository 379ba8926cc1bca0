package main

import (
	"fmt"
	"io"
	"strings"
)

// diffContext is the number of unchanged lines shown around a change.
const diffContext = 3

// maxDiffCells bounds the LCS table; larger inputs get one hunk that
// replaces the differing middle part.
const maxDiffCells = 4 << 20

// diffOp is one line of an edit script: ' ' kept, '-' removed, '+' added.
type diffOp struct {
	kind byte
	text string
}

// writeUnifiedDiff writes the changes from before to after in unified diff
// format, labelled like gofmt -d does.
func writeUnifiedDiff(w io.Writer, path string, before, after []byte) {
	ops := diffLines(splitLines(string(before)), splitLines(string(after)))
	fmt.Fprintf(w, "diff %s.orig %s\n--- %s.orig\n+++ %s\n", path, path, path, path)
	for start := 0; start < len(ops); {
		h, end := nextHunk(ops, start)
		if h < 0 {
			break
		}
		writeHunk(w, ops, h, end)
		start = end
	}
}

// splitLines splits s after each newline; a last line without one is kept.
func splitLines(s string) []string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// diffLines computes an edit script: the common prefix and suffix are
// kept as is, the middle is diffed by longest common subsequence.
func diffLines(a, b []string) []diffOp {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ops := keepOps(a[:pre])
	ops = append(ops, lcsOps(a[pre:len(a)-suf], b[pre:len(b)-suf])...)
	return append(ops, keepOps(a[len(a)-suf:])...)
}

func keepOps(lines []string) []diffOp {
	ops := make([]diffOp, len(lines))
	for i, l := range lines {
		ops[i] = diffOp{' ', l}
	}
	return ops
}

// lcsOps diffs two line slices with a longest-common-subsequence table.
func lcsOps(a, b []string) []diffOp {
	if len(a)*len(b) > maxDiffCells {
		return replaceOps(a, b)
	}
	n := lcsTable(a, b)
	var ops []diffOp
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i]})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || n[i+1][j] >= n[i][j+1]):
			ops = append(ops, diffOp{'-', a[i]})
			i++
		default:
			ops = append(ops, diffOp{'+', b[j]})
			j++
		}
	}
	return ops
}

// lcsTable returns n with n[i][j] the length of the longest common
// subsequence of a[i:] and b[j:].
func lcsTable(a, b []string) [][]int {
	n := make([][]int, len(a)+1)
	for i := range n {
		n[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				n[i][j] = n[i+1][j+1] + 1
			} else {
				n[i][j] = max(n[i+1][j], n[i][j+1])
			}
		}
	}
	return n
}

func replaceOps(a, b []string) []diffOp {
	ops := make([]diffOp, 0, len(a)+len(b))
	for _, l := range a {
		ops = append(ops, diffOp{'-', l})
	}
	for _, l := range b {
		ops = append(ops, diffOp{'+', l})
	}
	return ops
}

// nextHunk finds the hunk holding the first change at or after start:
// it returns the op index the hunk starts at (-1 when there is no change
// left) and the index just past its end. Changes closer together than
// twice the context share a hunk.
func nextHunk(ops []diffOp, start int) (from, end int) {
	first := start
	for first < len(ops) && ops[first].kind == ' ' {
		first++
	}
	if first == len(ops) {
		return -1, len(ops)
	}
	last := first
	for k := first; k < len(ops) && k-last <= 2*diffContext+1; k++ {
		if ops[k].kind != ' ' {
			last = k
		}
	}
	return max(start, first-diffContext), min(len(ops), last+1+diffContext)
}

// writeHunk writes ops[from:end] with its @@ header.
func writeHunk(w io.Writer, ops []diffOp, from, end int) {
	oldLine, newLine := 1, 1
	for _, op := range ops[:from] {
		oldLine, newLine = advance(op, oldLine, newLine)
	}
	oldEnd, newEnd := oldLine, newLine
	for _, op := range ops[from:end] {
		oldEnd, newEnd = advance(op, oldEnd, newEnd)
	}
	fmt.Fprintf(w, "@@ -%s +%s @@\n", hunkRange(oldLine, oldEnd-oldLine), hunkRange(newLine, newEnd-newLine))
	for _, op := range ops[from:end] {
		text := op.text
		if !strings.HasSuffix(text, "\n") {
			text += "\n\\ No newline at end of file\n"
		}
		fmt.Fprintf(w, "%c%s", op.kind, text)
	}
}

func advance(op diffOp, oldLine, newLine int) (int, int) {
	if op.kind != '+' {
		oldLine++
	}
	if op.kind != '-' {
		newLine++
	}
	return oldLine, newLine
}

// hunkRange formats start,count; an empty range names the line before it.
func hunkRange(start, count int) string {
	if count == 0 {
		start--
	}
	if count == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, count)
}
