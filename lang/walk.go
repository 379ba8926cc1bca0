package lang

// Inspect calls f for e and, while f returns true, for each of its
// sub-expressions in source order.
func Inspect(e Expr, f func(Node) bool) {
	if e == nil || !f(e) {
		return
	}
	switch e := e.(type) {
	case *ListLit:
		for _, it := range e.Items {
			Inspect(it, f)
		}
	case *Call:
		Inspect(e.Fn, f)
		for _, a := range e.Args {
			Inspect(a, f)
		}
	case *Unary:
		Inspect(e.X, f)
	case *Binary:
		Inspect(e.X, f)
		Inspect(e.Y, f)
	case *Between:
		Inspect(e.X, f)
		Inspect(e.Lo, f)
		Inspect(e.Hi, f)
	case *Paren:
		Inspect(e.X, f)
	}
}
