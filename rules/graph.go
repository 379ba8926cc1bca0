package rules

import (
	"errors"
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/riskforge/riskforge/vm"
)

// tieMargin breaks ties at T → 0: `x >= θ` holds at x = θ and `x > θ` does
// not. It is in units of the feature's scale, far below any difference
// real data shows, and negligible at training temperatures.
const tieMargin = 1e-9

// HardInvT is the inverse temperature of the hard limit: every soft
// comparison saturates to exactly 0 or 1 (given the tie margin).
const HardInvT = 1e13

// probEps keeps logarithms finite when forced rules make a probability
// exactly 0 or 1.
const probEps = 1e-7

// GraphConfig shapes the training graph.
type GraphConfig struct {
	Batch     int     // rows per minibatch (fixed shape; short batches are padded)
	L2        float64 // L2 penalty on the rule weights
	Range     float64 // penalty on thresholds leaving their feature's observed range
	PosWeight float64 // class weight of bad rows (good rows weigh 1); 0 means 1
	Fires     bool    // read every rule's firing (for tests)

	forwardOnly bool // no gradients: the twin that Eval runs on
}

// evalBatch is the minibatch size of forward-only evaluation.
const evalBatch = 4096

// Graph is a Problem lowered to a Gorgonia expression graph over one
// minibatch.
//
// Every parameter of the VM's table has exactly one node (ParamNode,
// NodeParam): a threshold's node holds it in units of its feature,
// (θ − center)/scale with the feature's median and robust scale on the
// training rows, so that one learning rate suits every feature; weights and the bias are held as they are; decide
// cut-offs, and parameters training cannot differentiate (see
// Problem.Frozen), are nodes the loss does not read.
//
// Forced actions count as a score at their decide cut-off. With
// s = sigmoid(bias + Σ w_i·fire_i) the score, c_r the cut-off of a forced
// reject or review rule's action and c_a the lowest cut-off (below it the
// decide block approves), the probability the loss sees is
//
//	p = 1 − (1 − s·Π_approve(1 − (1 − c_a)·fire_a)) · Π_reject,review(1 − c_r·fire_r)
//
// In the hard limit a forced reject makes p at least the reject cut-off,
// a forced review at least the review cut-off, a forced approve at most
// the approve cut-off, and reject/review win over approve, as in the VM.
// Forced rules' thresholds are thereby trained too, towards firing where
// the bad rate is at least what their action's cut-off stands for, and
// the score's own rules are trained on the rows forced rules leave to it.
type Graph struct {
	p     *Problem
	cfg   GraphConfig
	g     *G.ExprGraph
	m     G.VM
	stats []colStats

	invT      *G.Node
	invTVal   float64
	params    []*G.Node
	byNode    map[*G.Node]int
	trainable G.Nodes
	center    []float64 // per parameter: θ = center + scale·node
	scale     []float64
	lo, hi    []float64 // per threshold: observed range, in node units

	inputs   []*batchInput
	raw      map[int]*G.Node
	normed   map[int]*G.Node
	letNodes map[int]*G.Node
	atoms    []*G.Node
	one      *G.Node

	ry1, ry0 *batchInput // row weight × label, row weight × (1 − label)
	ones     *batchInput
	data     *Matrix
	normFull map[int][]float64 // scaled columns, shared with the twin
	twin     *Graph            // forward-only copy for Eval, built on first use

	sign     []float64 // per parameter: the sign a weight must keep (0: free)
	start    []float64 // parameter values (node units) before training
	maxShift float64   // thresholds stay within start ± maxShift (node units = scales); 0: free

	logitV, probV, costV G.Value
	fireV                []G.Value
	fires                []*G.Node
}

// batchInput is a vector input node and where its batch comes from.
type batchInput struct {
	node  *G.Node
	buf   []float64
	dense *tensor.Dense
	full  []float64 // per-row values of the whole data set
}

// NewGraph builds the graph of p. stats come from the training rows of
// data: they fix every feature's scale and observed range.
func (p *Problem) NewGraph(data *Matrix, train []int, cfg GraphConfig) (*Graph, error) {
	if cfg.Batch <= 0 {
		return nil, errors.New("rules: batch size must be positive")
	}
	if cfg.PosWeight <= 0 {
		cfg.PosWeight = 1
	}
	stats := make([]colStats, len(p.cols))
	for i := range p.cols {
		stats[i] = statsOf(data.Cols[i], train)
	}
	return p.newGraph(data, stats, map[int][]float64{}, cfg)
}

