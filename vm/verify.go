package vm

import (
	"errors"
	"fmt"
)

// verify checks everything the machine relies on, so that no program —
// however it was built or corrupted — can make Eval index out of range or
// unbalance a stack: operand ranges, jump targets, and the stack depths at
// every instruction (equal on every path that reaches it).
func (p *Program) verify() error {
	if len(p.Code) == 0 || p.Code[len(p.Code)-1].Op != HALT {
		return errors.New("code must end with halt")
	}
	if len(p.Lines) != len(p.Code) {
		return errors.New("line table does not match code")
	}
	if err := p.verifyTables(); err != nil {
		return err
	}
	for pc, in := range p.Code {
		if err := p.verifyOperand(in); err != nil {
			return fmt.Errorf("pc %d (%s): %w", pc, in.Op, err)
		}
	}
	return p.verifyStacks()
}

func (p *Program) verifyTables() error {
	for _, in := range p.Inputs {
		limit := p.NumSlots
		if in.Type.IsString() {
			limit = p.StrSlots
		}
		if in.Type < TInt || in.Type > TTime || in.Slot >= limit {
			return fmt.Errorf("input %q: bad type or slot", in.Name)
		}
	}
	for _, m := range p.Models {
		if m.Slot >= p.NumSlots {
			return fmt.Errorf("model %q: bad slot", m.Name)
		}
		for _, s := range m.InputSlots {
			if s >= p.NumSlots {
				return fmt.Errorf("model %q: bad input slot", m.Name)
			}
		}
	}
	for _, w := range p.Windows {
		if err := p.verifyWindow(w); err != nil {
			return err
		}
	}
	if err := p.verifyObserveOrder(); err != nil {
		return err
	}
	for _, r := range p.Rules {
		if r.WeightParam >= int32(len(p.Params)) || r.End >= uint32(len(p.Code)) || r.Action > Reject {
			return fmt.Errorf("rule %q: bad weight, action or end", r.Name)
		}
		for _, e := range r.Events {
			if e >= uint32(len(p.Events)) {
				return fmt.Errorf("rule %q: bad event", r.Name)
			}
		}
	}
	if p.TimeSlot >= int32(p.NumSlots) {
		return errors.New("bad time slot")
	}
	return p.verifyDecide()
}

func (p *Program) verifyDecide() error {
	d := p.Decide
	if d.BiasParam >= int32(len(p.Params)) || d.Otherwise > Reject {
		return errors.New("decide: bad bias or otherwise")
	}
	for _, c := range d.Cuts {
		if c.Param >= int32(len(p.Params)) || c.Action > Reject {
			return errors.New("decide: bad cut")
		}
	}
	return nil
}

func (p *Program) verifyOperand(in Instr) error {
	a := int(in.A)
	limit := -1
	switch in.Op {
	case PUSHK:
		limit = len(p.NumConsts)
	case PARAM:
		limit = len(p.Params)
	case PUSHS:
		limit = len(p.StrConsts)
	case LOADF, STOREF:
		limit = int(p.NumSlots)
	case LOADS, STORES:
		limit = int(p.StrSlots)
	case PRESENT:
		limit = len(p.Inputs)
	case MODEL:
		limit = len(p.Models)
	case INSTR, INNUM:
		limit = len(p.Lists)
		if a < limit && p.Lists[a].IsNum != (in.Op == INNUM) {
			return errors.New("list kind does not match")
		}
	case JMP, JF, JT, JFPOP:
		limit = len(p.Code) // forward-only is checked in verifyStacks
	case MIN, MAX:
		if a < 1 || a > 64 {
			return errors.New("bad argument count")
		}
	case OBSERVE, OBSERVES:
		limit = len(p.Windows)
	case RULE, FIRE:
		limit = len(p.Rules)
	default:
		if in.Op >= numOpcodes {
			return errors.New("illegal opcode")
		}
	}
	if limit >= 0 && a >= limit {
		return fmt.Errorf("operand %d out of range", a)
	}
	return nil
}

type depth struct{ f, s int }

