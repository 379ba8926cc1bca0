package vm

// EvalUnary applies a one-operand numeric opcode (NEG, NOT, ABS, ROUND,
// FLOOR, CEIL, LOG, EXP, SQRT, HOUR, WEEKDAY) exactly as the machine does;
// the compiler folds constants with it so folding cannot disagree with
// evaluation.
func EvalUnary(op Opcode, x float64) float64 {
	switch op {
	case NEG:
		return -x
	case NOT:
		return b2f(x == 0)
	}
	return unaryMath(op, x)
}

// EvalBinary applies a two-operand numeric opcode (ADD … NE).
func EvalBinary(op Opcode, x, y float64) float64 { return binary(op, x, y) }

// EvalString applies a string test opcode (SEQ, SNE, CONTAIN, STARTS, ENDS).
func EvalString(op Opcode, x, y string) float64 { return stringTest(op, x, y) }
