package server

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"time"

	"github.com/riskforge/riskforge/vm"
)

// policyReport is one policy in GET /v1/policies.
type policyReport struct {
	Name     string          `json:"name"`
	Default  bool            `json:"default"`
	Key      string          `json:"rollout_key"`
	Seed     string          `json:"rollout_seed,omitempty"`
	Versions []versionReport `json:"versions"`
}

type versionReport struct {
	Version      string        `json:"version"`
	Role         string        `json:"role"`
	Percent      float64       `json:"percent"`
	Digest       string        `json:"digest"`
	SourceSHA256 string        `json:"source_sha256"`
	Path         string        `json:"path"`
	Kind         string        `json:"kind"`
	LoadedAt     time.Time     `json:"loaded_at"`
	Events       []string      `json:"events"`
	Rules        int           `json:"rules"`
	Inputs       []inputReport `json:"inputs"`
	Lists        []listReport  `json:"lists,omitempty"`
	Windows      []string      `json:"windows,omitempty"`
	Models       []modelReport `json:"models,omitempty"`
	Runtime      any           `json:"model_runtime,omitempty"`
	Warnings     []string      `json:"warnings,omitempty"`
}

type inputReport struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Required bool     `json:"required"`
	Default  any      `json:"default,omitempty"`
	Min      *float64 `json:"min,omitempty"`
	Max      *float64 `json:"max,omitempty"`
}

type listReport struct {
	Name    string `json:"name"`
	Path    string `json:"path,omitempty"`
	Entries int    `json:"entries"`
	Digest  string `json:"digest,omitempty"`
}

type modelReport struct {
	Name    string  `json:"name"`
	Path    string  `json:"path"`
	Digest  string  `json:"digest,omitempty"`
	Timeout float64 `json:"timeout_seconds"`
	OnError float64 `json:"on_error"`
	Loaded  bool    `json:"loaded"`
	Error   string  `json:"error,omitempty"`
}

func (s *Server) policyReports(sn *snapshot) []policyReport {
	var out []policyReport
	for _, name := range sn.names {
		ps := sn.policies[name]
		pr := policyReport{Name: name, Default: sn.def == ps, Key: ps.key, Seed: ps.seed[len(name)+1:]}
		for _, e := range ps.order {
			pr.Versions = append(pr.Versions, versionOf(e))
		}
		out = append(out, pr)
	}
	return out
}

func versionOf(e *entry) versionReport {
	v, p := e.v, e.v.Prog
	vr := versionReport{
		Version: v.Version, Role: e.role.String(), Percent: e.percent, Digest: v.Digest,
		SourceSHA256: hex.EncodeToString(p.SourceSHA256[:]), Path: v.Path, Kind: v.Kind,
		LoadedAt: v.LoadedAt, Events: p.Events, Rules: len(p.Rules), Warnings: v.Warnings,
	}
	if vr.Events == nil {
		vr.Events = []string{}
	}
	for _, in := range p.Inputs {
		ir := inputReport{Name: in.Name, Type: in.Type.String(), Required: !in.Optional && in.Default == nil}
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
		lr := listReport{Name: l.Name, Path: l.Path, Entries: len(l.Strings) + len(l.Nums)}
		if l.Path != "" {
			lr.Digest = hexDigest(l.Digest)
		}
		vr.Lists = append(vr.Lists, lr)
	}
	for _, w := range p.Windows {
		vr.Windows = append(vr.Windows, w.Name)
	}
	for _, m := range p.Models {
		mr := modelReport{Name: m.Name, Path: m.Path, Timeout: m.TimeoutSec, OnError: m.OnError, Loaded: v.models != nil, Error: v.modelErr}
		if m.Digest != ([32]byte{}) {
			mr.Digest = hexDigest(m.Digest)
		}
		vr.Models = append(vr.Models, mr)
	}
	if mi, ok := v.models.(interface{ ModelInfo() any }); ok {
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
	resp := struct {
		Generation uint64         `json:"generation"`
		LoadedAt   time.Time      `json:"loaded_at"`
		Default    string         `json:"default_policy,omitempty"`
		Policies   []policyReport `json:"policies"`
		LastReload *ReloadStatus  `json:"last_reload,omitempty"`
	}{Generation: sn.gen, LoadedAt: sn.loadedAt, Policies: s.policyReports(sn), LastReload: s.lastReload.Load()}
	if sn.def != nil {
		resp.Default = sn.def.name
	}
	body, _ := json.MarshalIndent(resp, "", "  ")
	writeJSON(w, http.StatusOK, "", append(body, '\n'))
	s.metrics.countRequest(epPolicies, http.StatusOK)
}