func (p *Problem) newGraph(data *Matrix, stats []colStats, normFull map[int][]float64, cfg GraphConfig) (*Graph, error) {
	gr := &Graph{p: p, cfg: cfg, g: G.NewGraph(), data: data, raw: map[int]*G.Node{}, normed: map[int]*G.Node{},
		letNodes: map[int]*G.Node{}, byNode: map[*G.Node]int{}, stats: stats, normFull: normFull}
	if err := gr.build(data); err != nil {
		return nil, err
	}
	return gr, nil
}

func (gr *Graph) input(name string, full []float64) *batchInput {
	buf := make([]float64, gr.cfg.Batch)
	d := tensor.New(tensor.WithShape(gr.cfg.Batch), tensor.WithBacking(buf))
	n := G.NewVector(gr.g, tensor.Float64, G.WithShape(gr.cfg.Batch), G.WithName(name), G.WithValue(d))
	in := &batchInput{node: n, buf: buf, dense: d, full: full}
	gr.inputs = append(gr.inputs, in)
	return in
}

// build creates the graph's nodes, in this order (which fixes the tape
// and so the floating-point results): the parameters, the logit, the loss
// and the penalties; then it marks what to read and differentiates.
func (gr *Graph) build(data *Matrix) (err error) {
	defer func() {
		// G.Must panics on graph construction errors; report them.
		if r := recover(); r != nil {
			err = fmt.Errorf("rules: building the graph: %v", r)
		}
	}()
	gr.one = G.NewConstant(1.0, G.WithName("one"))
	gr.invTVal = 1
	gr.invT = G.NewScalar(gr.g, tensor.Float64, G.WithName("inv_temperature"), G.WithValue(1.0))
	gr.buildParams()
	logit, flags, approves := gr.buildLogit(data)
	dataLoss, prob := gr.buildLoss(logit, flags, approves)
	cost := dataLoss
	for _, r := range gr.penalties() {
		cost = G.Must(G.Add(cost, r))
	}
	G.Read(logit, &gr.logitV)
	G.Read(prob, &gr.probV)
	G.Read(cost, &gr.costV)
	if gr.cfg.Fires {
		gr.fireV = make([]G.Value, len(gr.fires))
		for i, f := range gr.fires {
			G.Read(f, &gr.fireV[i])
		}
	}
	if gr.cfg.forwardOnly {
		gr.m = G.NewTapeMachine(gr.g)
		return nil
	}
	if len(gr.trainable) > 0 {
		if _, err := G.Grad(cost, gr.trainable...); err != nil {
			return fmt.Errorf("rules: differentiating the loss: %w", err)
		}
	}
	gr.m = G.NewTapeMachine(gr.g, G.BindDualValues(gr.trainable...))
	return nil
}

// buildParams creates one node per parameter, in units of its feature's
// robust scale around its center (thresholds) or as is (weights, bias).
func (gr *Graph) buildParams() {
	p := gr.p
	np := len(p.Prog.Params)
	gr.params = make([]*G.Node, np)
	gr.center, gr.scale = make([]float64, np), make([]float64, np)
	gr.lo, gr.hi = make([]float64, np), make([]float64, np)
	for i, prm := range p.Prog.Params {
		gr.scale[i] = 1
		if a := p.atomOf[i]; a >= 0 {
			st := gr.stats[p.atoms[a].xcol]
			gr.center[i], gr.scale[i] = st.center, st.scale
			// The range a threshold may move in: the feature's observed
			// range, stretched to the value written when that lies outside
			// (a guard rail set above anything seen so far stays possible).
			gr.lo[i] = (math.Min(st.min, prm.Value) - st.center) / st.scale
			gr.hi[i] = (math.Max(st.max, prm.Value) - st.center) / st.scale
		}
		v := (prm.Value - gr.center[i]) / gr.scale[i]
		n := G.NewScalar(gr.g, tensor.Float64, G.WithName(fmt.Sprintf("param%d:%s", i, prm.Name)), G.WithValue(v))
		gr.params[i] = n
		gr.byNode[n] = i
		if p.Trainable(i) {
			gr.trainable = append(gr.trainable, n)
		}
	}
}

