package compiler

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// CompileOptions control compilation.
type CompileOptions struct {
	// ReadFile reads list and model files (paths already resolved against
	// the policy's directory). Nil means os.ReadFile.
	ReadFile func(path string) ([]byte, error)
}

// Compile lowers a checked policy (one whose diagnostics hold no error) to
// IR and bytecode. The only errors are I/O errors reading list files.
func Compile(p *Policy, opts CompileOptions) (*vm.Program, *IR, error) {
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	l := &lowerer{opts: opts, p: p, paramNames: map[string]int{}}
	l.ir = &IR{Policy: p, Prog: &vm.Program{
		Name: p.Name, Version: p.Version, SourcePath: p.File.Path,
		Source: string(p.File.Src), SourceSHA256: sha256.Sum256(p.File.Src), TimeSlot: -1,
	}}
	l.schema()
	l.lookups()
	if err := l.lists(); err != nil {
		return nil, nil, err
	}
	l.events() // before slots: windows' `on` lists index into the event table
	l.slots()
	l.lowerAll()
	prog := l.ir.Prog
	generate(l.ir)
	if err := prog.Prepare(); err != nil {
		// The checker is the only gate; a failure here is a compiler bug.
		return nil, nil, fmt.Errorf("internal compiler error: %w", err)
	}
	return prog, l.ir, nil
}

type lowerer struct {
	opts       CompileOptions
	p          *Policy
	ir         *IR
	listIndex  []int // declared list index -> program list index
	letSlots   []uint32
	winSlots   []uint32
	paramNames map[string]int
	owner      string // parameter name prefix of the declaration being lowered
	inWindow   bool   // lowering a window's argument or condition: no parameters
}

var vmTypes = map[Type]vm.Type{Int: vm.TInt, Float: vm.TFloat, Bool: vm.TBool, String: vm.TString, Time: vm.TTime}

func (l *lowerer) newSlot(t Type) uint32 {
	prog := l.ir.Prog
	if t == String {
		prog.StrSlots++
		return prog.StrSlots - 1
	}
	prog.NumSlots++
	return prog.NumSlots - 1
}

