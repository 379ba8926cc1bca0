package compiler

import "github.com/riskforge/riskforge/lang"

// suggest returns a `did you mean "x"?` hint (see lang.Suggest).
func suggest(name string, candidates []string) string { return lang.Suggest(name, candidates) }
