package server

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/vm"
)

func (s *Server) policyReports(sn *snapshot) []api.PolicyReport {
	var out []api.PolicyReport
	for _, name := range sn.names {
		ps := sn.policies[name]
		pr := api.PolicyReport{Name: name, Default: sn.def == ps, Key: ps.key, Seed: ps.seed[len(name)+1:]}
		for _, e := range ps.order {
			pr.Versions = append(pr.Versions, versionOf(e))
		}
		out = append(out, pr)
	}
	return out
}

func versionOf(e *entry) api.VersionReport {
	v, p := e.v, e.v.Prog
	vr := api.VersionReport{
		Version: v.Version, Role: e.role.String(), Percent: e.percent, Digest: v.Digest,
		SourceSHA256: hex.EncodeToString(p.SourceSHA256[:]), Path: v.Path, Kind: v.Kind,
		LoadedAt: v.LoadedAt, Events: p.Events, Rules: len(p.Rules), Warnings: v.Warnings,
	}
	if vr.Events == nil {
		vr.Events = []string{}
	}
	for _, in := range p.Inputs {
		ir := api.InputReport{Name: in.Name, Type: in.Type.String(), Required: !in.Optional && in.Default == nil}
		if in.Default != nil {
			if in.Type == vm.TString {
				ir.Default = in.Default.Str
			} else {
				ir.Default = in.Default.Num
			}
		}
		if !math.IsInf(in.Min, 0) && in.Min != -math.MaxFloat64 {
			ir.Min = &in.Min
		}
		if !math.IsInf(in.Max, 0) && in.Max != math.MaxFloat64 {
			ir.Max = &in.Max
		}
		vr.Inputs = append(vr.Inputs, ir)
	}
	for _, l := range p.Lists {
		if l.Name == "" {
			continue
		}
		lr := api.ListReport{Name: l.Name, Path: l.Path, Entries: len(l.Strings) + len(l.Nums)}
		if l.Path != "" {
			lr.Digest = hexDigest(l.Digest)
		}
		vr.Lists = append(vr.Lists, lr)
	}
	for _, w := range p.Windows {
		vr.Windows = append(vr.Windows, w.Name)
	}
	for _, m := range p.Models {
		mr := api.ModelReport{Name: m.Name, Path: m.Path, Timeout: m.TimeoutSec, OnError: m.OnError, Loaded: v.models != nil, Error: v.modelErr}
		if m.Digest != ([32]byte{}) {
			mr.Digest = hexDigest(m.Digest)
		}
		vr.Models = append(vr.Models, mr)
	}
	if mi, ok := v.models.(ModelDescriber); ok {
		vr.Runtime = mi.ModelInfo()
	}
	return vr
}

func (s *Server) handlePolicies(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		s.writeError(w, r, epPolicies, &httpError{status: http.StatusMethodNotAllowed, msg: "use GET"}, "", true)
		return
	}
	sn := s.acquire()
	defer sn.release()
	if !s.isAdmin(r) {
		body, _ := json.MarshalIndent(publicView(sn), "", "  ")
		writeJSON(w, http.StatusOK, "", append(body, '\n'))
		s.metrics.countRequest(epPolicies, http.StatusOK)
		return
	}
	resp := api.PoliciesReport{Generation: sn.gen, LoadedAt: sn.loadedAt, Policies: s.policyReports(sn), LastReload: s.lastReload.Load()}
	if sn.def != nil {
		resp.Default = sn.def.name
	}
	body, _ := json.MarshalIndent(resp, "", "  ")
	writeJSON(w, http.StatusOK, "", append(body, '\n'))
	s.metrics.countRequest(epPolicies, http.StatusOK)
}