func (l *lowerer) schema() {
	prog := l.ir.Prog
	for _, in := range l.p.Inputs {
		vin := vm.Input{Name: in.Sym.Name, Type: vmTypes[in.Sym.Type], Slot: l.newSlot(in.Sym.Type),
			Optional: in.Optional, Min: in.Min, Max: in.Max, MinOpen: in.MinOpen, MaxOpen: in.MaxOpen}
		switch d := in.Default.(type) {
		case *lang.NumberLit:
			vin.Default = &vm.Value{Num: d.Value}
		case *lang.StringLit:
			vin.Default = &vm.Value{Str: d.Value}
		case *lang.BoolLit:
			vin.Default = &vm.Value{Num: b2f(d.Value)}
		}
		if in.Sym.Name == "ts" && in.Sym.Type == Time && !in.Optional {
			prog.TimeSlot = int32(vin.Slot)
		}
		prog.Inputs = append(prog.Inputs, vin)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// lists loads file-backed lists and converts inline ones.
func (l *lowerer) lists() error {
	prog := l.ir.Prog
	for _, decl := range l.p.Lists {
		d := decl.Decl
		vl := vm.List{Name: d.Name.Name}
		if d.File != nil {
			vl.Path = d.File.Value
			data, err := l.opts.ReadFile(ResolvePath(l.p.File.Path, d.File.Value))
			if err != nil {
				return fmt.Errorf("%s: list %s: %w", d.File.Pos, d.Name.Name, err)
			}
			vl.Digest = sha256.Sum256(data)
			vl.Strings = ParseListFile(data)
		} else {
			vl = literalList(d.Name.Name, d.Items)
		}
		l.listIndex = append(l.listIndex, len(prog.Lists))
		prog.Lists = append(prog.Lists, vl)
	}
	return nil
}

// ParseListFile splits a list file into entries: one per line, trimmed,
// skipping blank lines and lines starting with #.
func ParseListFile(data []byte) []string {
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out
}

func literalList(name string, items []lang.Expr) vm.List {
	vl := vm.List{Name: name}
	for _, it := range items {
		switch it := it.(type) {
		case *lang.StringLit:
			vl.Strings = append(vl.Strings, it.Value)
		case *lang.NumberLit:
			vl.IsNum = true
			vl.Nums = append(vl.Nums, it.Value)
		}
	}
	return vl
}

// slots gives windows, models and lets their slots and fills the window
// and model tables.
func (l *lowerer) slots() {
	prog := l.ir.Prog
	for _, w := range l.p.Windows {
		slot := l.newSlot(Float)
		l.winSlots = append(l.winSlots, slot)
		vw := vm.Window{Name: w.Sym.Name, Agg: w.Agg, OverSec: w.Decl.Over.Seconds, Slot: slot}
		for _, by := range w.By {
			key := prog.Inputs[by.Index]
			vw.Keys = append(vw.Keys, vm.KeyPart{Slot: key.Slot, String: key.Type == vm.TString})
		}
		for _, e := range w.On {
			vw.Events = append(vw.Events, l.eventIndex(e))
		}
		if w.Decl.Where != nil {
			vw.Where = lang.FormatExpr(w.Decl.Where)
		}
		prog.Windows = append(prog.Windows, vw)
	}
	for _, let := range l.p.Lets {
		l.letSlots = append(l.letSlots, l.newSlot(let.Sym.Type))
	}
	for _, m := range l.p.Models {
		d := m.Decl
		vmod := vm.Model{Name: m.Sym.Name, Path: d.Path.Value, Output: d.Output.Value,
			TimeoutSec: m.Timeout, OnError: d.OnError.Value, Slot: l.newSlot(Float)}
		if d.OutputIndex != nil {
			vmod.Index = uint32(d.OutputIndex.Value)
		}
		if data, err := l.opts.ReadFile(ResolvePath(l.p.File.Path, d.Path.Value)); err == nil {
			vmod.Digest = sha256.Sum256(data)
		}
		for _, s := range m.Inputs {
			vmod.InputSlots = append(vmod.InputSlots, l.slotOf(s))
		}
		prog.Models = append(prog.Models, vmod)
	}
}

// slotOf returns the slot holding a symbol's value.
func (l *lowerer) slotOf(s *Symbol) uint32 {
	switch s.Kind {
	case SymInput:
		return l.ir.Prog.Inputs[s.Index].Slot
	case SymLet:
		return l.letSlots[s.Index]
	case SymWindow:
		return l.winSlots[s.Index]
	}
	return l.ir.Prog.Models[s.Index].Slot
}

// events fixes the event table: the declared events, or else every event
// named in an `on` clause.
func (l *lowerer) events() {
	prog := l.ir.Prog
	prog.Events = append(prog.Events, l.p.Events...)
	if len(prog.Events) > 0 {
		prog.EventsDeclared = true
		return
	}
	seen := map[string]bool{}
	add := func(names []string) {
		for _, e := range names {
			if !seen[e] {
				seen[e] = true
				prog.Events = append(prog.Events, e)
			}
		}
	}
	for _, w := range l.p.Windows {
		add(w.On)
	}
	for _, r := range l.p.Rules {
		add(r.On)
	}
}

func (l *lowerer) eventIndex(name string) uint32 {
	for i, e := range l.ir.Prog.Events {
		if e == name {
			return uint32(i)
		}
	}
	return 0
}

func (l *lowerer) lowerAll() {
	prog := l.ir.Prog
	for _, w := range l.p.Windows {
		var arg, where *Node
		l.owner, l.inWindow = "window."+w.Sym.Name, true
		if w.Decl.Arg != nil {
			arg = l.expr(w.Decl.Arg)
		}
		if w.Decl.Where != nil {
			where = l.expr(w.Decl.Where)
		}
		l.ir.WindowArgs = append(l.ir.WindowArgs, arg)
		l.ir.WindowWhere = append(l.ir.WindowWhere, where)
	}
	l.inWindow = false
	for i, let := range l.p.Lets {
		l.owner = "let." + let.Sym.Name
		l.ir.Lets = append(l.ir.Lets, &LetIR{Name: let.Sym.Name, Type: let.Sym.Type, Slot: l.letSlots[i], Value: l.expr(let.Decl.Value)})
	}
	for _, r := range l.p.Rules {
		l.owner = r.Name
		l.ir.Rules = append(l.ir.Rules, &RuleIR{Rule: r, Cond: l.expr(r.Decl.When)})
		prog.Rules = append(prog.Rules, l.rule(r))
	}
	l.decide()
}

func (l *lowerer) rule(r *Rule) vm.Rule {
	vr := vm.Rule{Name: r.Name, Reason: r.Decl.Reason.Value, Forces: r.Forces, Action: r.Action, AtLeast: r.AtLeast, WeightParam: -1, Line: r.Decl.Pos.Line}
	for _, e := range r.On {
		vr.Events = append(vr.Events, l.eventIndex(e))
	}
	if w := r.Weight; w != nil {
		vr.Weight = w.Value
		if !w.Fixed {
			vr.WeightParam = int32(l.param(r.Name+".weight", vm.Weight, w, false))
		}
	}
	return vr
}

func (l *lowerer) decide() {
	d := l.p.Decide
	vd := &l.ir.Prog.Decide
	vd.BiasParam = -1
	if d == nil {
		return
	}
	if b := d.Bias; b != nil {
		vd.Bias = b.Value
		if !b.Fixed {
			vd.BiasParam = int32(l.param("decide.bias", vm.Bias, b, false))
		}
	}
	for _, c := range d.Cuts {
		vc := vm.Cut{Action: c.Action, Inclusive: c.Inclusive, Param: -1, Value: c.Threshold.Value}
		if !c.Threshold.Fixed {
			vc.Param = int32(l.param("decide."+c.Action.String(), vm.Cutoff, c.Threshold, false))
		}
		vd.Cuts = append(vd.Cuts, vc)
	}
	vd.Otherwise = d.Otherwise
}

// param adds a parameter for a literal, making its name unique.
func (l *lowerer) param(name string, kind vm.ParamKind, lit lang.Expr, isInt bool) int {
	prog := l.ir.Prog
	if n := l.paramNames[name]; n > 0 {
		l.paramNames[name] = n + 1
		name += "#" + strconv.Itoa(n+1)
	} else {
		l.paramNames[name] = 1
	}
	pm := vm.Param{Name: name, Kind: kind, IsInt: isInt}
	switch lit := lit.(type) {
	case *lang.NumberLit:
		pm.Value, pm.Line, pm.Col, pm.Off, pm.End = lit.Value, lit.Pos.Line, lit.Pos.Col, lit.Pos.Offset, lit.End
	case *lang.DurationLit:
		pm.Value, pm.Unit, pm.Line, pm.Col, pm.Off, pm.End = lit.Seconds, "s", lit.Pos.Line, lit.Pos.Col, lit.Pos.Offset, lit.End
	}
	prog.Params = append(prog.Params, pm)
	return len(prog.Params) - 1
}
