package vm

// Opcode is one bytecode operation. The machine has two operand stacks:
// f holds numbers (ints, floats, bools as 0/1, times as Unix seconds,
// durations as seconds) and s holds strings. The comment on each opcode
// shows its stack picture; A is the instruction's operand.
type Opcode uint8

// The opcodes.
const (
	NOP Opcode = iota //            -  -> -

	PUSHK   //              - -> f        NumConsts[A]
	PARAM   //              - -> f        the value of parameter A
	PUSHS   //              - -> s        StrConsts[A]
	LOADF   //              - -> f        number slot A
	LOADS   //              - -> s        string slot A
	STOREF  //              f -> -        number slot A = f
	STORES  //              s -> -        string slot A = s
	PRESENT //              - -> f        1 if input A was in the request
	MODEL   //              - -> f        output of model A (run once per request)

	ADD // x y -> x+y
	SUB // x y -> x-y
	MUL // x y -> x*y
	DIV // x y -> x/y, 0 when y is 0
	MOD // x y -> x mod y, 0 when y is 0
	NEG // x -> -x
	NOT // x -> !x

	LT  // x y -> x<y
	LE  // x y -> x<=y
	GT  // x y -> x>y
	GE  // x y -> x>=y
	EQ  // x y -> x==y
	NE  // x y -> x!=y
	SEQ // s t -> s==t (strings in, number out)
	SNE // s t -> s!=t

	INSTR   // s -> f         s in string list A
	INNUM   // x -> f         x in number list A
	BETWEEN // x lo hi -> lo<=x<=hi

	JMP   // - -> -            jump to A
	JF    // x -> x | -        if x is false jump to A keeping x, else pop it (and)
	JT    // x -> x | -        if x is true jump to A keeping x, else pop it (or)
	JFPOP // x -> -            pop x; jump to A if it is false (if)

	MIN     // x1..xA -> min
	MAX     // x1..xA -> max
	ABS     // x -> |x|
	ROUND   // x -> round(x)
	FLOOR   // x -> floor(x)
	CEIL    // x -> ceil(x)
	LOG     // x -> ln(x); x <= 0 gives ln(smallest positive float)
	EXP     // x -> e^x
	SQRT    // x -> sqrt(x); 0 for x < 0
	CLAMP   // x lo hi -> min(max(x, lo), hi)
	LOWER   // s -> lower(s)
	UPPER   // s -> upper(s)
	LEN     // s -> f        length in characters
	CONTAIN // s t -> f      t occurs in s
	STARTS  // s t -> f      s starts with t
	ENDS    // s t -> f      s ends with t
	HOUR    // t -> hour of day (UTC)
	WEEKDAY // t -> day of week, 0 = Sunday (UTC)

	OBSERVE  // c x -> -       add x to window A if c (and its events match); slot of A = aggregate
	OBSERVES // c s -> -       add s to window A if c (count_distinct of strings)
	RULE     // - -> -         enter rule A; skip to its end if it does not listen to the event
	FIRE     // x -> -         rule A fired if x is true
	HALT     // - -> -         end of program

	numOpcodes
)

