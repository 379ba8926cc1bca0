package server

import (
	"fmt"
	"path/filepath"
	"strings"
)

// oneFilePerVersion keeps one file per policy name and version. A source
// and the artifact built from it (`riskc build` writes loan.rbc next to
// loan.risk) are one version: the artifact is dropped and the source
// served. Two files whose contents differ under one version string are an
// error naming both and the fix.
func oneFilePerVersion(byName map[string][]*loaded) []error {
	var errs []error
	for name, ls := range byName {
		seen := map[string]*loaded{}
		kept := ls[:0:0]
		for _, l := range ls {
			prev, ok := seen[l.prog.Version]
			switch {
			case !ok:
				seen[l.prog.Version] = l
				kept = append(kept, l)
			case sameVersion(prev, l):
				if prev.kind == "artifact" && l.kind == "source" {
					seen[l.prog.Version] = l
					for i := range kept {
						if kept[i] == prev {
							kept[i] = l
						}
					}
				}
			default:
				errs = append(errs, fmt.Errorf("policy %s version %q comes from two files with different contents, %s and %s: %s", name, l.prog.Version, prev.path, l.path, versionFix(prev, l)))
			}
		}
		byName[name] = kept
	}
	return errs
}

// sameVersion reports whether two files hold the same policy: the same
// source text (an artifact records the SHA-256 of its source) and the
// same list contents.
func sameVersion(a, b *loaded) bool {
	if a.prog.SourceSHA256 != b.prog.SourceSHA256 || len(a.prog.Lists) != len(b.prog.Lists) {
		return false
	}
	for i := range a.prog.Lists {
		if a.prog.Lists[i].Digest != b.prog.Lists[i].Digest {
			return false
		}
	}
	return true
}

// versionFix says what to do about two contents under one version.
func versionFix(a, b *loaded) string {
	src, art := a, b
	if a.kind == "artifact" {
		src, art = b, a
	}
	if src.kind == "source" && art.kind == "artifact" {
		return fmt.Sprintf("the artifact is stale or was built from another source; rebuild it (riskc build %s -o %s), delete it, or give the changed policy a new version string", filepath.Base(src.path), filepath.Base(art.path))
	}
	return "give each version its own version string, or remove one of the files"
}

// warnSameVersionChanged logs each version whose file now holds other
// content under the same version string: decisions recorded as that
// version before and after the reload came from different policies.
func (s *Server) warnSameVersionChanged(old, sn *snapshot) {
	if old == nil {
		return
	}
	before := map[string]*Version{}
	for _, v := range old.versions {
		before[v.Policy+"\x00"+v.Version] = v
	}
	for _, v := range sn.versions {
		if b := before[v.Policy+"\x00"+v.Version]; b != nil && b.identity != v.identity {
			s.log.Warn("reload: the policy changed but its version string did not; decisions before and after carry the same version but come from different rules: give each change its own version string",
				"policy", v.Policy, "version", v.Version, "path", v.Path, "digest_before", b.Digest, "digest_after", v.Digest)
		}
	}
}

// byEvent picks, when no policy is named and there is no default, the
// one loaded policy whose declared events include every event given.
func (sn *snapshot) byEvent(events []string) (*policySet, *httpError) {
	several := fmt.Sprintf("several policies are loaded (%s); choose one with ?policy=NAME or the X-Policy header", strings.Join(sn.names, ", "))
	var found []string
	for _, name := range sn.names {
		p := sn.policies[name].champion.v.Prog
		all := p.EventsDeclared && len(events) > 0
		for _, e := range events {
			all = all && e != "" && p.EventIndex(e) >= 0
		}
		if all {
			found = append(found, name)
		}
	}
	switch {
	case len(found) == 1:
		return sn.policies[found[0]], nil
	case len(found) > 1:
		return nil, badRequest("policy", "%s: event %q is declared by %s", several, events[0], strings.Join(found, " and "))
	case len(events) == 1 && events[0] != "":
		return nil, badRequest("policy", "%s: no loaded policy declares event %q", several, events[0])
	}
	return nil, badRequest("policy", "%s, or give an event only one of them declares", several)
}
