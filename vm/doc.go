// Package vm owns compiled policies at run time: the bytecode format and
// its opcodes, the Program (an immutable, shareable compiled policy with
// its input schema and parameter table), the binary artifact loader, and
// the Machine that evaluates one request at a time with no heap
// allocation. It does no I/O and no cgo: models and velocity windows are
// reached through the ModelRunner and WindowStore interfaces it defines.
package vm
