package rules

import (
	"math"
	"slices"
	"strings"

	G "gorgonia.org/gorgonia"

	"github.com/riskforge/riskforge/vm"
)

// RuleOf returns the rule a parameter belongs to: the part of its name
// before the first dot ("decide" for the decide block).
func RuleOf(prm vm.Param) string {
	name, _, _ := strings.Cut(prm.Name, ".")
	return name
}

// constrain sets the projections applied after every optimiser step:
// each weight keeps the sign it is written with unless its rule is in
// allowFlip ("*": every rule); with maxShift > 0 every threshold stays
// within maxShift feature scales of its written value.
func (gr *Graph) constrain(allowFlip []string, maxShift float64) {
	prog := gr.p.Prog
	gr.sign = make([]float64, len(prog.Params))
	gr.start = gr.snapshot()
	gr.maxShift = maxShift
	all := slices.Contains(allowFlip, "*")
	for i, prm := range prog.Params {
		if prm.Kind == vm.Weight && gr.p.Trainable(i) && !all && !slices.Contains(allowFlip, RuleOf(prm)) {
			gr.sign[i] = math.Copysign(1, prm.Value)
			if prm.Value == 0 {
				gr.sign[i] = 0 // written as 0: either sign is fine
			}
		}
	}
}

// project applies the constraints to the trainable parameters.
func (gr *Graph) project() {
	if gr.sign == nil {
		return
	}
	for _, n := range gr.trainable {
		i := gr.byNode[n]
		v := (*float64)(n.Value().(*G.F64))
		if s := gr.sign[i]; s != 0 && *v*s < 0 {
			*v = 0
		}
		if gr.maxShift > 0 && gr.p.Prog.Params[i].Kind == vm.Threshold {
			*v = math.Max(gr.start[i]-gr.maxShift, math.Min(gr.start[i]+gr.maxShift, *v))
		}
	}
}

// held lists the sign-constrained weights sitting at exactly 0: the
// projection put them there (Adam moves a free weight off 0).
func (gr *Graph) held() []int {
	var out []int
	for i, s := range gr.sign {
		if s != 0 && float64(*gr.params[i].Value().(*G.F64)) == 0 {
			out = append(out, i)
		}
	}
	return out
}
