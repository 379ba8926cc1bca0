package compiler

import (
	"testing"

	"github.com/riskforge/riskforge/vm"
)

// TestOperatorTable checks that every operator has a spelling and a class,
// that the parser's spellings map back to it, and that every operator that
// compiles to an instruction has one.
func TestOperatorTable(t *testing.T) {
	for o := OpNone + 1; o < numOps; o++ {
		e := opTable[o]
		if e.name == "" || e.name == "?" || e.class == classNone {
			t.Errorf("operator %d: no spelling or class", o)
		}
		back := binaryOpOf(e.name)
		if e.class == classUnary {
			back = unaryOpOf(e.name)
		}
		if back != o {
			t.Errorf("%s: spelling maps back to %v", o, back)
		}
		switch e.class {
		case classUnary, classArith, classOrder, classEqual:
			if e.num == 0 {
				t.Errorf("%s: no number opcode", o)
			}
		}
		if (e.class == classEqual) != (e.str != 0) {
			t.Errorf("%s: string opcode %v", o, e.str)
		}
		if f := o.Flip(); o.IsOrder() != (f != o) || f.Flip() != o {
			t.Errorf("%s: flips to %s", o, f)
		}
	}
}

// TestBuiltinTable checks that every builtin has one complete entry: an
// ordinary builtin has a signature and an instruction whose mnemonic is
// its name, a unit builtin a unit, and every name is listed once.
func TestBuiltinTable(t *testing.T) {
	names := map[string]bool{}
	for _, name := range FunctionNames() {
		if names[name] {
			t.Errorf("%s listed twice", name)
		}
		names[name] = true
	}
	for _, b := range builtinTable {
		if builtins[b.Name] != b || !names[b.Name] {
			t.Errorf("%s: not found by name", b.Name)
		}
		switch b.form {
		case formOrdinary:
			if len(b.sig.args) == 0 || b.Opcode == vm.NOP || b.Opcode.String() != b.Name {
				t.Errorf("%s: signature %v, opcode %s", b.Name, b.sig, b.Opcode)
			}
			if b.Count != b.sig.variadic {
				t.Errorf("%s: variadic %v but count operand %v", b.Name, b.sig.variadic, b.Count)
			}
		case formUnit:
			if b.Unit <= 0 || len(b.sig.args) != 1 || b.fold != foldNone {
				t.Errorf("%s: unit %v", b.Name, b.Unit)
			}
		default:
			if b.Opcode != vm.NOP || len(b.sig.args) != 0 {
				t.Errorf("%s: a special form with a signature or opcode", b.Name)
			}
		}
	}
}
