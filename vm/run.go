package vm

import (
	"math"
	"strings"
	"unicode/utf8"
)

// run executes the program's code. The verifier has proven every operand
// in range and every stack balanced, so the loop does no checks of its own.
func (m *Machine) run(now float64) {
	p := m.prog
	code := p.Code
	f, s := m.f[:0], m.s[:0]
	for pc := 0; ; pc++ {
		in, at := code[pc], pc // at: pc of in, for the trace (jumps change pc)
		a := in.A
		switch in.Op {
		case NOP:
		case PUSHK:
			f = append(f, p.NumConsts[a])
		case PARAM:
			f = append(f, m.params[a])
		case PUSHS:
			s = append(s, p.StrConsts[a])
		case LOADF:
			f = append(f, m.num[a])
		case LOADS:
			s = append(s, m.str[a])
		case STOREF:
			m.num[a] = f[len(f)-1]
			f = f[:len(f)-1]
		case STORES:
			m.str[a] = s[len(s)-1]
			s = s[:len(s)-1]
		case PRESENT:
			f = append(f, b2f(m.present[a]))
		case MODEL:
			f = append(f, m.model(int(a)))
		case ADD, SUB, MUL, DIV, MOD, LT, LE, GT, GE, EQ, NE:
			n := len(f) - 2
			f[n] = binary(in.Op, f[n], f[n+1])
			f = f[:n+1]
		case NEG:
			f[len(f)-1] = -f[len(f)-1]
		case NOT:
			f[len(f)-1] = b2f(f[len(f)-1] == 0)
		case SEQ, SNE, CONTAIN, STARTS, ENDS:
			n := len(s) - 2
			f = append(f, stringTest(in.Op, s[n], s[n+1]))
			s = s[:n]
		case INSTR:
			_, ok := p.sets[a].strs[s[len(s)-1]]
			s = s[:len(s)-1]
			f = append(f, b2f(ok))
		case INNUM:
			_, ok := p.sets[a].nums[f[len(f)-1]]
			f[len(f)-1] = b2f(ok)
		case BETWEEN:
			n := len(f) - 3
			f[n] = b2f(f[n] >= f[n+1] && f[n] <= f[n+2])
			f = f[:n+1]
		case JMP:
			pc = int(a) - 1
		case JF:
			if f[len(f)-1] == 0 {
				pc = int(a) - 1
			} else {
				f = f[:len(f)-1]
			}
		case JT:
			if f[len(f)-1] != 0 {
				pc = int(a) - 1
			} else {
				f = f[:len(f)-1]
			}
		case JFPOP:
			cond := f[len(f)-1]
			f = f[:len(f)-1]
			if cond == 0 {
				pc = int(a) - 1
			}
		case MIN, MAX:
			n := len(f) - int(a)
			f[n] = minMax(in.Op, f[n:])
			f = f[:n+1]
		case ABS, ROUND, FLOOR, CEIL, LOG, EXP, SQRT, HOUR, WEEKDAY:
			f[len(f)-1] = unaryMath(in.Op, f[len(f)-1])
		case CLAMP:
			n := len(f) - 3
			f[n] = math.Min(math.Max(f[n], f[n+1]), f[n+2])
			f = f[:n+1]
		case LOWER:
			s[len(s)-1] = strings.ToLower(s[len(s)-1])
		case UPPER:
			s[len(s)-1] = strings.ToUpper(s[len(s)-1])
		case LEN:
			f = append(f, float64(utf8.RuneCountInString(s[len(s)-1])))
			s = s[:len(s)-1]
		case OBSERVE:
			n := len(f) - 2
			m.observe(int(a), now, f[n+1], "", f[n])
			f = f[:n]
		case OBSERVES:
			m.observe(int(a), now, 0, s[len(s)-1], f[len(f)-1])
			s, f = s[:len(s)-1], f[:len(f)-1]
		case RULE:
			if !m.listens(int(a)) {
				pc = int(p.Rules[a].End) - 1
			}
		case FIRE:
			if f[len(f)-1] != 0 {
				m.fire(int(a))
			}
			f = f[:len(f)-1]
		case HALT:
			m.f, m.s = f, s
			return
		}
		if m.Trace {
			m.trace(at, in, f, len(s))
		}
	}
}

func (m *Machine) trace(pc int, in Instr, f []float64, sDepth int) {
	top := 0.0
	if len(f) > 0 {
		top = f[len(f)-1]
	}
	m.d.Trace = append(m.d.Trace, TraceStep{PC: pc, Instr: in, Line: m.prog.Lines[pc], Top: top, Depth: len(f), SDepth: sDepth})
}

func binary(op Opcode, x, y float64) float64 {
	switch op {
	case ADD:
		return x + y
	case SUB:
		return x - y
	case MUL:
		return x * y
	case DIV:
		return safeDiv(x, y)
	case MOD:
		return safeMod(x, y)
	case LT:
		return b2f(x < y)
	case LE:
		return b2f(x <= y)
	case GT:
		return b2f(x > y)
	case GE:
		return b2f(x >= y)
	case EQ:
		return b2f(x == y)
	default: // NE
		return b2f(x != y)
	}
}

func stringTest(op Opcode, x, y string) float64 {
	switch op {
	case SEQ:
		return b2f(x == y)
	case SNE:
		return b2f(x != y)
	case CONTAIN:
		return b2f(strings.Contains(x, y))
	case STARTS:
		return b2f(strings.HasPrefix(x, y))
	default: // ENDS
		return b2f(strings.HasSuffix(x, y))
	}
}

func minMax(op Opcode, xs []float64) float64 {
	r := xs[0]
	for _, x := range xs[1:] {
		if op == MIN {
			r = math.Min(r, x)
		} else {
			r = math.Max(r, x)
		}
	}
	return r
}

func unaryMath(op Opcode, x float64) float64 {
	switch op {
	case ABS:
		return math.Abs(x)
	case ROUND:
		return math.Round(x)
	case FLOOR:
		return math.Floor(x)
	case CEIL:
		return math.Ceil(x)
	case LOG:
		return safeLog(x)
	case EXP:
		return math.Min(math.Exp(x), math.MaxFloat64) // saturates instead of +Inf (docs §8)
	case SQRT:
		return safeSqrt(x)
	case HOUR:
		return hourOf(x)
	default: // WEEKDAY
		return weekdayOf(x)
	}
}