// buildLogit lowers every rule's firing and sums the score rules'
// weighted firings and the bias into the logit. Forced rules are returned
// apart: flags (forced reject/review, c·fire) and approves ((1 − c)·fire).
func (gr *Graph) buildLogit(data *Matrix) (logit *G.Node, flags, approves []*G.Node) {
	p := gr.p
	prog := p.Prog
	gr.atoms = make([]*G.Node, len(p.atoms))
	addTerm := func(t *G.Node) {
		if logit == nil {
			logit = t
		} else {
			logit = G.Must(G.Add(logit, t))
		}
	}
	for _, r := range p.rules {
		f := gr.lower(r.fire)
		gr.fires = append(gr.fires, f)
		switch {
		case r.forced && r.action == vm.Approve:
			approves = append(approves, G.Must(G.HadamardProd(f, G.Must(G.Sub(gr.one, gr.cutoff(r.action))))))
		case r.forced:
			flags = append(flags, G.Must(G.HadamardProd(f, gr.cutoff(r.action))))
		case r.weight >= 0:
			addTerm(G.Must(G.HadamardProd(f, gr.params[r.weight])))
		case r.fixedW != 0:
			addTerm(G.Must(G.HadamardProd(f, G.NewConstant(r.fixedW))))
		}
	}
	if logit == nil {
		ones := make([]float64, data.Rows)
		for i := range ones {
			ones[i] = 1
		}
		gr.ones = gr.input("ones", ones)
		logit = G.Must(G.HadamardProd(gr.ones.node, G.NewConstant(0.0)))
	}
	if prog.Decide.BiasParam >= 0 {
		logit = G.Must(G.Add(logit, gr.params[prog.Decide.BiasParam]))
	} else if prog.Decide.Bias != 0 {
		logit = G.Must(G.Add(logit, G.NewConstant(prog.Decide.Bias)))
	}
	return logit, flags, approves
}

// buildLoss creates the row-weight inputs and the weighted log loss of
// the probability of bad: σ(logit), or with forced rules the VM's choice
// made soft (forced approves damp it, forced flags raise it).
func (gr *Graph) buildLoss(logit *G.Node, flags, approves []*G.Node) (dataLoss, prob *G.Node) {
	gr.ry1 = gr.input("w_bad", nil)
	gr.ry0 = gr.input("w_good", nil)
	if len(flags) == 0 && len(approves) == 0 {
		// Stable form: −log σ(z) = softplus(−z), −log(1 − σ(z)) = softplus(z).
		bad := G.Must(G.Sum(G.Must(G.HadamardProd(gr.ry1.node, G.Must(G.Softplus(G.Must(G.Neg(logit))))))))
		good := G.Must(G.Sum(G.Must(G.HadamardProd(gr.ry0.node, G.Must(G.Softplus(logit))))))
		return G.Must(G.Add(bad, good)), G.Must(G.Sigmoid(logit))
	}
	s := G.Must(G.Sigmoid(logit))
	for _, a := range approves {
		s = G.Must(G.HadamardProd(s, G.Must(G.Sub(gr.one, a))))
	}
	q := G.Must(G.Sub(gr.one, s)) // 1 − p
	for _, r := range flags {
		q = G.Must(G.HadamardProd(q, G.Must(G.Sub(gr.one, r))))
	}
	prob = G.Must(G.Sub(gr.one, q))
	eps := G.NewConstant(probEps)
	span := G.NewConstant(1 - 2*probEps)
	logP := G.Must(G.Log(G.Must(G.Add(G.Must(G.HadamardProd(prob, span)), eps))))
	logQ := G.Must(G.Log(G.Must(G.Add(G.Must(G.HadamardProd(q, span)), eps))))
	bad := G.Must(G.Sum(G.Must(G.HadamardProd(gr.ry1.node, logP))))
	good := G.Must(G.Sum(G.Must(G.HadamardProd(gr.ry0.node, logQ))))
	return G.Must(G.Neg(G.Must(G.Add(bad, good)))), prob
}

