package vm

// OpcodeCount is the number of opcodes, for the table tests.
const OpcodeCount = numOpcodes

// StackEffectOf exposes an opcode's table entry to the table tests: its
// fixed pops and pushes, whether it is variable, and whether the table
// sets it at all.
func StackEffectOf(op Opcode) (popF, pushF, popS, pushS int, variable, set bool) {
	e := opcodes[op].effect
	return int(e.popF), int(e.pushF), int(e.popS), int(e.pushS), e.variable, e.set
}
