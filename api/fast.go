package api

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/riskforge/riskforge/vm"
)

// Decoder fills a vm.Request from a DecideRequest body exactly as
// DecodeRequest does, but for the common shape of a request it does so
// without reflection: encoding/json was two thirds of the server's CPU
// per decision. Anything unusual — escapes in strings, nested values,
// duplicate keys, invalid UTF-8, keys other than event / request_id /
// features, and every error — makes the fast path give up and the request
// goes through DecodeRequest, so error messages and edge cases have a
// single source. A differential fuzz test holds the two together.
// A Decoder is safe for concurrent use.
type Decoder struct {
	prog   *vm.Program
	inputs map[string]int
	// nextByName[i+1] is the input after input i in name order (-1: none),
	// nextByName[0] the first by name; see input.
	nextByName []int
}

// NewDecoder returns the decoder of requests for p.
func NewDecoder(p *vm.Program) *Decoder {
	d := &Decoder{prog: p, inputs: make(map[string]int, len(p.Inputs))}
	byName := make([]int, len(p.Inputs))
	for i, in := range p.Inputs {
		d.inputs[in.Name] = i
		byName[i] = i
	}
	slices.SortFunc(byName, func(a, b int) int { return strings.Compare(p.Inputs[a].Name, p.Inputs[b].Name) })
	d.nextByName = slices.Repeat([]int{-1}, len(p.Inputs)+1)
	prev := -1
	for _, i := range byName {
		d.nextByName[prev+1] = i
		prev = i
	}
	return d
}

// input returns the index of the input named key, if one is. A client
// sends its features in one order, usually the policy's (an encoder of a
// struct) or by name (an encoder of a map), so the input after prev (the
// input of the previous key; -1 before the first) in either order is
// tried before the map: under load a map lookup per feature misses the
// CPU's caches, two string comparisons do not.
func (d *Decoder) input(key []byte, prev int) (int, bool) {
	if i, ok := d.guess(key, prev); ok {
		return i, true
	}
	i, ok := d.inputs[string(key)]
	return i, ok
}

// guess is input's first try: the input named key if it follows prev in
// declaration or name order.
func (d *Decoder) guess(key []byte, prev int) (int, bool) {
	in := d.prog.Inputs
	if c := prev + 1; c < len(in) && in[c].Name == string(key) {
		return c, true
	}
	if c := d.nextByName[prev+1]; c >= 0 && in[c].Name == string(key) {
		return c, true
	}
	return 0, false
}

// Program is the program d decodes for.
func (d *Decoder) Program() *vm.Program { return d.prog }

// Decode fills req from body; errors are DecodeRequest's.
func (d *Decoder) Decode(body []byte, req *vm.Request) error {
	if d.fast(body, req) {
		return nil
	}
	return DecodeRequest(d.prog, body, req)
}

// scan is a cursor over a JSON body.
type scan struct {
	b []byte
	i int
}

func (s *scan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scan) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// key reads an object key and the colon after it, with the whitespace
// around the colon.
func (s *scan) key() ([]byte, bool) {
	key, ok := s.str()
	if !ok {
		return nil, false
	}
	s.ws()
	if !s.eat(':') {
		return nil, false
	}
	s.ws()
	return key, true
}

// str reads a string without escapes, in valid UTF-8.
func (s *scan) str() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start, high := s.i, false
	for j := start; j < len(s.b); j++ {
		c := s.b[j]
		switch {
		case c == '"':
			s.i = j + 1
			v := s.b[start:j]
			if high && !utf8.Valid(v) {
				return nil, false
			}
			return v, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			high = true
		}
	}
	return nil, false
}

// num reads a number in strict JSON syntax.
func (s *scan) num() ([]byte, bool) {
	b, i := s.b, s.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		d := i + 1
		if i = digits(b, d); i == d {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		if i = digits(b, d); i == d {
			return nil, false
		}
	}
	s.i = i
	return b[start:i], true
}

