// Package rules is the second back end of the policy compiler: it lowers a
// policy's IR to a differentiable Gorgonia graph over a minibatch, trains
// its thresholds and weights on labelled history, hardens the result back
// into policy numbers, and writes them into the source. Run owns a whole
// training run as riskc train performs it: fit, selection and test rows,
// the check against the policy as written, sign and shift constraints,
// support flags, reason texts, the baseline and suggested rules.
//
// The soft semantics (docs/TRAINING.md has the full story):
//
//   - a comparison `x > θ` against a threshold parameter becomes
//     sigmoid((x − θ)/(T·s)), s a per-feature scale (a robust standard
//     deviation on the training rows) and T the annealed temperature;
//     `between` is the product of its two halves;
//   - `and` is a product, `or` is 1 − Π(1 − a), `not` is 1 − a;
//   - everything that holds no trainable parameter (string and list tests,
//     `==`, `fixed` comparisons, window values, model outputs, `exists`) is
//     a per-row constant computed once by the serving VM itself, through a
//     probe program (compiler.ProbeProgram);
//   - lets holding parameters are lowered once and shared;
//   - score = sigmoid(bias + Σ w_i·fire_i), and forced rules combine with it
//     as described on Graph.
package rules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
)

// sKind is the kind of a soft expression node.
type sKind uint8

const (
	sCol  sKind = iota // a per-row constant: column col
	sNum               // a scalar constant num
	sAtom              // a soft comparison against a threshold: atom
	sAnd               // product of args
	sOr                // 1 − Π(1 − arg)
	sNot               // 1 − arg
	sIf                // args[0]·args[1] + (1 − args[0])·args[2]
	sAdd               // args[0] + args[1]
	sSub               // args[0] − args[1]
	sMul               // args[0] · args[1]
	sNeg               // −args[0]
	sLet               // the shared lowering of let index let
)

// snode is a node of the soft expression tree the graph is built from.
type snode struct {
	kind sKind
	col  int
	num  float64
	atom int
	let  int
	args []*snode
}

// atom is one soft comparison `x OP θ` (parameter on the right).
type atom struct {
	param int    // parameter index
	x     *snode // the feature: a column, or a soft numeric expression
	xcol  int    // column holding x's hard value (for its scale and range)
	sign  float64
	incl  bool        // >= or <=
	op    compiler.Op // normalised operator: >, >=, <, <=
}

// colKind says how a column's per-row values are obtained.
type colKind uint8

const (
	colProbe  colKind = iota // a probe of the probe program
	colListen                // 1 when rule `rule` listens to the row's event
	colAnd                   // product of args
	colOr                    // 1 − Π(1 − args)
)

type column struct {
	kind  colKind
	probe int // colProbe: index into Problem.probeExprs
	rule  int // colListen
	args  []int
	typ   compiler.Type
	name  string // for messages: the expression
}

// softRule is a rule lowered to the soft semantics.
type softRule struct {
	fire   *snode // soft firing, listening included
	weight int    // weight parameter, or -1
	fixedW float64
	forced bool
	action vm.Action
}

// Problem is a policy compiled for training: the soft structure of its
// rules, the columns of per-row constants they read, and the probe program
// that computes those columns with the serving VM.
type Problem struct {
	IR   *compiler.IR
	Prog *vm.Program // the serving program; its Params are the starting point

	probeExprs []*compiler.Node
	probeProg  *vm.Program
	probes     []compiler.Probe
	cols       []column
	lets       map[int]*snode // soft lowering of lets holding live parameters
	rules      []softRule
	atoms      []atom
	atomOf     []int    // per parameter: its atom, or -1
	pairs      [][2]int // lo and hi parameters of the same between
	frozen     []bool
	why        []string // per frozen parameter: why
}

// Frozen reports whether parameter i is kept at its value because it is
// used where training cannot differentiate it (inside a window argument,
// under a function, on both sides of an arithmetic comparison...), with
// the reason.
func (p *Problem) Frozen(i int) (bool, string) { return p.frozen[i], p.why[i] }

// Trainable reports whether parameter i is tuned by gradient descent:
// thresholds, weights and the bias that are not frozen. Decide cut-offs
// are never gradient-trained.
func (p *Problem) Trainable(i int) bool {
	return p.Prog.Params[i].Kind != vm.Cutoff && !p.frozen[i]
}

// Columns returns the number of per-row constant columns.
func (p *Problem) Columns() int { return len(p.cols) }

// Atoms returns the number of soft comparisons.
func (p *Problem) Atoms() int { return len(p.atoms) }