// opcodes is the opcode table: every opcode's mnemonic and stack effect,
// in one place. TestOpTable checks that no opcode is missing from it.
var opcodes = [numOpcodes]struct {
	name   string
	effect stackEffect
}{
	NOP:     {"nop", fx(0, 0, 0, 0)},
	PUSHK:   {"pushk", fx(0, 1, 0, 0)},
	PARAM:   {"param", fx(0, 1, 0, 0)},
	PUSHS:   {"pushs", fx(0, 0, 0, 1)},
	LOADF:   {"loadf", fx(0, 1, 0, 0)},
	LOADS:   {"loads", fx(0, 0, 0, 1)},
	STOREF:  {"storef", fx(1, 0, 0, 0)},
	STORES:  {"stores", fx(0, 0, 1, 0)},
	PRESENT: {"present", fx(0, 1, 0, 0)},
	MODEL:   {"model", fx(0, 1, 0, 0)},

	ADD: {"add", fx(2, 1, 0, 0)},
	SUB: {"sub", fx(2, 1, 0, 0)},
	MUL: {"mul", fx(2, 1, 0, 0)},
	DIV: {"div", fx(2, 1, 0, 0)},
	MOD: {"mod", fx(2, 1, 0, 0)},
	NEG: {"neg", fx(1, 1, 0, 0)},
	NOT: {"not", fx(1, 1, 0, 0)},

	LT:  {"lt", fx(2, 1, 0, 0)},
	LE:  {"le", fx(2, 1, 0, 0)},
	GT:  {"gt", fx(2, 1, 0, 0)},
	GE:  {"ge", fx(2, 1, 0, 0)},
	EQ:  {"eq", fx(2, 1, 0, 0)},
	NE:  {"ne", fx(2, 1, 0, 0)},
	SEQ: {"seq", fx(0, 1, 2, 0)},
	SNE: {"sne", fx(0, 1, 2, 0)},

	INSTR:   {"instr", fx(0, 1, 1, 0)},
	INNUM:   {"innum", fx(1, 1, 0, 0)},
	BETWEEN: {"between", fx(3, 1, 0, 0)},

	JMP:   {"jmp", fx(0, 0, 0, 0)},
	JF:    {"jf", variable}, // pops x when it falls through, keeps it when it jumps
	JT:    {"jt", variable},
	JFPOP: {"jfpop", fx(1, 0, 0, 0)},

	MIN:     {"min", variable}, // pops A numbers, pushes 1
	MAX:     {"max", variable},
	ABS:     {"abs", fx(1, 1, 0, 0)},
	ROUND:   {"round", fx(1, 1, 0, 0)},
	FLOOR:   {"floor", fx(1, 1, 0, 0)},
	CEIL:    {"ceil", fx(1, 1, 0, 0)},
	LOG:     {"log", fx(1, 1, 0, 0)},
	EXP:     {"exp", fx(1, 1, 0, 0)},
	SQRT:    {"sqrt", fx(1, 1, 0, 0)},
	CLAMP:   {"clamp", fx(3, 1, 0, 0)},
	LOWER:   {"lower", fx(0, 0, 1, 1)},
	UPPER:   {"upper", fx(0, 0, 1, 1)},
	LEN:     {"len", fx(0, 1, 1, 0)},
	CONTAIN: {"contains", fx(0, 1, 2, 0)},
	STARTS:  {"starts_with", fx(0, 1, 2, 0)},
	ENDS:    {"ends_with", fx(0, 1, 2, 0)},
	HOUR:    {"hour", fx(1, 1, 0, 0)},
	WEEKDAY: {"weekday", fx(1, 1, 0, 0)},

	OBSERVE:  {"observe", fx(2, 0, 0, 0)},
	OBSERVES: {"observes", fx(1, 0, 1, 0)},
	RULE:     {"rule", fx(0, 0, 0, 0)}, // may jump to the rule's end
	FIRE:     {"fire", fx(1, 0, 0, 0)},
	HALT:     {"halt", fx(0, 0, 0, 0)},
}

// String returns the opcode's mnemonic.
func (op Opcode) String() string {
	if op < numOpcodes {
		return opcodes[op].name
	}
	return "illegal"
}

// stackEffect is an opcode's pops and pushes on the number (f) and
// string (s) stacks. An effect that depends on the operand or on the path
// taken is marked variable, and the verifier (step) computes it; every
// entry is written out, so a zero effect is never a forgotten one.
type stackEffect struct {
	popF, pushF, popS, pushS int8
	variable                 bool
	set                      bool // written in the table
}

// fx is a fixed stack effect.
func fx(popF, pushF, popS, pushS int8) stackEffect {
	return stackEffect{popF: popF, pushF: pushF, popS: popS, pushS: pushS, set: true}
}

// variable marks an effect the verifier computes per instruction.
var variable = stackEffect{variable: true, set: true}

// Instr is one decoded instruction.
type Instr struct {
	Op Opcode
	A  uint32
}
