package server

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/riskforge/riskforge/api"
)

// What a client may see and choose depends on the admin token
// (docs/OPERATIONS.md, "Who sees and chooses what"):
//   - GET /v1/policies shows names, versions and digests to anyone, and
//     the rest (rollout, seed, paths, inputs, lists, models, last reload)
//     only with the token: the seed makes challenger assignment
//     predictable and paths describe the host.
//   - X-Policy-Version pins a version listed in rollout.NAME.pinnable for
//     anyone, any loaded version with the token.

// isAdmin reports whether r carries the admin token (never when none is
// configured).
func (s *Server) isAdmin(r *http.Request) bool {
	if s.adminToken == "" {
		return false
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.adminToken)) == 1
}

// authorizePin refuses pinning a version that is loaded, not pinnable
// and asked for without the admin token. Unknown versions are left to
// route, which names the loaded ones.
func (s *Server) authorizePin(ps *policySet, pin string, r *http.Request) *httpError {
	if pin == "" || ps.byVersion[pin] == nil || ps.pinnable[pin] || s.isAdmin(r) {
		return nil
	}
	return &httpError{status: http.StatusForbidden, field: "X-Policy-Version",
		msg: "pinning version " + quote(echo(pin)) + " of policy " + ps.name + " needs the admin token (Authorization: Bearer TOKEN), " +
			"or the version listed in rollout." + ps.name + ".pinnable"}
}

func quote(s string) string { return `"` + s + `"` }

func publicView(sn *snapshot) api.PublicPolicies {
	out := api.PublicPolicies{Generation: sn.gen, Policies: []api.PublicPolicy{},
		Note: "names, versions and digests only; the admin token (Authorization: Bearer TOKEN) shows the rest"}
	if sn.def != nil {
		out.Default = sn.def.name
	}
	for _, name := range sn.names {
		pp := api.PublicPolicy{Name: name}
		for _, e := range sn.policies[name].order {
			pp.Versions = append(pp.Versions, api.PublicVersion{Version: e.v.Version, Digest: e.v.Digest})
		}
		out.Policies = append(out.Policies, pp)
	}
	return out
}