// penalties are the terms added to the loss: L2 on trainable weights, a
// squared penalty for thresholds leaving their observed range, and one
// for between bounds that cross.
func (gr *Graph) penalties() []*G.Node {
	p := gr.p
	var reg []*G.Node
	for _, n := range gr.trainable {
		i := gr.byNode[n]
		switch p.Prog.Params[i].Kind {
		case vm.Weight:
			if gr.cfg.L2 > 0 {
				reg = append(reg, G.Must(G.HadamardProd(G.Must(G.Square(n)), G.NewConstant(gr.cfg.L2))))
			}
		case vm.Threshold:
			if gr.cfg.Range > 0 {
				below := G.Must(G.Rectify(G.Must(G.Sub(G.NewConstant(gr.lo[i]), n))))
				above := G.Must(G.Rectify(G.Must(G.Sub(n, G.NewConstant(gr.hi[i])))))
				pen := G.Must(G.Add(G.Must(G.Square(below)), G.Must(G.Square(above))))
				reg = append(reg, G.Must(G.HadamardProd(pen, G.NewConstant(gr.cfg.Range))))
			}
		}
	}
	for _, pr := range p.pairs {
		lo, hi := gr.params[pr[0]], gr.params[pr[1]]
		if gr.cfg.Range > 0 && (p.Trainable(pr[0]) || p.Trainable(pr[1])) {
			crossed := G.Must(G.Rectify(G.Must(G.Sub(lo, hi))))
			reg = append(reg, G.Must(G.HadamardProd(G.Must(G.Square(crossed)), G.NewConstant(gr.cfg.Range))))
		}
	}
	return reg
}

// cutoff returns the score a forced action stands for: the decide
// block's cut-off of that action (for approve, the lowest cut-off, below
// which the score approves); 0.9 for reject and 0.5 otherwise when the
// block has none.
func (gr *Graph) cutoff(a vm.Action) *G.Node {
	dc := &gr.p.Prog.Decide
	node := func(c vm.Cut) *G.Node {
		if c.Param >= 0 {
			return gr.params[c.Param]
		}
		return G.NewConstant(c.Value)
	}
	if a == vm.Approve {
		if n := len(dc.Cuts); n > 0 && dc.Otherwise == vm.Approve {
			return node(dc.Cuts[n-1])
		}
		return G.NewConstant(0.5)
	}
	for _, c := range dc.Cuts {
		if c.Action == a {
			return node(c)
		}
	}
	if a == vm.Reject {
		return G.NewConstant(0.9)
	}
	return G.NewConstant(0.5)
}

// column returns the input node of column c: its raw values, or its
// values in units of its scale ((x − center)/scale) when normed.
func (gr *Graph) column(c int, normed bool) *G.Node {
	cache := gr.raw
	if normed {
		cache = gr.normed
	}
	if n, ok := cache[c]; ok {
		return n
	}
	full := gr.data.Cols[c]
	name := fmt.Sprintf("col%d", c)
	if normed {
		norm, ok := gr.normFull[c]
		if !ok {
			st := gr.stats[c]
			norm = make([]float64, len(full))
			for r, v := range full {
				norm[r] = (v - st.center) / st.scale
			}
			gr.normFull[c] = norm
		}
		full, name = norm, name+"_n"
	}
	n := gr.input(name, full).node
	cache[c] = n
	return n
}

// lower builds the node of a soft expression.
func (gr *Graph) lower(s *snode) *G.Node {
	switch s.kind {
	case sCol:
		return gr.column(s.col, false)
	case sNum:
		return G.NewConstant(s.num)
	case sAtom:
		if n := gr.atoms[s.atom]; n != nil {
			return n
		}
		n := gr.atom(s.atom)
		gr.atoms[s.atom] = n
		return n
	case sLet:
		if n, ok := gr.letNodes[s.let]; ok {
			return n
		}
		n := gr.lower(gr.p.lets[s.let])
		gr.letNodes[s.let] = n
		return n
	case sNot:
		return G.Must(G.Sub(gr.one, gr.lower(s.args[0])))
	case sNeg:
		return G.Must(G.Neg(gr.lower(s.args[0])))
	case sAnd:
		n := gr.lower(s.args[0])
		for _, a := range s.args[1:] {
			n = G.Must(G.HadamardProd(n, gr.lower(a)))
		}
		return n
	case sOr:
		var q *G.Node
		for _, a := range s.args {
			t := G.Must(G.Sub(gr.one, gr.lower(a)))
			if q == nil {
				q = t
			} else {
				q = G.Must(G.HadamardProd(q, t))
			}
		}
		return G.Must(G.Sub(gr.one, q))
	case sIf:
		c, x, y := gr.lower(s.args[0]), gr.lower(s.args[1]), gr.lower(s.args[2])
		return G.Must(G.Add(y, G.Must(G.HadamardProd(c, G.Must(G.Sub(x, y))))))
	case sAdd:
		return G.Must(G.Add(gr.lower(s.args[0]), gr.lower(s.args[1])))
	case sSub:
		return G.Must(G.Sub(gr.lower(s.args[0]), gr.lower(s.args[1])))
	case sMul:
		return G.Must(G.HadamardProd(gr.lower(s.args[0]), gr.lower(s.args[1])))
	}
	panic("rules: unknown soft node")
}

