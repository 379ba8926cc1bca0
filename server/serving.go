package server

import (
	"sync"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/vm"
)

// serving is what a Version keeps only to answer fast, all derived from
// the version when it is loaded: the request decoder, a pool of
// requests, and the static parts of its responses pre-encoded as JSON.
// None of it is part of what the version is; a version could be served
// without it, only slower.
type serving struct {
	dec  *api.Decoder
	reqs sync.Pool // *vm.Request for the version's program
	// hdrVersion is the X-Policy-Version response header value.
	hdrVersion []string

	// Pre-encoded JSON fragments of the response (encode.go).
	jsonHead  []byte   // ,"policy":"…","version":"…","decision":"
	jsonRules [][]byte // {"name":…,"reason":…,"weight":  (score rules)
	// ruleWeights are the score rules' weights as the program loads them
	// (the literal, or its parameter's value), whose encodings
	// (jsonWeights: the number and the closing brace) a fired rule
	// carrying that exact weight takes instead of formatting it again.
	ruleWeights []float64
	jsonWeights [][]byte
	jsonForced  [][]byte // whole object (forced rules)
	jsonModels  [][]byte // {"name":…,"value":
}

// init builds the caches of v.
func (c *serving) init(v *Version) {
	p := v.Prog
	c.dec = api.NewDecoder(p)
	c.reqs.New = func() any { return p.NewRequest() }
	c.hdrVersion = []string{p.Version}
	c.encodeFragments(v)
}

func (c *serving) getReq() *vm.Request  { return c.reqs.Get().(*vm.Request) }
func (c *serving) putReq(r *vm.Request) { c.reqs.Put(r) }

// decode takes a pooled request and decodes body into it for the
// version; on an error the request is back in the pool.
func (c *serving) decode(body []byte) (*vm.Request, *httpError) {
	req := c.getReq()
	if err := c.dec.Decode(body, req); err != nil {
		c.putReq(req)
		return nil, fieldError(err)
	}
	return req, nil
}
