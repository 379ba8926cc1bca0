// Package lang owns the surface of the Riskforge policy language: its
// grammar (built with participle), the abstract syntax tree with a source
// position on every node, the canonical printer behind `riskc fmt`, and the
// Error/ErrorList types every later stage reports through. It knows nothing
// about types or evaluation; the compiler package resolves and checks what
// lang parses.
package lang
