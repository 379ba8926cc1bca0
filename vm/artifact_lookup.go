package vm

import "fmt"

// The lookups section follows the line table in every artifact since
// format version 3 (empty for a policy without lookups).

func encodeLookups(w *writer, p *Program) {
	writeSlice(w, p.Lookups, func(l Lookup) {
		w.str(l.Name)
		w.str(l.Source)
		w.str(l.Template)
		writeSlice(w, l.Key, func(k LookupKeyPart) {
			w.str(k.Lit)
			w.i32(k.Input)
		})
		writeSlice(w, l.Fields, w.i32)
		w.f64(l.TTL)
		w.f64(l.Timeout)
	})
}

func decodeLookups(r *reader, p *Program) {
	p.Lookups = readSlice(r, 21, func() (l Lookup) { // 3 strings, 2 counts, 2 floats
		l.Name, l.Source, l.Template = r.str(), r.str(), r.str()
		l.Key = readSlice(r, 2, func() LookupKeyPart { return LookupKeyPart{Lit: r.str(), Input: r.i32()} })
		l.Fields = readSlice(r, 1, r.i32)
		l.TTL, l.Timeout = r.f64(), r.f64()
		return
	})
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
