package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/riskforge/riskforge/dataset"
	"github.com/riskforge/riskforge/replay"
	"github.com/riskforge/riskforge/vm"
)

// traceRow evaluates the rows of r up to the one on line `line` (with
// package replay, as a full run does, so velocity windows see the same
// history) and prints that row's decision with the VM's step trace,
// grouped by source line: what an analyst reads to see why a row was
// decided as it was.
func traceRow(w io.Writer, prog *vm.Program, r *dataset.Reader, models vm.ModelRunner, line int) error {
	found := false
	_, err := replay.Run(prog, &upTo{r: r, line: line}, replay.Options{Models: models, Trace: func(l int) bool { return l == line }},
		replay.Handler[struct{}]{Row: func(b *replay.Batch[struct{}], i int, _ *vm.Machine, d *vm.Decision) error {
			if b.Lines[i] == line {
				found = true
				printTrace(w, prog, d, line, b.Labels[i])
			}
			return nil
		}})
	switch {
	case err != nil:
		return err
	case found:
		return nil
	case line == 1 && r.Line() >= 1 && r.IsCSV():
		return errors.New("line 1 is the header row; the first data row is line 2 (--trace takes the line number an editor shows)")
	}
	return fmt.Errorf("no data row on line %d", line)
}

// upTo reads r up to and including the row on line `line`.
type upTo struct {
	r    *dataset.Reader
	line int
	done bool
}

func (u *upTo) Next(req *vm.Request) (int, error) {
	if u.done {
		return 0, io.EOF
	}
	label, err := u.r.Next(req)
	if err == nil && u.r.Line() >= u.line {
		u.done = true
		if u.r.Line() > u.line {
			return 0, io.EOF
		}
	}
	return label, err
}

func (u *upTo) Line() int { return u.r.Line() }

func printTrace(w io.Writer, prog *vm.Program, d *vm.Decision, line, label int) {
	fmt.Fprintf(w, "line %d: %s (score %.4f", line, d.Action, d.Score)
	if label != dataset.Unlabelled {
		fmt.Fprintf(w, ", label %d", label)
	}
	fmt.Fprintln(w, ")")
	for _, f := range d.Fired {
		what := fmt.Sprintf("score %+g", f.Weight)
		if f.Forced {
			what = f.Action.String()
		}
		fmt.Fprintf(w, "  fired %-24s %-12s %s\n", f.Name, what, f.Reason)
	}
	for _, mo := range d.Models {
		if mo.Ran {
			fmt.Fprintf(w, "  model %-24s %.4f%s\n", mo.Name, mo.Value, map[bool]string{true: " (degraded: on_error)"}[mo.Degraded])
		}
	}
	fmt.Fprintln(w, "\ntrace (pc, instruction, top of the number stack after it; - when empty):")
	src := strings.Split(prog.Source, "\n")
	last := int32(-1)
	for _, st := range d.Trace {
		if st.Line != last && st.Line > 0 && int(st.Line) <= len(src) {
			fmt.Fprintf(w, "  ; %d: %s\n", st.Line, strings.TrimSpace(src[st.Line-1]))
			last = st.Line
		}
		top := "-"
		if st.Depth > 0 {
			top = fmt.Sprint(st.Top)
		}
		fmt.Fprintf(w, "  %4d  %-11s %-30s -> %s\n", st.PC, st.Instr.Op, prog.Operand(st.Instr), top)
	}
}