// atom builds sigmoid(sign·(x − θ)/(T·s)) in scaled units, with the tie
// margin that makes the hard limit agree with >= and > at x = θ.
func (gr *Graph) atom(i int) *G.Node {
	at := &gr.p.atoms[i]
	var x *G.Node
	if at.x.kind == sCol && at.x.col == at.xcol {
		x = gr.column(at.xcol, true)
	} else {
		st := gr.stats[at.xcol]
		x = G.Must(G.HadamardProd(G.Must(G.Sub(gr.lower(at.x), G.NewConstant(st.center))), G.NewConstant(1/st.scale)))
	}
	margin := tieMargin * at.sign // shift θ so that z = sign·(x − θ) ± margin
	if !at.incl {
		margin = -margin
	}
	th := G.Must(G.Sub(gr.params[at.param], G.NewConstant(margin)))
	k := gr.invT
	if at.sign < 0 {
		k = G.Must(G.Neg(gr.invT))
	}
	return G.Must(G.Sigmoid(G.Must(G.HadamardProd(G.Must(G.Sub(x, th)), k))))
}

// Batch returns the minibatch size.
func (gr *Graph) Batch() int { return gr.cfg.Batch }

// ParamNode returns the node of parameter i of the VM's table.
func (gr *Graph) ParamNode(i int) *G.Node { return gr.params[i] }

// NodeParam returns the parameter a node stands for.
func (gr *Graph) NodeParam(n *G.Node) (int, bool) {
	i, ok := gr.byNode[n]
	return i, ok
}

// Scale returns the scale of parameter i: the robust scale (see colStats)
// of the feature a threshold is compared with, 1 for other parameters.
func (gr *Graph) Scale(i int) float64 { return gr.scale[i] }

// Range returns the range threshold i is kept in: the observed range, on
// the training rows, of the feature it is compared with, stretched to
// include the value written in the policy.
func (gr *Graph) Range(i int) (lo, hi float64) {
	return gr.center[i] + gr.scale[i]*gr.lo[i], gr.center[i] + gr.scale[i]*gr.hi[i]
}

// ParamValue returns parameter i in the VM's units.
func (gr *Graph) ParamValue(i int) float64 {
	return gr.center[i] + gr.scale[i]*float64(*gr.params[i].Value().(*G.F64))
}

// ParamValues returns every parameter in the VM's units.
func (gr *Graph) ParamValues() []float64 {
	v := make([]float64, len(gr.params))
	for i := range v {
		v[i] = gr.ParamValue(i)
	}
	return v
}

// SetParamValue sets parameter i, given in the VM's units.
func (gr *Graph) SetParamValue(i int, v float64) {
	*gr.params[i].Value().(*G.F64) = G.F64((v - gr.center[i]) / gr.scale[i])
}

// SetParamValues sets every parameter, given in the VM's units.
func (gr *Graph) SetParamValues(v []float64) {
	for i := range gr.params {
		gr.SetParamValue(i, v[i])
	}
}

// SetTemperature sets T; HardInvT as 1/T gives the hard limit.
func (gr *Graph) SetTemperature(T float64) error { return gr.setInvT(1 / T) }

func (gr *Graph) setInvT(v float64) error {
	gr.invTVal = v
	return G.Let(gr.invT, v)
}

// fill loads rows into the batch inputs. Short batches are padded with
// the first row at weight 0. labels are 0/1 per data row.
func (gr *Graph) fill(rows []int, labels []float64) {
	n := len(rows)
	wPos, wNeg := gr.cfg.PosWeight/float64(n), 1/float64(n)
	for _, in := range gr.inputs {
		if in.full == nil {
			continue
		}
		for b := range in.buf {
			if b < n {
				in.buf[b] = in.full[rows[b]]
			} else {
				in.buf[b] = in.full[rows[0]]
			}
		}
	}
	for b := range gr.ry1.buf {
		y := 0.0
		if b < n && labels != nil {
			y = labels[rows[b]]
		}
		if b >= n || math.IsNaN(y) {
			gr.ry1.buf[b], gr.ry0.buf[b] = 0, 0
			continue
		}
		gr.ry1.buf[b], gr.ry0.buf[b] = wPos*y, wNeg*(1-y)
	}
}

