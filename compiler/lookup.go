package compiler

import (
	"math"
	"strings"

	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// Lookup is a declared source of stored features. Its fields are
// optional inputs named LOOKUP.FIELD that riskd fills before evaluation
// (a backtest reads them from the data, as columns of that name).
type Lookup struct {
	Decl    *lang.LookupDecl
	Fields  []int // indices into Policy.Inputs
	Key     []vm.LookupKeyPart
	TTL     float64 // seconds
	Timeout float64 // seconds
}

// declareLookup adds a lookup and its fields as optional inputs.
func (c *checker) declareLookup(d *lang.LookupDecl) {
	for _, l := range c.p.Lookups {
		if l.Decl.Name.Name == d.Name.Name {
			c.errs.Add(d.Name.Pos, "lookup %q is already declared at %d:%d", d.Name.Name, l.Decl.Pos.Line, l.Decl.Pos.Col)
			return
		}
	}
	if strings.Contains(d.Name.Name, ".") {
		c.errs.Add(d.Name.Pos, "a lookup name cannot contain '.'")
		return
	}
	l := &Lookup{Decl: d}
	for _, f := range d.Fields {
		if strings.Contains(f.Name.Name, ".") {
			c.errs.Add(f.Name.Pos, "a lookup field name cannot contain '.'")
			continue
		}
		name := &lang.Ident{Pos: f.Name.Pos, Name: d.Name.Name + "." + f.Name.Name}
		in := &Input{Decl: &lang.Field{Pos: f.Pos, Name: name, Type: f.Type, Optional: true}, Optional: true, Min: math.Inf(-1), Max: math.Inf(1), lookup: true}
		in.Sym = c.define(SymInput, name, len(c.p.Inputs))
		l.Fields = append(l.Fields, len(c.p.Inputs))
		c.p.Inputs = append(c.p.Inputs, in)
	}
	c.p.Lookups = append(c.p.Lookups, l)
}

// checkLookups checks sources, key templates, fields and timings. It
// runs after checkInputs, which types the fields.
func (c *checker) checkLookups() {
	for _, l := range c.p.Lookups {
		d := l.Decl
		switch d.Kind.Name {
		case "redis", "http":
		default:
			c.errs.Add(d.Kind.Pos, "unknown lookup source %q; use redis or http", d.Kind.Name)
		}
		if len(d.Fields) == 0 {
			c.errs.Add(d.Pos, "lookup %q declares no fields: add fields [NAME TYPE, ...]", d.Name.Name)
		}
		l.Key = c.keyTemplate(d)
		l.TTL = c.positiveDuration(d, d.TTL, "ttl")
		l.Timeout = c.positiveDuration(d, d.Timeout, "timeout")
		if d.OnError != nil && d.OnError.Name != "absent" {
			c.errs.Add(d.OnError.Pos, "on_error %q: a failed lookup reads its fields as absent (on_error absent, the only fallback); a rule tells a failed fetch from a missing record with failed(%s)", d.OnError.Name, d.Name.Name)
		}
	}
	for _, in := range c.p.Inputs {
		if !in.lookup && strings.Contains(in.Sym.Name, ".") {
			c.errs.Add(in.Decl.Name.Pos, "input name %q cannot contain '.'; NAME.FIELD reads a lookup's field", in.Sym.Name)
		}
	}
}

func (c *checker) positiveDuration(d *lang.LookupDecl, v *lang.DurationLit, what string) float64 {
	if v == nil {
		c.errs.Add(d.Rbrace, "lookup %q needs a %s", d.Name.Name, what)
		return 0
	}
	if v.Seconds <= 0 {
		c.errs.Add(v.Pos, "lookup %s must be positive", what)
	}
	return v.Seconds
}

// keyTemplate splits "profile:{user_id}" into literal text and input
// holes; a hole names a string or int input that is not a lookup field.
func (c *checker) keyTemplate(d *lang.LookupDecl) []vm.LookupKeyPart {
	var parts []vm.LookupKeyPart
	rest := d.Key.Value
	holes := 0
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			parts = append(parts, vm.LookupKeyPart{Lit: rest, Input: -1})
			break
		}
		if i > 0 {
			parts = append(parts, vm.LookupKeyPart{Lit: rest[:i], Input: -1})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			c.errs.Add(d.Key.Pos, "lookup key %q: '{' without '}'", d.Key.Value)
			return nil
		}
		name := rest[i+1 : i+j]
		rest = rest[i+j+1:]
		s := c.symbols[name]
		if s == nil || s.Kind != SymInput || c.p.Inputs[s.Index].lookup {
			e := c.errs.Add(d.Key.Pos, "lookup key %q: {%s} is not an input", d.Key.Value, name)
			e.Hint = suggest(name, c.names)
			return nil
		}
		s.used = true
		if s.Type != String && s.Type != Int {
			c.errs.Add(d.Key.Pos, "lookup key %q: {%s} is %s; a key is built from string or int inputs", d.Key.Value, name, s.Type)
		}
		in := c.p.Inputs[s.Index]
		if in.Optional {
			c.errs.Add(d.Key.Pos, "lookup key %q: {%s} is optional; a key needs inputs every request has (give it a default)", d.Key.Value, name)
		}
		parts = append(parts, vm.LookupKeyPart{Input: int32(s.Index)})
		holes++
	}
	if holes == 0 {
		c.errs.Add(d.Key.Pos, "lookup key %q has no {input}: every request would read the same record", d.Key.Value)
	}
	return parts
}

// lookups lowers the checked lookups into the program.
func (l *lowerer) lookups() {
	for _, lk := range l.p.Lookups {
		vl := vm.Lookup{Name: lk.Decl.Name.Name, Source: lk.Decl.Kind.Name, Template: lk.Decl.Key.Value, Key: lk.Key, TTL: lk.TTL, Timeout: lk.Timeout}
		for _, f := range lk.Fields {
			vl.Fields = append(vl.Fields, int32(f))
		}
		l.ir.Prog.Lookups = append(l.ir.Prog.Lookups, vl)
	}
}
