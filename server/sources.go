package server

import "github.com/riskforge/riskforge/vm"

// Source is one policy version the server serves now: what a tool such
// as the playground shows and copies (it must not modify Prog).
type Source struct {
	Policy, Version string
	Path            string // file it was loaded from
	Prog            *vm.Program
}

// Sources lists the versions loaded now, by policy name, then in rollout
// order (champion first).
func (s *Server) Sources() []Source {
	sn := s.acquire()
	defer sn.release()
	var out []Source
	for _, name := range sn.names {
		for _, e := range sn.policies[name].order {
			out = append(out, Source{Policy: name, Version: e.v.Version, Path: e.v.Path, Prog: e.v.Prog})
		}
	}
	return out
}
