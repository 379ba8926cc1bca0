package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/server/rollout"
	"github.com/riskforge/riskforge/vm"
)

// Routing: which policy and which version of it decides a request,
// and decoding the request once, for that version.

// pickPolicy finds the policy a request names (?policy= or X-Policy),
// or the default one, or else the one policy that declares the events of
// the body (events is called only then).
func (s *Server) pickPolicy(sn *snapshot, r *http.Request, events func() []string) (*policySet, *httpError) {
	name := ""
	if r.URL.RawQuery != "" {
		name = r.URL.Query().Get("policy")
	}
	if name == "" {
		if v := r.Header[hdrPolicy]; len(v) > 0 {
			name = v[0]
		}
	}
	return sn.policyFor(name, events)
}

// route picks the version that decides a request and decodes the
// request for it, once: the rollout key is read from the raw body
// (api.Feature), the version chosen, and only that version's decoder
// runs. The bucket is the key's rollout bucket, -1 when the policy does
// not split traffic or the request has no key. A refusal is the chosen
// version's.
func (ps *policySet) route(body []byte, pin string) (*entry, *vm.Request, int, *httpError) {
	bucket := -1
	if pin != "" {
		e := ps.byVersion[pin]
		if e == nil {
			return nil, nil, -1, badRequest("X-Policy-Version", "version %q of policy %s is not loaded (loaded: %s)", echo(pin), ps.name, ps.versionList)
		}
		req, herr := e.v.serve.decode(body)
		if herr != nil {
			return nil, nil, -1, herr
		}
		if ps.needBucket {
			bucket = ps.bucket(body)
		}
		return e, req, bucket, nil
	}
	e := ps.champion
	if ps.needBucket {
		bucket = ps.bucket(body)
		if bucket >= 0 {
			if arm := ps.split.Pick(bucket); arm >= 0 {
				e = ps.challengers[arm]
			}
		}
	}
	req, herr := e.v.serve.decode(body)
	if herr != nil {
		return nil, nil, bucket, herr
	}
	return e, req, bucket, nil
}

// bucket hashes the rollout key of a request body: a string (not empty)
// or a number. A request without the key takes the champion's default
// for it, as a decoded request would; -1 when there is none.
func (ps *policySet) bucket(body []byte) int {
	raw, ok := api.Feature(body, ps.key)
	if !ok {
		return ps.defaultBucket
	}
	if raw[0] == '"' {
		var str string
		if json.Unmarshal(raw, &str) != nil || str == "" {
			return -1
		}
		return rollout.Bucket(ps.seed, str)
	}
	num, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return -1 // true, false, an object or an array: no key
	}
	return rollout.Bucket(ps.seed, rollout.NumberKey(num))
}

// keyDefaultBucket is the bucket of the rollout key's default value in
// the champion, -1 when it has none.
func (ps *policySet) keyDefaultBucket() int {
	c := ps.champion
	if c.keyIn < 0 {
		return -1
	}
	in := &c.v.Prog.Inputs[c.keyIn]
	switch {
	case in.Default == nil:
		return -1
	case in.Type == vm.TString && in.Default.Str == "":
		return -1
	case in.Type == vm.TString:
		return rollout.Bucket(ps.seed, in.Default.Str)
	}
	return rollout.Bucket(ps.seed, rollout.NumberKey(in.Default.Num))
}