// verifyStacks propagates stack depths along every path. Code is built
// from expression trees, so depths never depend on the path taken.
func (p *Program) verifyStacks() error {
	at := make([]depth, len(p.Code))
	seen := make([]bool, len(p.Code))
	work := []int{0}
	seen[0] = true
	maxF, maxS := 0, 0
	merge := func(pc int, d depth) error {
		if !seen[pc] {
			seen[pc], at[pc] = true, d
			work = append(work, pc)
			return nil
		}
		if at[pc] != d {
			return fmt.Errorf("pc %d: stack depth differs between paths", pc)
		}
		return nil
	}
	for len(work) > 0 {
		pc := work[len(work)-1]
		work = work[:len(work)-1]
		in, d := p.Code[pc], at[pc]
		next, branch, err := step(in, d)
		if err != nil {
			return fmt.Errorf("pc %d (%s): %w", pc, in.Op, err)
		}
		maxF, maxS = max(maxF, next.f, branch.f), max(maxS, next.s, branch.s)
		if target, ok := jumpTarget(p, in); ok && target <= pc {
			// Forward-only jumps make every evaluation terminate.
			return fmt.Errorf("pc %d (%s): backward jump to %d", pc, in.Op, target)
		}
		switch in.Op {
		case HALT:
			continue
		case JMP:
			err = merge(int(in.A), d)
		case JF, JT, JFPOP:
			err = merge(int(in.A), branch)
		case RULE:
			err = merge(int(p.Rules[in.A].End), d)
		}
		if err == nil && in.Op != JMP {
			if pc+1 >= len(p.Code) {
				return errors.New("code runs past its end")
			}
			err = merge(pc+1, next)
		}
		if err != nil {
			return err
		}
	}
	p.maxF, p.maxS = maxF+1, maxS+1
	return nil
}

// jumpTarget returns where in may jump to, if anywhere.
func jumpTarget(p *Program, in Instr) (int, bool) {
	switch in.Op {
	case JMP, JF, JT, JFPOP:
		return int(in.A), true
	case RULE:
		return int(p.Rules[in.A].End), true
	}
	return 0, false
}

// step returns the stack depth after in on the fall-through path and on
// the jump path.
func step(in Instr, d depth) (next, branch depth, err error) {
	switch in.Op {
	case JF, JT:
		if d.f < 1 {
			return d, d, errors.New("stack underflow")
		}
		return depth{d.f - 1, d.s}, d, nil
	case JFPOP:
		if d.f < 1 {
			return d, d, errors.New("stack underflow")
		}
		return depth{d.f - 1, d.s}, depth{d.f - 1, d.s}, nil
	case MIN, MAX:
		if d.f < int(in.A) {
			return d, d, errors.New("stack underflow")
		}
		return depth{d.f - int(in.A) + 1, d.s}, d, nil
	}
	e := opcodes[in.Op].effect
	if d.f < int(e.popF) || d.s < int(e.popS) {
		return d, d, errors.New("stack underflow")
	}
	next = depth{d.f - int(e.popF) + int(e.pushF), d.s - int(e.popS) + int(e.pushS)}
	if next.f > 1024 || next.s > 1024 {
		return d, d, errors.New("stack too deep")
	}
	return next, next, nil
}

func (p *Program) verifyWindow(w Window) error {
	if w.Slot >= p.NumSlots || len(w.Keys) == 0 {
		return fmt.Errorf("window %q: bad slot", w.Name)
	}
	for _, k := range w.Keys {
		keyLimit := p.NumSlots
		if k.String {
			keyLimit = p.StrSlots
		}
		if k.Slot >= keyLimit {
			return fmt.Errorf("window %q: bad key slot", w.Name)
		}
	}
	for _, e := range w.Events {
		if e >= uint32(len(p.Events)) {
			return fmt.Errorf("window %q: bad event", w.Name)
		}
	}
	return nil
}

// verifyObserveOrder checks that the code observes every window once, in
// order, before anything else branches past them: the machine hands the
// store all of a request's windows when the last one is observed.
func (p *Program) verifyObserveOrder() error {
	next := 0
	for pc, in := range p.Code {
		if in.Op != OBSERVE && in.Op != OBSERVES {
			if in.Op == RULE && next < len(p.Windows) {
				return fmt.Errorf("pc %d: rule code before every window is observed", pc)
			}
			continue
		}
		if int(in.A) != next {
			return fmt.Errorf("pc %d: window %d observed out of order (want %d)", pc, in.A, next)
		}
		next++
	}
	if next != len(p.Windows) {
		return fmt.Errorf("code observes %d of %d windows", next, len(p.Windows))
	}
	return nil
}
