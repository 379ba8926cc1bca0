// Package compiler owns the meaning of a parsed policy: it resolves every
// name to its declaration, checks types and the language's safety rules
// (optional inputs only under an exists guard, no let cycles, ordered
// decide thresholds), and reports all problems at once as a lang.ErrorList.
// The checker is the only gate: what it accepts, later stages lower to
// bytecode without failing.
package compiler
