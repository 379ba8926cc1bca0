package vm

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Disassemble writes a readable listing of p: header, schema, parameter
// table, lists, models, windows, then the code with each source line
// printed above the instructions compiled from it.
func Disassemble(w io.Writer, p *Program) {
	fmt.Fprintf(w, "policy %s version %q\nsource %s sha256 %x\n", p.Name, p.Version, p.SourcePath, p.SourceSHA256)
	fmt.Fprintf(w, "events %s\n\ninputs:\n", strings.Join(p.Events, ", "))
	for i, in := range p.Inputs {
		fmt.Fprintf(w, "  %2d %-16s %-6s slot %d%s\n", i, in.Name, in.Type, in.Slot, inputNotes(in))
	}
	fmt.Fprintln(w, "\nparams:")
	for i, prm := range p.Params {
		fmt.Fprintf(w, "  %2d %-32s %-9s %s  (line %d)\n", i, prm.Name, prm.Kind, paramValue(prm), prm.Line)
	}
	if len(p.Lists) > 0 {
		fmt.Fprintln(w, "\nlists:")
		for i, l := range p.Lists {
			fmt.Fprintf(w, "  %2d %-16s %d entries%s\n", i, listName(l), max(len(l.Strings), len(l.Nums)), listSource(l))
		}
	}
	for i, m := range p.Models {
		fmt.Fprintf(w, "model %d %s: %s output %q[%d] inputs %v timeout %s on_error %g\n", i, m.Name, m.Path, m.Output, m.Index, m.InputSlots, FormatDuration(m.TimeoutSec), m.OnError)
	}
	for i, l := range p.Lookups {
		fmt.Fprintf(w, "lookup %d %s: %s %q fields %v ttl %gs timeout %gs\n", i, l.Name, l.Source, l.Template, l.Fields, l.TTL, l.Timeout)
	}
	for i, win := range p.Windows {
		fmt.Fprintf(w, "window %d %s: %s over %s %s -> slot %d\n", i, win.Name, win.Agg, FormatDuration(win.OverSec), windowKeyText(p, win), win.Slot)
	}
	if len(p.Rules) > 0 {
		fmt.Fprintln(w, "\nrules:")
		for i, r := range p.Rules {
			fmt.Fprintf(w, "  %2d %-24s %s\n", i, r.Name, ruleEffect(p, r))
		}
	}
	fmt.Fprintln(w, "\ncode:")
	disassembleCode(w, p)
}

func inputNotes(in Input) string {
	var b strings.Builder
	if in.Optional {
		b.WriteString(" optional")
	}
	if in.Default != nil {
		switch in.Type {
		case TString:
			fmt.Fprintf(&b, " default %q", in.Default.Str)
		case TBool:
			fmt.Fprintf(&b, " default %t", in.Default.Num != 0)
		default:
			fmt.Fprintf(&b, " default %g", in.Default.Num)
		}
	}
	return b.String()
}

func listName(l List) string {
	if l.Name == "" {
		return "(inline)"
	}
	return l.Name
}

func listSource(l List) string {
	if l.Path == "" {
		return ""
	}
	return fmt.Sprintf(" from %s sha256 %x", l.Path, l.Digest[:8])
}

func disassembleCode(w io.Writer, p *Program) {
	lines := strings.Split(p.Source, "\n")
	last := int32(-1)
	for pc, in := range p.Code {
		if l := p.Lines[pc]; l != last && l > 0 && int(l) <= len(lines) {
			fmt.Fprintf(w, "        ; %d: %s\n", l, strings.TrimSpace(lines[l-1]))
			last = l
		}
		fmt.Fprintf(w, "  %4d  %-11s %s\n", pc, in.Op, p.Operand(in))
	}
}

// Operand renders an instruction's operand with what it refers to, as in
// the disassembly: "1 (overdue.dti = 0.4)".
func (p *Program) Operand(in Instr) string {
	a := in.A
	switch in.Op {
	case PUSHK:
		return fmt.Sprintf("%d (%g)", a, p.NumConsts[a])
	case PARAM:
		return fmt.Sprintf("%d (%s = %s)", a, p.Params[a].Name, paramValue(p.Params[a]))
	case PUSHS:
		return fmt.Sprintf("%d (%q)", a, p.StrConsts[a])
	case PRESENT:
		return fmt.Sprintf("%d (%s)", a, p.Inputs[a].Name)
	case MODEL:
		return fmt.Sprintf("%d (%s)", a, p.Models[a].Name)
	case INSTR, INNUM:
		return fmt.Sprintf("%d (%s)", a, listName(p.Lists[a]))
	case OBSERVE, OBSERVES:
		return fmt.Sprintf("%d (%s)", a, p.Windows[a].Name)
	case RULE, FIRE:
		return fmt.Sprintf("%d (%s)", a, p.Rules[a].Name)
	case LOADF, STOREF, LOADS, STORES, JMP, JF, JT, JFPOP, MIN, MAX:
		return fmt.Sprint(a)
	}
	return ""
}

// paramValue prints a parameter as written in the source: durations in
// their largest whole unit (730d, not 6.3072e+07s).
func paramValue(prm Param) string {
	if prm.Unit == "s" {
		return FormatDuration(prm.Value)
	}
	return fmt.Sprintf("%g%s", prm.Value, prm.Unit)
}

// durationUnits are the policy language's duration units, largest first.
var durationUnits = []struct {
	name string
	sec  float64
}{{"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1}, {"ms", 0.001}}

// FormatDuration writes seconds the way a policy writes a duration: in
// the largest unit that holds it a whole number of times (90m, 730d,
// 20ms), or in seconds when none does.
func FormatDuration(sec float64) string {
	if sec == 0 {
		return "0s"
	}
	for _, u := range durationUnits {
		n := sec / u.sec
		if r := math.Round(n); math.Abs(n-r) < 1e-9*math.Max(1, math.Abs(n)) && r != 0 {
			return fmt.Sprintf("%d%s", int64(r), u.name)
		}
	}
	return fmt.Sprintf("%gs", sec)
}

// ruleEffect says what a firing rule does.
func ruleEffect(p *Program, r Rule) string {
	switch {
	case r.Forces && r.AtLeast:
		return "at_least " + r.Action.String()
	case r.Forces:
		return r.Action.String()
	case r.WeightParam >= 0:
		return fmt.Sprintf("score %g (param %d)", p.Params[r.WeightParam].Value, r.WeightParam)
	}
	return fmt.Sprintf("score fixed %g", r.Weight)
}

// windowKeyText lists a window's key slots, and its events and condition
// when it counts only some events.
func windowKeyText(p *Program, win Window) string {
	var b strings.Builder
	if len(win.Keys) == 1 {
		fmt.Fprintf(&b, "key slot %d", win.Keys[0].Slot)
	} else {
		b.WriteString("key slots (")
		for i, k := range win.Keys {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%d", k.Slot)
		}
		b.WriteString(")")
	}
	for i, e := range win.Events {
		if i == 0 {
			b.WriteString(" on ")
		} else {
			b.WriteString(", ")
		}
		if int(e) < len(p.Events) {
			b.WriteString(p.Events[e])
		}
	}
	if win.Where != "" {
		b.WriteString(" where " + win.Where)
	}
	return b.String()
}