// run executes the graph on the loaded batch and returns the cost.
func (gr *Graph) run() (float64, error) {
	for _, in := range gr.inputs {
		if err := G.Let(in.node, in.dense); err != nil {
			return 0, err
		}
	}
	if err := gr.m.RunAll(); err != nil {
		return 0, fmt.Errorf("rules: running the graph: %w", err)
	}
	return float64(*gr.costV.(*G.F64)), nil
}

// Step runs one minibatch (at most Batch rows) forward and backward and
// lets solver update the trainable parameters. It returns the batch loss.
func (gr *Graph) Step(solver G.Solver, rows []int, labels []float64) (float64, error) {
	gr.fill(rows, labels)
	cost, err := gr.run()
	defer gr.m.Reset()
	if err != nil {
		return 0, err
	}
	if len(gr.trainable) > 0 {
		if err := solver.Step(G.NodesToValueGrads(gr.trainable)); err != nil {
			return 0, fmt.Errorf("rules: solver step: %w", err)
		}
	}
	return cost, nil
}

// Output holds the graph's per-row outputs.
type Output struct {
	Logit []float64   // bias + Σ w_i·fire_i: the score is its sigmoid
	Prob  []float64   // the probability the loss sees (forced rules included)
	Fires [][]float64 // per rule, when the graph was built with Fires
	Loss  float64     // mean loss (weighted by batch) of the rows
}

// Score returns sigmoid(logit) as the VM computes it.
func Score(logit float64) float64 { return 1 / (1 + math.Exp(-logit)) }

// Eval runs rows forward at inverse temperature invT (HardInvT for the
// hard limit) without touching the parameters.
func (gr *Graph) Eval(rows []int, labels []float64, invT float64) (*Output, error) {
	if !gr.cfg.forwardOnly {
		if gr.twin == nil {
			cfg := gr.cfg
			cfg.forwardOnly, cfg.Batch = true, max(1, min(evalBatch, gr.data.Rows))
			twin, err := gr.p.newGraph(gr.data, gr.stats, gr.normFull, cfg)
			if err != nil {
				return nil, err
			}
			gr.twin = twin
		}
		gr.twin.restore(gr.snapshot())
		return gr.twin.Eval(rows, labels, invT)
	}
	prev := gr.invTVal
	if err := gr.setInvT(invT); err != nil {
		return nil, err
	}
	defer gr.setInvT(prev)
	defer gr.zeroGrads()
	out := &Output{Logit: make([]float64, len(rows)), Prob: make([]float64, len(rows))}
	if gr.cfg.Fires {
		out.Fires = make([][]float64, len(gr.fires))
		for i := range out.Fires {
			out.Fires[i] = make([]float64, len(rows))
		}
	}
	B := gr.cfg.Batch
	batches := 0
	for start := 0; start < len(rows); start += B {
		chunk := rows[start:min(start+B, len(rows))]
		gr.fill(chunk, labels)
		cost, err := gr.run()
		if err != nil {
			gr.m.Reset()
			return nil, err
		}
		out.Loss += cost
		batches++
		copy(out.Logit[start:], gr.logitV.Data().([]float64)[:len(chunk)])
		copy(out.Prob[start:], gr.probV.Data().([]float64)[:len(chunk)])
		for i, v := range gr.fireV {
			copy(out.Fires[i][start:], v.Data().([]float64)[:len(chunk)])
		}
		gr.m.Reset()
	}
	if batches > 0 {
		out.Loss /= float64(batches)
	}
	return out, nil
}

// zeroGrads clears gradients left by forward-only runs.
func (gr *Graph) zeroGrads() {
	for _, n := range gr.trainable {
		if g, err := n.Grad(); err == nil {
			if f, ok := g.(*G.F64); ok {
				*f = 0
			}
		}
	}
}

// snapshot returns the trainable nodes' values (in node units).
func (gr *Graph) snapshot() []float64 {
	v := make([]float64, len(gr.params))
	for i, n := range gr.params {
		v[i] = float64(*n.Value().(*G.F64))
	}
	return v
}

func (gr *Graph) restore(v []float64) {
	for i, n := range gr.params {
		*n.Value().(*G.F64) = G.F64(v[i])
	}
}

// Close releases the machines.
func (gr *Graph) Close() {
	if gr.twin != nil {
		gr.twin.Close()
	}
	gr.m.Close()
}