// NewProblem analyses a compiled policy for training.
func NewProblem(prog *vm.Program, ir *compiler.IR) (*Problem, error) {
	n := len(prog.Params)
	frozen := make([]bool, n)
	why := make([]string, n)
	// Parameters inside window arguments feed the window store, which is
	// not differentiable.
	for i, arg := range ir.WindowArgs {
		if arg != nil {
			freezeAll(ir, arg, frozen, why, "used in window "+prog.Windows[i].Name)
		}
	}
	for {
		a := &analyzer{ir: ir, prog: prog, frozen: frozen, why: why, keys: map[string]int{}, probeKeys: map[string]int{},
			lets: map[int]*snode{}, atomOf: make([]int, n)}
		for i := range a.atomOf {
			a.atomOf[i] = -1
		}
		if err := a.run(); err != nil {
			if u, ok := err.(*unsupported); ok {
				before := countTrue(frozen)
				freezeAll(ir, u.n, frozen, why, u.reason)
				if countTrue(frozen) == before {
					return nil, fmt.Errorf("rules: internal error: cannot lower %s", u.reason)
				}
				continue
			}
			return nil, err
		}
		for i, prm := range prog.Params {
			if prm.Kind == vm.Threshold && a.atomOf[i] < 0 && !frozen[i] {
				frozen[i], why[i] = true, "not read by any rule"
			}
		}
		p := &Problem{IR: ir, Prog: prog, probeExprs: a.probeExprs, cols: a.cols, lets: a.lets, rules: a.rules,
			atoms: a.atoms, atomOf: a.atomOf, pairs: a.pairs, frozen: frozen, why: why}
		var err error
		p.probeProg, p.probes, err = compiler.ProbeProgram(ir, p.probeExprs)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

func countTrue(b []bool) int {
	n := 0
	for _, x := range b {
		if x {
			n++
		}
	}
	return n
}

// freezeAll freezes every parameter n reads, through lets.
func freezeAll(ir *compiler.IR, n *compiler.Node, frozen []bool, why []string, reason string) {
	seen := map[int]bool{}
	var walk func(n *compiler.Node)
	walk = func(n *compiler.Node) {
		switch n.Kind {
		case compiler.NParam:
			if !frozen[n.Index] {
				frozen[n.Index], why[n.Index] = true, reason
			}
		case compiler.NLet:
			if !seen[n.Index] {
				seen[n.Index] = true
				walk(ir.Lets[n.Index].Value)
			}
		}
		for _, a := range n.Args {
			walk(a)
		}
	}
	walk(n)
}

// unsupported stops an analysis pass at a node holding live parameters
// that has no soft form; its parameters get frozen and the pass restarts.
type unsupported struct {
	n      *compiler.Node
	reason string
}

func (u *unsupported) Error() string { return u.reason }

type analyzer struct {
	ir         *compiler.IR
	prog       *vm.Program
	frozen     []bool
	why        []string
	probeExprs []*compiler.Node
	probeKeys  map[string]int // node key -> probe
	keys       map[string]int // column key -> column
	cols       []column
	lets       map[int]*snode
	rules      []softRule
	atoms      []atom
	atomOf     []int
	pairs      [][2]int
	liveMemo   map[int]bool
}

func (a *analyzer) run() error {
	a.liveMemo = map[int]bool{}
	for i, r := range a.ir.Rules {
		vr := a.prog.Rules[i]
		sr := softRule{weight: int(vr.WeightParam), fixedW: vr.Weight, forced: vr.Forces, action: vr.Action}
		if vr.Forces {
			sr.weight = -1
		}
		fire, err := a.bool(r.Cond)
		if err != nil {
			return err
		}
		if len(vr.Events) > 0 {
			listen := a.column(column{kind: colListen, rule: i, typ: compiler.Bool, name: "listens(" + vr.Name + ")"})
			if fire.kind == sCol {
				fire = &snode{kind: sCol, col: a.column(column{kind: colAnd, args: []int{listen, fire.col}, typ: compiler.Bool})}
			} else {
				fire = &snode{kind: sAnd, args: []*snode{{kind: sCol, col: listen}, fire}}
			}
		}
		sr.fire = fire
		a.rules = append(a.rules, sr)
	}
	return nil
}

// live reports whether n reads a parameter that is not frozen.
func (a *analyzer) live(n *compiler.Node) bool {
	switch n.Kind {
	case compiler.NParam:
		return !a.frozen[n.Index]
	case compiler.NLet:
		v, ok := a.liveMemo[n.Index]
		if !ok {
			v = a.live(a.ir.Lets[n.Index].Value)
			a.liveMemo[n.Index] = v
		}
		return v
	}
	for _, x := range n.Args {
		if a.live(x) {
			return true
		}
	}
	return false
}

// column adds (or finds) a column.
func (a *analyzer) column(c column) int {
	key := fmt.Sprintf("%d/%d/%d/%v", c.kind, c.probe, c.rule, c.args)
	if i, ok := a.keys[key]; ok {
		return i
	}
	a.cols = append(a.cols, c)
	a.keys[key] = len(a.cols) - 1
	return len(a.cols) - 1
}

// probe returns the column holding the per-row value of n.
func (a *analyzer) probe(n *compiler.Node) int {
	key := nodeKey(n)
	pi, ok := a.probeKeys[key]
	if !ok {
		a.probeExprs = append(a.probeExprs, n)
		pi = len(a.probeExprs) - 1
		a.probeKeys[key] = pi
	}
	return a.column(column{kind: colProbe, probe: pi, typ: n.Type, name: key})
}

// bool lowers a boolean expression.
func (a *analyzer) bool(n *compiler.Node) (*snode, error) {
	if !a.live(n) {
		return &snode{kind: sCol, col: a.probe(n)}, nil
	}
	switch n.Kind {
	case compiler.NBinary:
		switch {
		case n.Op.IsLogic():
			return a.logic(n)
		case n.Op.IsOrder():
			return a.compare(n)
		}
	case compiler.NUnary:
		if n.Op == compiler.OpNot {
			x, err := a.bool(n.Args[0])
			if err != nil {
				return nil, err
			}
			return &snode{kind: sNot, args: []*snode{x}}, nil
		}
	case compiler.NBetween:
		return a.between(n)
	case compiler.NLet:
		return a.let(n)
	case compiler.NIf:
		return a.ifNode(n)
	}
	return nil, &unsupported{n: n, reason: "used in " + describe(n) + ", which has no soft form"}
}

// number lowers a numeric expression that reads live parameters.
func (a *analyzer) number(n *compiler.Node) (*snode, error) {
	if !a.live(n) {
		if n.Kind == compiler.NConst {
			return &snode{kind: sNum, num: n.Num}, nil
		}
		return &snode{kind: sCol, col: a.probe(n)}, nil
	}
	var kind sKind
	switch n.Kind {
	case compiler.NLet:
		return a.let(n)
	case compiler.NIf:
		return a.ifNode(n)
	case compiler.NUnary:
		if n.Op == compiler.OpNeg {
			x, err := a.number(n.Args[0])
			if err != nil {
				return nil, err
			}
			return &snode{kind: sNeg, args: []*snode{x}}, nil
		}
	case compiler.NBinary:
		switch n.Op {
		case compiler.OpAdd:
			kind = sAdd
		case compiler.OpSub:
			kind = sSub
		case compiler.OpMul:
			kind = sMul
		}
	}
	if kind == 0 {
		return nil, &unsupported{n: n, reason: "used in " + describe(n) + ", which has no soft form"}
	}
	x, err := a.number(n.Args[0])
	if err != nil {
		return nil, err
	}
	y, err := a.number(n.Args[1])
	if err != nil {
		return nil, err
	}
	return &snode{kind: kind, args: []*snode{x, y}}, nil
}

func (a *analyzer) let(n *compiler.Node) (*snode, error) {
	if _, ok := a.lets[n.Index]; !ok {
		v := a.ir.Lets[n.Index].Value
		var s *snode
		var err error
		if v.Type == compiler.Bool {
			s, err = a.bool(v)
		} else {
			s, err = a.number(v)
		}
		if err != nil {
			return nil, err
		}
		a.lets[n.Index] = s
	}
	return &snode{kind: sLet, let: n.Index}, nil
}

func (a *analyzer) ifNode(n *compiler.Node) (*snode, error) {
	c, err := a.bool(n.Args[0])
	if err != nil {
		return nil, err
	}
	branch := a.number
	if n.Type == compiler.Bool {
		branch = a.bool
	}
	x, err := branch(n.Args[1])
	if err != nil {
		return nil, err
	}
	y, err := branch(n.Args[2])
	if err != nil {
		return nil, err
	}
	return &snode{kind: sIf, args: []*snode{c, x, y}}, nil
}

// logic lowers an and/or chain: its parameter-free operands are merged
// into one column, the others are lowered.
func (a *analyzer) logic(n *compiler.Node) (*snode, error) {
	var ops []*compiler.Node
	var flatten func(x *compiler.Node)
	flatten = func(x *compiler.Node) {
		if x.Kind == compiler.NBinary && x.Op == n.Op {
			flatten(x.Args[0])
			flatten(x.Args[1])
			return
		}
		ops = append(ops, x)
	}
	flatten(n)
	kind, ck := sAnd, colAnd
	if n.Op == compiler.OpOr {
		kind, ck = sOr, colOr
	}
	out := &snode{kind: kind}
	var consts []int
	for _, x := range ops {
		if !a.live(x) {
			consts = append(consts, a.probe(x))
			continue
		}
		s, err := a.bool(x)
		if err != nil {
			return nil, err
		}
		out.args = append(out.args, s)
	}
	switch len(consts) {
	case 0:
	case 1:
		out.args = append(out.args, &snode{kind: sCol, col: consts[0]})
	default:
		sort.Ints(consts)
		out.args = append(out.args, &snode{kind: sCol, col: a.column(column{kind: ck, args: consts, typ: compiler.Bool})})
	}
	if len(out.args) == 1 {
		return out.args[0], nil
	}
	return out, nil
}

// compare lowers `x OP θ` or `θ OP x`.
func (a *analyzer) compare(n *compiler.Node) (*snode, error) {
	x, th, op := n.Args[0], n.Args[1], n.Op
	if x.Kind == compiler.NParam && !a.frozen[x.Index] {
		x, th, op = th, x, op.Flip()
	}
	if th.Kind != compiler.NParam || a.frozen[th.Index] {
		return nil, &unsupported{n: n, reason: "compared with an expression that depends on other parameters"}
	}
	return a.atom(n, x, th.Index, op)
}

func (a *analyzer) atom(n, x *compiler.Node, param int, op compiler.Op) (*snode, error) {
	at := atom{param: param, op: op, xcol: a.probe(x), sign: 1, incl: op == compiler.OpGe || op == compiler.OpLe}
	if op == compiler.OpLt || op == compiler.OpLe {
		at.sign = -1
	}
	if a.live(x) {
		s, err := a.number(x)
		if err != nil {
			return nil, err
		}
		at.x = s
	} else {
		at.x = &snode{kind: sCol, col: at.xcol}
	}
	a.atoms = append(a.atoms, at)
	a.atomOf[param] = len(a.atoms) - 1
	return &snode{kind: sAtom, atom: len(a.atoms) - 1}, nil
}

// between lowers `x between lo and hi` as the product of its halves; a
// half whose bound is not a live parameter is a per-row constant.
func (a *analyzer) between(n *compiler.Node) (*snode, error) {
	x, lo, hi := n.Args[0], n.Args[1], n.Args[2]
	out := &snode{kind: sAnd}
	for i, b := range []*compiler.Node{lo, hi} {
		op := []compiler.Op{compiler.OpGe, compiler.OpLe}[i]
		if b.Kind == compiler.NParam && !a.frozen[b.Index] {
			s, err := a.atom(n, x, b.Index, op)
			if err != nil {
				return nil, err
			}
			out.args = append(out.args, s)
			continue
		}
		half := &compiler.Node{Kind: compiler.NBinary, Type: compiler.Bool, Op: op, Args: []*compiler.Node{x, b}, Pos: n.Pos}
		if a.live(half) {
			return nil, &unsupported{n: n, reason: "a between whose bounds depend on other parameters"}
		}
		out.args = append(out.args, &snode{kind: sCol, col: a.probe(half)})
	}
	if lo.Kind == compiler.NParam && hi.Kind == compiler.NParam && !a.frozen[lo.Index] && !a.frozen[hi.Index] {
		a.pairs = append(a.pairs, [2]int{lo.Index, hi.Index})
	}
	return out, nil
}

// describe names what n is, for the reason a parameter is frozen.
func describe(n *compiler.Node) string {
	switch n.Kind {
	case compiler.NCall:
		return n.Fn.Name + "()"
	case compiler.NBinary, compiler.NUnary:
		return "`" + n.Op.String() + "`"
	case compiler.NIn:
		return "`in`"
	}
	return "an expression"
}

// nodeKey is a structural key of an IR expression: equal keys compute
// equal values.
func nodeKey(n *compiler.Node) string {
	var b strings.Builder
	var walk func(n *compiler.Node)
	walk = func(n *compiler.Node) {
		b.WriteString(strconv.Itoa(int(n.Kind)))
		b.WriteByte(':')
		switch n.Kind {
		case compiler.NConst:
			if n.Type == compiler.String {
				b.WriteString(strconv.Quote(n.Str))
			} else {
				b.WriteString(strconv.FormatFloat(n.Num, 'g', -1, 64))
			}
		case compiler.NInput, compiler.NLet, compiler.NWindow:
			b.WriteString(n.Str)
		case compiler.NParam, compiler.NModel, compiler.NPresent, compiler.NIn:
			b.WriteString(strconv.Itoa(n.Index))
		}
		b.WriteString(n.OpName())
		if len(n.Args) > 0 {
			b.WriteByte('(')
			for i, x := range n.Args {
				if i > 0 {
					b.WriteByte(',')
				}
				walk(x)
			}
			b.WriteByte(')')
		}
	}
	walk(n)
	return b.String()
}