// smallNumber is the value of JSON number v when it is written with at
// most 15 digits in all and no exponent (most numbers in requests:
// amounts, counts, scores, rates with a few decimals). The digits make an
// integer m < 10^15, exact in a float64, and a fraction of k digits is
// m / 10^k, where 10^k (k <= 15) is exact too: one IEEE division of two
// exact values is correctly rounded, so the result is the float64 nearest
// the decimal, which is what strconv.ParseFloat returns (and the first
// case it tries itself). Other numbers give ok false and take
// ParseFloat's path.
func smallNumber(v []byte) (x float64, ok bool) {
	neg := len(v) > 0 && v[0] == '-'
	d := v
	if neg {
		d = v[1:]
	}
	var n int64
	// point is the index of the decimal point, or of the last digit when
	// there is none: either way len(d)-1-point digits follow it, and an
	// integer is divided by 10^0, which changes nothing.
	digits, point := 0, len(d)-1
	for i, c := range d {
		switch {
		case c >= '0' && c <= '9':
			n = n*10 + int64(c-'0')
			digits++
		case c == '.' && point == len(d)-1 && i > 0 && i < len(d)-1:
			point = i
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 {
		return 0, false
	}
	x = float64(n) / pow10[len(d)-1-point]
	if neg {
		return -x, true // -0 for "-0", as ParseFloat gives
	}
	return x, true
}

// pow10 holds the powers of ten that smallNumber divides by, each exact
// in a float64.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// digits returns the index after the run of decimal digits at b[i:]
// (i itself when there is none): a fraction and an exponent each need at
// least one.
func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// lit reads true, false or null.
func (s *scan) lit() (byte, bool) {
	for _, w := range [...]string{"true", "false", "null"} {
		if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
			s.i += len(w)
			return w[0], true
		}
	}
	return 0, false
}

// skip passes over a scalar value.
func (s *scan) skip() bool {
	switch c := s.peek(); {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == 't' || c == 'f' || c == 'n':
		_, ok := s.lit()
		return ok
	default:
		_, ok := s.num()
		return ok
	}
}

// tmp views b as a string that must not outlive the call it is passed to
// (vm.Program.SetText keeps its text only in errors, which the fast path
// discards).
func tmp(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// fast decodes the common shape; false means "use DecodeRequest".
func (d *Decoder) fast(body []byte, req *vm.Request) bool {
	p := d.prog
	req.Reset()
	s := scan{b: body}
	s.ws()
	var seenEvent, seenID, seenFeatures bool
	good := s.object(func(key []byte) bool {
		switch string(key) {
		case "event":
			v, ok := s.str()
			if !ok || seenEvent {
				return false
			}
			seenEvent = true
			if len(p.Events) == 0 {
				req.Event = string(v) // any event is accepted
				return true
			}
			req.Event = ""
			for _, e := range p.Events {
				if e == string(v) {
					req.Event = e
				}
			}
			// An unknown event: DecodeRequest says which.
			return req.Event != "" || len(v) == 0
		case "request_id":
			v, ok := s.str()
			if !ok || seenID {
				return false
			}
			seenID = true
			req.ID = string(v)
			return true
		case "features":
			if seenFeatures || !d.features(&s, req) {
				return false
			}
			seenFeatures = true
			return true
		}
		return false
	})
	s.ws()
	if !good || s.i != len(s.b) {
		return false
	}
	return p.CheckEvent(req.Event) == nil && p.Complete(req) == nil
}

// Duplicate keys are refused by DecodeRequest (with its message), so the
// fast path tracks the keys it has seen, on the stack: inputs in a bitmap
// (programs with more inputs always take DecodeRequest), and the first
// undeclared keys by value (more of them also go to DecodeRequest).
const (
	fastMaxInputs  = 256
	fastMaxUnknown = 16
)

func (d *Decoder) features(s *scan, req *vm.Request) bool {
	p := d.prog
	if len(p.Inputs) > fastMaxInputs {
		return false
	}
	var seen [fastMaxInputs / 64]uint64
	var unknown [fastMaxUnknown][]byte
	nUnknown := 0
	prev := -1
	return s.object(func(key []byte) bool {
		i, known := d.input(key, prev)
		if !known {
			for _, k := range unknown[:nUnknown] {
				if string(k) == string(key) {
					return false // a duplicate key
				}
			}
			if nUnknown == fastMaxUnknown {
				return false
			}
			unknown[nUnknown] = key
			nUnknown++
			return s.skip()
		}
		if seen[i/64]&(1<<(i%64)) != 0 {
			return false // a duplicate key
		}
		seen[i/64] |= 1 << (i % 64)
		prev = i
		return d.value(s, req, i)
	})
}

// value reads the JSON scalar of input i into req.
func (d *Decoder) value(s *scan, req *vm.Request, i int) bool {
	p := d.prog
	in := &p.Inputs[i]
	switch c := s.peek(); {
	case c == '"':
		v, ok := s.str()
		if !ok {
			return false
		}
		switch in.Type {
		case vm.TString:
			req.Str[in.Slot], req.Present[i] = string(v), true
		case vm.TTime:
			return p.SetText(req, i, tmp(v)) == nil
		default:
			return false
		}
	case c == 't' || c == 'f' || c == 'n':
		l, ok := s.lit()
		if !ok {
			return false
		}
		if l != 'n' {
			if in.Type != vm.TBool {
				return false
			}
			req.Num[in.Slot], req.Present[i] = 0, true
			if l == 't' {
				req.Num[in.Slot] = 1
			}
		}
	default:
		v, ok := s.num()
		if !ok || in.Type == vm.TString || in.Type == vm.TBool {
			return false
		}
		if x, ok := smallNumber(v); ok {
			return p.SetNumber(req, i, x) == nil
		}
		return p.SetText(req, i, tmp(v)) == nil
	}
	return true
}

// Feature returns the raw JSON value of feature name in a request body,
// without decoding the rest (riskd's rollout reads the key this way to
// choose the version that then decodes the request once). A body that
// is not a JSON object, or has no such feature, gives ok false; so does
// null. For a feature given twice the last one counts, as in
// encoding/json (the decoders refuse such a body anyway).
func Feature(body []byte, name string) (raw []byte, ok bool) {
	raw, ok, sure := featureFast(body, name)
	if sure {
		return raw, ok
	}
	var w struct {
		Features map[string]json.RawMessage `json:"features"`
	}
	if json.Unmarshal(body, &w) != nil {
		return nil, false
	}
	raw, ok = w.Features[name]
	if ok && string(bytes.TrimSpace(raw)) == "null" {
		return nil, false
	}
	return raw, ok
}

// featureFast is Feature for a plain body; sure is false when the body
// is unusual (escapes, duplicates, nesting) and encoding/json must judge.
func featureFast(body []byte, name string) (raw []byte, ok, sure bool) {
	s := scan{b: body}
	s.ws()
	seenFeatures := false
	good := s.object(func(key []byte) bool {
		if string(key) != "features" {
			return s.skip()
		}
		if seenFeatures {
			return false
		}
		seenFeatures = true
		return s.object(func(k []byte) bool {
			start := s.i
			if !s.skip() {
				return false
			}
			if string(k) == name {
				if ok {
					return false // a duplicate
				}
				raw, ok = body[start:s.i], true
			}
			return true
		})
	})
	s.ws()
	if !good || s.i != len(s.b) {
		return nil, false, false
	}
	if ok && raw[0] == 'n' {
		return nil, false, true // null: absent
	}
	return raw, ok, true
}

// object reads a JSON object: member is called after each key and its
// colon, reads the value and says whether it is acceptable. The closures
// do not escape, so they cost no allocation.
func (s *scan) object(member func(key []byte) bool) bool {
	if !s.eat('{') {
		return false
	}
	s.ws()
	if s.eat('}') {
		return true
	}
	for {
		key, ok := s.key()
		if !ok || !member(key) {
			return false
		}
		s.ws()
		if s.eat(',') {
			s.ws()
			continue
		}
		return s.eat('}')
	}
}
