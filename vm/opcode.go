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

var opcodeNames = [...]string{
	NOP: "nop", PUSHK: "pushk", PARAM: "param", PUSHS: "pushs", LOADF: "loadf",
	LOADS: "loads", STOREF: "storef", STORES: "stores", PRESENT: "present", MODEL: "model",
	ADD: "add", SUB: "sub", MUL: "mul", DIV: "div", MOD: "mod", NEG: "neg", NOT: "not",
	LT: "lt", LE: "le", GT: "gt", GE: "ge", EQ: "eq", NE: "ne", SEQ: "seq", SNE: "sne",
	INSTR: "instr", INNUM: "innum", BETWEEN: "between",
	JMP: "jmp", JF: "jf", JT: "jt", JFPOP: "jfpop",
	MIN: "min", MAX: "max", ABS: "abs", ROUND: "round", FLOOR: "floor", CEIL: "ceil",
	LOG: "log", EXP: "exp", SQRT: "sqrt", CLAMP: "clamp", LOWER: "lower", UPPER: "upper",
	LEN: "len", CONTAIN: "contains", STARTS: "starts_with", ENDS: "ends_with",
	HOUR: "hour", WEEKDAY: "weekday", OBSERVE: "observe", OBSERVES: "observes",
	RULE: "rule", FIRE: "fire", HALT: "halt",
}

// String returns the opcode's mnemonic.
func (op Opcode) String() string {
	if op < numOpcodes {
		return opcodeNames[op]
	}
	return "illegal"
}

// stackEffect is an opcode's pops and pushes on the number (f) and
// string (s) stacks. MIN and MAX pop A numbers; the jumps JF and JT are
// special-cased by the verifier.
type stackEffect struct{ popF, pushF, popS, pushS int8 }

var effects = [numOpcodes]stackEffect{
	PUSHK: {pushF: 1}, PARAM: {pushF: 1}, PUSHS: {pushS: 1}, LOADF: {pushF: 1},
	LOADS: {pushS: 1}, STOREF: {popF: 1}, STORES: {popS: 1}, PRESENT: {pushF: 1}, MODEL: {pushF: 1},
	ADD: {2, 1, 0, 0}, SUB: {2, 1, 0, 0}, MUL: {2, 1, 0, 0}, DIV: {2, 1, 0, 0}, MOD: {2, 1, 0, 0},
	NEG: {1, 1, 0, 0}, NOT: {1, 1, 0, 0},
	LT: {2, 1, 0, 0}, LE: {2, 1, 0, 0}, GT: {2, 1, 0, 0}, GE: {2, 1, 0, 0}, EQ: {2, 1, 0, 0}, NE: {2, 1, 0, 0},
	SEQ: {0, 1, 2, 0}, SNE: {0, 1, 2, 0},
	INSTR: {0, 1, 1, 0}, INNUM: {1, 1, 0, 0}, BETWEEN: {3, 1, 0, 0},
	JFPOP: {popF: 1},
	ABS:   {1, 1, 0, 0}, ROUND: {1, 1, 0, 0}, FLOOR: {1, 1, 0, 0}, CEIL: {1, 1, 0, 0},
	LOG: {1, 1, 0, 0}, EXP: {1, 1, 0, 0}, SQRT: {1, 1, 0, 0}, CLAMP: {3, 1, 0, 0},
	LOWER: {0, 0, 1, 1}, UPPER: {0, 0, 1, 1}, LEN: {0, 1, 1, 0},
	CONTAIN: {0, 1, 2, 0}, STARTS: {0, 1, 2, 0}, ENDS: {0, 1, 2, 0},
	HOUR: {1, 1, 0, 0}, WEEKDAY: {1, 1, 0, 0},
	OBSERVE: {popF: 2}, OBSERVES: {popF: 1, popS: 1}, FIRE: {popF: 1},
}

// Instr is one decoded instruction.
type Instr struct {
	Op Opcode
	A  uint32
}
