package server

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/riskforge/riskforge/vm"
)

// The decision response is written by hand into a pooled buffer: the
// fixed parts of each version (policy, version, rule names and reasons)
// are encoded once at load.

// encodeFragments pre-encodes the static parts of v's responses.
func (c *serving) encodeFragments(v *Version) {
	b := append([]byte(nil), `,"policy":`...)
	b = appendString(b, v.Policy)
	b = append(b, `,"version":`...)
	b = appendString(b, v.Version)
	b = append(b, `,"decision":"`...)
	c.jsonHead = b
	c.ruleWeights = make([]float64, len(v.Prog.Rules))
	c.jsonWeights = make([][]byte, len(v.Prog.Rules))
	params := v.Prog.ParamValues()
	for i, r := range v.Prog.Rules {
		w := r.WeightUnder(params)
		c.ruleWeights[i] = w
		c.jsonWeights[i] = append(appendFloat(nil, w), '}')
		b := append([]byte(nil), `{"name":`...)
		b = appendString(b, r.Name)
		b = append(b, `,"reason":`...)
		b = appendString(b, r.Reason)
		if r.Forces {
			c.jsonRules = append(c.jsonRules, nil)
			b = append(b, `,"weight":0,"action":"`...)
			b = append(b, r.Action.String()...)
			b = append(b, `"}`...)
			c.jsonForced = append(c.jsonForced, b)
			continue
		}
		b = append(b, `,"weight":`...)
		c.jsonRules = append(c.jsonRules, b)
		c.jsonForced = append(c.jsonForced, nil)
	}
	for _, m := range v.Prog.Models {
		b := append([]byte(nil), `{"name":`...)
		b = appendString(b, m.Name)
		b = append(b, `,"value":`...)
		c.jsonModels = append(c.jsonModels, b)
	}
}

// appendDecision writes the response object of one decision. index >= 0
// adds the item's position (batch).
func appendDecision(b []byte, index int, rid string, c *serving, d *vm.Decision, latencyUS int64) []byte {
	b = appendItemHead(b, index, rid)
	b = append(b, c.jsonHead...)
	b = append(b, d.Action.String()...)
	b = append(b, `","score":`...)
	b = appendFloat(b, d.Score)
	b = append(b, `,"rules":[`...)
	for i := range d.Fired {
		f := &d.Fired[i]
		if i > 0 {
			b = append(b, ',')
		}
		if f.Rule >= 0 && f.Rule < len(c.jsonRules) {
			if f.Forced {
				b = append(b, c.jsonForced[f.Rule]...)
				continue
			}
			b = append(b, c.jsonRules[f.Rule]...)
			// The same bits as the loaded weight: its encoding, made at
			// load. Formatting a float is most of a response's cost.
			if math.Float64bits(f.Weight) == math.Float64bits(c.ruleWeights[f.Rule]) {
				b = append(b, c.jsonWeights[f.Rule]...)
				continue
			}
			b = appendFloat(b, f.Weight)
			b = append(b, '}')
			continue
		}
		b = append(b, `{"name":`...)
		b = appendString(b, f.Name)
		b = append(b, `,"reason":`...)
		b = appendString(b, f.Reason)
		b = append(b, `,"weight":`...)
		b = appendFloat(b, f.Weight)
		b = append(b, '}')
	}
	b = append(b, `],"models":[`...)
	first := true
	for i := range d.Models {
		mo := &d.Models[i]
		if !mo.Ran {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, c.jsonModels[i]...)
		b = appendFloat(b, mo.Value)
		b = append(b, `,"degraded":`...)
		b = strconv.AppendBool(b, mo.Degraded)
		b = append(b, '}')
	}
	b = append(b, `],"degraded":`...)
	b = strconv.AppendBool(b, d.Degraded)
	b = append(b, `,"latency_us":`...)
	b = strconv.AppendInt(b, latencyUS, 10)
	b = append(b, '}')
	return b
}

// appendItemHead opens a decision or error object: {"index":…, (batch
// items only) "request_id":….
func appendItemHead(b []byte, index int, rid string) []byte {
	b = append(b, '{')
	if index >= 0 {
		b = append(b, `"index":`...)
		b = strconv.AppendInt(b, int64(index), 10)
		b = append(b, ',')
	}
	b = append(b, `"request_id":`...)
	return appendString(b, rid)
}

// appendFloat writes a JSON number; the VM never produces NaN or ±Inf,
// but a JSON encoder must not emit them either.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// control characters are escaped, and so are <, > and & so responses are
// safe to embed in HTML.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' { // <, > and & stay as they are: this is an API, not HTML
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
