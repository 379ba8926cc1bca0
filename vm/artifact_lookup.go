package vm

import "fmt"

// The lookups section follows the line table in every artifact since
// format version 3 (empty for a policy without lookups).

func encodeLookups(w *writer, p *Program) {
	w.uvarint(uint64(len(p.Lookups)))
	for _, l := range p.Lookups {
		w.str(l.Name)
		w.str(l.Source)
		w.str(l.Template)
		w.uvarint(uint64(len(l.Key)))
		for _, k := range l.Key {
			w.str(k.Lit)
			w.i32(k.Input)
		}
		w.uvarint(uint64(len(l.Fields)))
		for _, f := range l.Fields {
			w.i32(f)
		}
		w.f64(l.TTL)
		w.f64(l.Timeout)
	}
}

func decodeLookups(r *reader, p *Program) {
	n := r.count(21) // 3 strings, 2 counts, 2 floats
	if n == 0 {
		return
	}
	p.Lookups = make([]Lookup, n)
	for i := range p.Lookups {
		l := &p.Lookups[i]
		l.Name, l.Source, l.Template = r.str(), r.str(), r.str()
		if k := r.count(2); k > 0 {
			l.Key = make([]LookupKeyPart, k)
			for j := range l.Key {
				l.Key[j].Lit = r.str()
				l.Key[j].Input = r.i32()
			}
		}
		l.Fields = readSlice(r, 1, r.i32)
		l.TTL, l.Timeout = r.f64(), r.f64()
	}
}

// checkLookups refuses lookups that point outside the inputs.
func checkLookups(p *Program) error {
	n := int32(len(p.Inputs))
	for _, l := range p.Lookups {
		for _, k := range l.Key {
			if k.Input >= n || k.Input < -1 {
				return fmt.Errorf("artifact: invalid program: lookup %q: key input %d out of range", l.Name, k.Input)
			}
		}
		for _, f := range l.Fields {
			if f < 0 || f >= n || !p.Inputs[f].Optional {
				return fmt.Errorf("artifact: invalid program: lookup %q: field input %d is not an optional input", l.Name, f)
			}
		}
	}
	return nil
}
