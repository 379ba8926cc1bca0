package vm

import (
	"net/url"
	"strconv"
)

// AppendLookupKey appends the key of lookup l (an index into p.Lookups)
// for req to dst: the template's text with each {input} replaced by the
// input's value, an int in decimal and a string as it is, path-escaped
// for an http source (whose key is the URL it fetches). riskd fetches and
// caches by this key and a replay finds snapshot records by it, so both
// must build it with this one function to read the same record.
func (p *Program) AppendLookupKey(dst []byte, l int, req *Request) []byte {
	lk := &p.Lookups[l]
	for _, kp := range lk.Key {
		if kp.Input < 0 {
			dst = append(dst, kp.Lit...)
			continue
		}
		in := &p.Inputs[kp.Input]
		if in.Type != TString {
			dst = strconv.AppendInt(dst, int64(req.Num[in.Slot]), 10)
			continue
		}
		v := req.Str[in.Slot]
		if lk.Source == "http" {
			v = url.PathEscape(v)
		}
		dst = append(dst, v...)
	}
	return dst
}
