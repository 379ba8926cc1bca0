package vm_test

import (
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/api"
	"github.com/riskforge/riskforge/vm"
)

// decodePolicy has one input per type and per kind of bound.
const decodePolicy = `policy dec version "1"
events pay, refund
input {
  n     int
  f     float >= 0
  g     float > 0
  h     float <= 10
  k     float < 10
  r     int between 1 and 5
  b     bool
  s     string
  t     time
  o     string optional
  onum  float optional
  dflt  float default 2.5
  dint  int default -3
  dstr  string default "zz"
  dbool bool default true
}
rule any when n > 0 emit review reason "any"
`

// decodeOK is a valid request body; tests patch one feature at a time.
var decodeOK = map[string]string{
	"n": "1", "f": "0", "g": "0.5", "h": "10", "k": "9.99", "r": "1", "b": "true", "s": `"x"`, "t": `"2026-11-25T13:45:00Z"`,
}

// body renders a request with decodeOK's features patched by over
// (a value "-" removes the feature).
func jsonBody(event string, over map[string]string) []byte {
	feats := map[string]string{}
	for k, v := range decodeOK {
		feats[k] = v
	}
	for k, v := range over {
		if v == "-" {
			delete(feats, k)
		} else {
			feats[k] = v
		}
	}
	var b strings.Builder
	b.WriteString(`{"request_id": "r-1", `)
	if event != "" {
		b.WriteString(`"event": "` + event + `", `)
	}
	b.WriteString(`"features": {`)
	first := true
	for _, k := range slices.Sorted(maps.Keys(feats)) {
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(`"` + k + `": ` + feats[k])
	}
	b.WriteString("}}")
	return []byte(b.String())
}

func decodeProgram(t testing.TB) *vm.Program {
	_, p := compileSource(t, decodePolicy, nil)
	return p
}

// fieldErr asserts err is a *FieldError for field whose message contains
// every fragment.
func fieldErr(t *testing.T, err error, field string, fragments ...string) {
	t.Helper()
	var fe *vm.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T), want a *vm.FieldError for %s", err, err, field)
	}
	// vm names inputs bare; the request's path is api's to add.
	if strings.HasPrefix(fe.Field, "features.") {
		t.Errorf("vm error names %q: the wire path leaked into vm", fe.Field)
	}
	if path := api.FieldPath(fe); path != field {
		t.Errorf("error names field %q, want %q (%v)", path, field, err)
	}
	for _, f := range fragments {
		if !strings.Contains(fe.Msg, f) {
			t.Errorf("message %q lacks %q", fe.Msg, f)
		}
	}
	if !strings.HasPrefix(api.ErrorText(err), field+": ") {
		t.Errorf("ErrorText = %q, want it to start with the field", api.ErrorText(err))
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	p := decodeProgram(t)
	for _, tc := range []struct {
		name  string
		data  string
		field string
		frags []string
	}{
		{"malformed", `{"event": "pay", "features": {`, "body", []string{"invalid JSON"}},
		{"not JSON", `hello`, "body", []string{"invalid JSON", "at byte"}},
		{"empty body", ``, "body", []string{"empty; expected a JSON object"}},
		{"trailing object", string(jsonBody("pay", nil)) + ` {}`, "body", []string{"unexpected data after the JSON object"}},
		{"trailing garbage", string(jsonBody("pay", nil)) + ` x`, "body", []string{"unexpected data"}},
		{"array body", `[]`, "body", []string{"must be a JSON object", "array"}},
		{"event not a string", `{"event": 5}`, "event", []string{"must be a string", "number"}},
		{"features not an object", `{"event": "pay", "features": [1]}`, "features", []string{"must be an object", "array"}},
		{"unknown event", string(jsonBody("chargeback", nil)), "event", []string{`unknown event "chargeback"`, "pay, refund"}},
		{"missing event", string(jsonBody("", nil)), "event", []string{"missing", "pay, refund"}},
		{"unknown top-level key", `{"event": "pay", "feature": {"n": 1}}`, "feature", []string{`unknown key (did you mean "features"?); a request has "event", "request_id" and "features"`}},
		{"top-level keys match exactly, like features", `{"Event": "pay", "features": {}}`, "Event", []string{`unknown key (did you mean "event"?)`}},
		{"unrelated top-level key", `{"event": "pay", "features": {}, "amount": 5}`, "amount", []string{`unknown key; a request has`}},

		{"string for int", string(jsonBody("pay", map[string]string{"n": `"1"`})), "features.n", []string{"must be int, got a string"}},
		{"string for float", string(jsonBody("pay", map[string]string{"f": `"1"`})), "features.f", []string{"must be float, got a string"}},
		{"string for bool", string(jsonBody("pay", map[string]string{"b": `"true"`})), "features.b", []string{"must be bool, got a string"}},
		{"number for string", string(jsonBody("pay", map[string]string{"s": `12`})), "features.s", []string{"must be string, got a number"}},
		{"number for bool", string(jsonBody("pay", map[string]string{"b": `1`})), "features.b", []string{"must be bool, got a number"}},
		{"bool for int", string(jsonBody("pay", map[string]string{"n": `true`})), "features.n", []string{"must be int, got a bool"}},
		{"bool for float", string(jsonBody("pay", map[string]string{"f": `false`})), "features.f", []string{"must be float, got a bool"}},
		{"bool for string", string(jsonBody("pay", map[string]string{"s": `true`})), "features.s", []string{"must be string, got a bool"}},
		{"bool for time", string(jsonBody("pay", map[string]string{"t": `true`})), "features.t", []string{"must be time, got a bool"}},
		{"object for int", string(jsonBody("pay", map[string]string{"n": `{"v": 1}`})), "features.n", []string{"must be int, got an object or array"}},
		{"array for float", string(jsonBody("pay", map[string]string{"f": `[1]`})), "features.f", []string{"must be float, got an object or array"}},
		{"object for string", string(jsonBody("pay", map[string]string{"s": `{}`})), "features.s", []string{"must be string, got an object or array"}},
		{"array for bool", string(jsonBody("pay", map[string]string{"b": `[]`})), "features.b", []string{"must be bool, got an object or array"}},
		{"object for time", string(jsonBody("pay", map[string]string{"t": `{}`})), "features.t", []string{"must be time, got an object or array"}},
		{"array for optional", string(jsonBody("pay", map[string]string{"o": `["a"]`})), "features.o", []string{"must be string, got an object or array"}},
		{"number too large", string(jsonBody("pay", map[string]string{"f": `1e400`})), "features.f", []string{"invalid JSON value"}},

		{"non-integer int", string(jsonBody("pay", map[string]string{"n": `1.5`})), "features.n", []string{"must be an integer, got 1.5"}},
		{"int beyond 2^53", string(jsonBody("pay", map[string]string{"n": `1e300`})), "features.n", []string{"must be an integer"}},
		{"non-integer bounded int", string(jsonBody("pay", map[string]string{"r": `2.5`})), "features.r", []string{"must be an integer"}},
		{"below >=", string(jsonBody("pay", map[string]string{"f": `-0.01`})), "features.f", []string{"-0.01 is below the minimum >= 0"}},
		{"at > bound", string(jsonBody("pay", map[string]string{"g": `0`})), "features.g", []string{"0 is below the minimum > 0"}},
		{"below >", string(jsonBody("pay", map[string]string{"g": `-5`})), "features.g", []string{"below the minimum > 0"}},
		{"above <=", string(jsonBody("pay", map[string]string{"h": `10.5`})), "features.h", []string{"10.5 is above the maximum <= 10"}},
		{"at < bound", string(jsonBody("pay", map[string]string{"k": `10`})), "features.k", []string{"10 is above the maximum < 10"}},
		{"below between", string(jsonBody("pay", map[string]string{"r": `0`})), "features.r", []string{"0 is below the minimum >= 1"}},
		{"above between", string(jsonBody("pay", map[string]string{"r": `6`})), "features.r", []string{"6 is above the maximum <= 5"}},

		{"missing required", string(jsonBody("pay", map[string]string{"n": "-"})), "features.n", []string{"required feature is missing"}},
		{"null required", string(jsonBody("pay", map[string]string{"s": "null"})), "features.s", []string{"required feature is missing"}},
		{"empty time text", string(jsonBody("pay", map[string]string{"t": `""`})), "features.t", []string{"required feature is missing"}},
		{"bad time text", string(jsonBody("pay", map[string]string{"t": `"yesterday"`})), "features.t", []string{`must be an RFC 3339 time or Unix seconds, got "yesterday"`}},
		{"time without zone", string(jsonBody("pay", map[string]string{"t": `"2026-11-25T13:45:00"`})), "features.t", []string{"RFC 3339"}},
		{"NaN time text", string(jsonBody("pay", map[string]string{"t": `"NaN"`})), "features.t", []string{"must be a finite number"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := p.NewRequest()
			fieldErr(t, api.DecodeRequest(p, []byte(tc.data), req), tc.field, tc.frags...)
		})
	}
}

func TestDecodeJSONValues(t *testing.T) {
	p := decodeProgram(t)
	slot := func(name string) (vm.Input, int) {
		i := p.InputIndex(name)
		if i < 0 {
			t.Fatalf("no input %s", name)
		}
		return p.Inputs[i], i
	}
	num := func(req *vm.Request, name string) float64 {
		in, i := slot(name)
		if !req.Present[i] {
			t.Errorf("%s not present", name)
		}
		return req.Num[in.Slot]
	}
	str := func(req *vm.Request, name string) string {
		in, i := slot(name)
		if !req.Present[i] {
			t.Errorf("%s not present", name)
		}
		return req.Str[in.Slot]
	}
	present := func(req *vm.Request, name string) bool {
		_, i := slot(name)
		return req.Present[i]
	}
	decodeT := func(over map[string]string) *vm.Request {
		t.Helper()
		req := p.NewRequest()
		if err := api.DecodeJSON(p, jsonBody("pay", over), req); err != nil {
			t.Fatalf("DecodeJSON: %v", err)
		}
		return req
	}

	t.Run("values, defaults and absent optionals", func(t *testing.T) {
		req := decodeT(map[string]string{"unknown_feature": `{"ignored": [1, 2]}`})
		if req.Event != "pay" || req.ID != "r-1" {
			t.Errorf("event %q id %q", req.Event, req.ID)
		}
		if num(req, "n") != 1 || num(req, "g") != 0.5 || num(req, "h") != 10 || num(req, "b") != 1 || str(req, "s") != "x" {
			t.Errorf("values %v %q", req.Num, req.Str)
		}
		if num(req, "dflt") != 2.5 || num(req, "dint") != -3 || str(req, "dstr") != "zz" || num(req, "dbool") != 1 {
			t.Errorf("defaults not applied: %v %q", req.Num, req.Str)
		}
		if present(req, "o") || present(req, "onum") {
			t.Error("absent optional inputs are present")
		}
	})
	t.Run("null is absent", func(t *testing.T) {
		req := decodeT(map[string]string{"o": "null", "onum": " null ", "dflt": "null", "dstr": "null"})
		if present(req, "o") || present(req, "onum") {
			t.Error("null optional is present")
		}
		if num(req, "dflt") != 2.5 || str(req, "dstr") != "zz" {
			t.Error("null did not give the default")
		}
	})
	t.Run("given values beat defaults", func(t *testing.T) {
		req := decodeT(map[string]string{"o": `""`, "onum": "-1.5", "dflt": "0", "dstr": `""`, "dbool": "false", "dint": "7"})
		if !present(req, "o") || str(req, "o") != "" || num(req, "onum") != -1.5 {
			t.Error("optional values not stored")
		}
		if num(req, "dflt") != 0 || str(req, "dstr") != "" || num(req, "dbool") != 0 || num(req, "dint") != 7 {
			t.Error("defaults overrode given values")
		}
	})
	t.Run("bounds are inclusive or exclusive as declared", func(t *testing.T) {
		req := decodeT(map[string]string{"f": "0", "g": "5e-324", "h": "10", "k": "9.999999", "r": "5"})
		if num(req, "f") != 0 || num(req, "g") != 5e-324 || num(req, "r") != 5 {
			t.Error("boundary values not stored")
		}
	})
	t.Run("integers", func(t *testing.T) {
		req := decodeT(map[string]string{"n": "1e3", "dint": "-0"})
		if num(req, "n") != 1000 || num(req, "dint") != 0 {
			t.Error("integral numbers not accepted as int")
		}
		req = decodeT(map[string]string{"n": "9007199254740992"})
		if num(req, "n") != 1<<53 {
			t.Error("2^53 not accepted")
		}
	})
	for _, tc := range []struct {
		text string
		want float64
	}{
		{`"2026-11-25T13:45:00Z"`, 1795614300},
		{`"2026-11-25T14:45:00+01:00"`, 1795614300},
		{`"2026-11-25T13:45:00.5Z"`, 1795614300.5}, // exact: .5 survives float64(UnixNano)
		{`"1970-01-01T00:00:00Z"`, 0},
		{`"1969-12-31T23:59:59Z"`, -1},
		{`1795614300.25`, 1795614300.25},
		{`-86400`, -86400},
		{`" 1795614300 "`, 1795614300},
	} {
		t.Run("time "+tc.text, func(t *testing.T) {
			req := decodeT(map[string]string{"t": tc.text})
			if got := num(req, "t"); got != tc.want {
				t.Errorf("time %s = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
	t.Run("no events declared: event ignored", func(t *testing.T) {
		_, q := compileSource(t, "policy q version \"1\"\ninput {\n x float\n}\nrule r when x > 1 emit review reason \"r\"\n", nil)
		for _, data := range []string{`{"features": {"x": 2}}`, `{"event": "whatever", "features": {"x": 2}}`} {
			req := q.NewRequest()
			if err := api.DecodeJSON(q, []byte(data), req); err != nil {
				t.Errorf("%s: %v", data, err)
			}
		}
	})
}

func TestSetText(t *testing.T) {
	p := decodeProgram(t)
	idx := func(name string) int { return p.InputIndex(name) }
	for _, tc := range []struct {
		input, text string
		want        float64
		wantStr     string
		field, frag string // expected error
	}{
		{input: "n", text: "12", want: 12},
		{input: "n", text: " -7 ", want: -7},
		{input: "n", text: "1e3", want: 1000},
		{input: "n", text: "1.5", field: "features.n", frag: "must be an integer, got 1.5"},
		{input: "n", text: "abc", field: "features.n", frag: `must be a number, got "abc"`},
		{input: "n", text: "NaN", field: "features.n", frag: "must be a finite number"},
		{input: "f", text: "Inf", field: "features.f", frag: "must be a finite number"},
		{input: "f", text: "-1", field: "features.f", frag: "below the minimum >= 0"},
		{input: "g", text: "0", field: "features.g", frag: "below the minimum > 0"},
		{input: "h", text: "11", field: "features.h", frag: "above the maximum <= 10"},
		{input: "k", text: "10", field: "features.k", frag: "above the maximum < 10"},
		{input: "r", text: "9", field: "features.r", frag: "above the maximum <= 5"},
		{input: "r", text: "3", want: 3},
		{input: "b", text: "true", want: 1},
		{input: "b", text: "TRUE", want: 1},
		{input: "b", text: "1", want: 1},
		{input: "b", text: "False", want: 0},
		{input: "b", text: "0", want: 0},
		{input: "b", text: "yes", field: "features.b", frag: `must be a bool, got "yes"`},
		{input: "s", text: "  hello world ", wantStr: "hello world"},
		{input: "t", text: "2026-11-25T13:45:00Z", want: 1795614300},
		{input: "t", text: "2026-11-25T14:45:00+01:00", want: 1795614300},
		{input: "t", text: "1795614300", want: 1795614300},
		{input: "t", text: "-1.5", want: -1.5},
		{input: "t", text: "25/11/2026", field: "features.t", frag: `must be an RFC 3339 time or Unix seconds, got "25/11/2026"`},
	} {
		t.Run(tc.input+" "+tc.text, func(t *testing.T) {
			req := p.NewRequest()
			i := idx(tc.input)
			err := p.SetText(req, i, tc.text)
			if tc.field != "" {
				fieldErr(t, err, tc.field, tc.frag)
				if req.Present[i] {
					t.Error("input present after an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			in := p.Inputs[i]
			if !req.Present[i] {
				t.Error("not present")
			}
			if in.Type == vm.TString {
				if req.Str[in.Slot] != tc.wantStr {
					t.Errorf("got %q, want %q", req.Str[in.Slot], tc.wantStr)
				}
			} else if req.Num[in.Slot] != tc.want {
				t.Errorf("got %v, want %v", req.Num[in.Slot], tc.want)
			}
		})
	}
	t.Run("empty text leaves the input absent", func(t *testing.T) {
		req := p.NewRequest()
		for _, name := range []string{"n", "s", "t", "b"} {
			if err := p.SetText(req, idx(name), "  "); err != nil || req.Present[idx(name)] {
				t.Errorf("%s: err %v, present %v", name, err, req.Present[idx(name)])
			}
		}
	})
}

func TestComplete(t *testing.T) {
	p := decodeProgram(t)
	req := p.NewRequest()
	// Nothing set: the first required input (in declaration order) is named.
	fieldErr(t, p.Complete(req), "features.n", "required feature is missing")
	for _, kv := range [][2]string{{"n", "1"}, {"f", "1"}, {"g", "1"}, {"h", "1"}, {"k", "1"}, {"r", "1"}, {"b", "1"}} {
		if err := p.SetText(req, p.InputIndex(kv[0]), kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	fieldErr(t, p.Complete(req), "features.s", "required feature is missing")
	if err := p.SetText(req, p.InputIndex("s"), "x"); err != nil {
		t.Fatal(err)
	}
	fieldErr(t, p.Complete(req), "features.t", "required feature is missing")
	if err := p.SetText(req, p.InputIndex("t"), "0"); err != nil {
		t.Fatal(err)
	}
	if err := p.Complete(req); err != nil {
		t.Fatal(err)
	}
	for i, in := range p.Inputs {
		if req.Present[i] == in.Optional {
			t.Errorf("%s: present %v, optional %v", in.Name, req.Present[i], in.Optional)
		}
	}
	if req.Num[p.Inputs[p.InputIndex("dflt")].Slot] != 2.5 || req.Str[p.Inputs[p.InputIndex("dstr")].Slot] != "zz" {
		t.Error("defaults not applied")
	}
	// Reset clears everything for reuse.
	req.Reset()
	if err := p.Complete(req); err == nil {
		t.Error("Complete after Reset succeeded")
	}
}

// json.Decoder.More reports false before a closing bracket or brace; the
// decoder must still reject a body followed by a stray ']' or '}'.
func TestDecodeJSONTrailingBracket(t *testing.T) {
	p := decodeProgram(t)
	for _, tail := range []string{"]", "}", " ]]"} {
		req := p.NewRequest()
		fieldErr(t, api.DecodeJSON(p, append(jsonBody("pay", nil), tail...), req), "body", "unexpected data")
	}
}

// RFC 3339 times must not overflow outside the years 1678–2262 (as
// UnixNano would: "2300-01-01T00:00:00Z" once decoded as a time in 1715)
// and must round fractions like the same instant sent as a number.
func TestSetTextTimeConversion(t *testing.T) {
	p := decodeProgram(t)
	for _, tc := range []struct {
		text string
		want float64
	}{
		{"2300-01-01T00:00:00Z", 10413792000},
		{"1600-01-01T00:00:00Z", -11676096000},
		{"9999-12-31T23:59:59Z", 253402300799},
		{"2026-11-25T13:45:00.25Z", 1795614300.25},
		{"2026-11-25T13:45:00.1Z", 1795614300.1},
	} {
		req := p.NewRequest()
		i := p.InputIndex("t")
		if err := p.SetText(req, i, tc.text); err != nil {
			t.Fatal(err)
		}
		if got := req.Num[p.Inputs[i].Slot]; got != tc.want {
			t.Errorf("%s = %v, want %v", tc.text, got, tc.want)
		}
	}
}

// FuzzDecodeJSON: DecodeJSON never panics, and when it succeeds every
// required input is present and every number is finite, integral for ints
// and within its bounds.
func FuzzDecodeJSON(f *testing.F) {
	p := decodeProgram(f)
	f.Add(jsonBody("pay", nil))
	f.Add(jsonBody("refund", map[string]string{"o": `"x"`, "onum": "1", "dflt": "null"}))
	f.Add(jsonBody("pay", map[string]string{"t": "1795614300.5", "n": "1e3"}))
	f.Add(jsonBody("pay", map[string]string{"n": `"1"`}))
	f.Add(jsonBody("", nil))
	f.Add([]byte(`{"event": "pay", "features": {"n": [1, {"a": null}]}}`))
	f.Add([]byte(`{"event": "pay"} ]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"features": null}`))
	g := newGenerator(5, genOptions{})
	gp := generatePolicy(f, 5, genOptions{Rules: 1, Depth: 1})
	for i := 0; i < 4; i++ {
		f.Add(g.request().json())
	}
	req := p.NewRequest()
	greq := gp.Prog.NewRequest()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tc := range []struct {
			p   *vm.Program
			req *vm.Request
		}{{p, req}, {gp.Prog, greq}} {
			if err := api.DecodeJSON(tc.p, data, tc.req); err != nil {
				var fe *vm.FieldError
				if !errors.As(err, &fe) || fe.Field == "" {
					t.Fatalf("error %v is not a FieldError naming a field", err)
				}
				continue
			}
			for i, in := range tc.p.Inputs {
				if !tc.req.Present[i] {
					if !in.Optional {
						t.Fatalf("required input %s missing after a successful decode", in.Name)
					}
					continue
				}
				if in.Type == vm.TString {
					continue
				}
				x := tc.req.Num[in.Slot]
				switch {
				case math.IsNaN(x) || math.IsInf(x, 0):
					t.Fatalf("%s = %v", in.Name, x)
				case in.Type == vm.TInt && x != math.Trunc(x):
					t.Fatalf("int %s = %v", in.Name, x)
				case in.Type == vm.TBool && x != 0 && x != 1:
					t.Fatalf("bool %s = %v", in.Name, x)
				case x < in.Min || x > in.Max || (in.MinOpen && x == in.Min) || (in.MaxOpen && x == in.Max):
					t.Fatalf("%s = %v outside its bounds", in.Name, x)
				}
			}
		}
	})
}

// TestDecodeJSONDuplicateKeysAndInvalidUTF8: the reference decoder
// refuses a key given twice (any depth; top-level keys case-insensitively,
// as encoding/json matches them) and invalid UTF-8, naming the field.
func TestDecodeJSONDuplicateKeysAndInvalidUTF8(t *testing.T) {
	p := decodeProgram(t)
	for _, c := range []struct{ body, field string }{
		{`{"event":"pay","features":{"n":1,"n":2}}`, "features.n"},
		{`{"event":"pay","features":{"zz":[{"a":1,"a":1}]}}`, "features.zz.a"},
		{`{"event":"pay","EVENT":"refund","features":{}}`, "EVENT"},
		{"{\"event\":\"pay\",\"features\":{\"o\":\"x\xff\"}}", "features.o"},
		{"{\"event\":\"pay\",\"request_id\":\"\xff\",\"features\":{}}", "body"},
	} {
		err := api.DecodeJSON(p, []byte(c.body), p.NewRequest())
		var fe *vm.FieldError
		if !errors.As(err, &fe) || api.FieldPath(fe) != c.field {
			t.Errorf("%q: %v, want a FieldError on %s", c.body, err, c.field)
		}
	}
}

// TestDecodeJSONIgnoresOtherKeys: data files keep labels beside the
// request; only DecodeRequest refuses unknown top-level keys.
func TestDecodeJSONIgnoresOtherKeys(t *testing.T) {
	p := decodeProgram(t)
	ok := jsonBody("pay", nil)
	body := append(ok[:len(ok)-1:len(ok)-1], []byte(`, "label": 1}`)...)
	req := p.NewRequest()
	if err := api.DecodeJSON(p, body, req); err != nil {
		t.Errorf("DecodeJSON: %v", err)
	}
	fieldErr(t, api.DecodeRequest(p, body, req), "label", "unknown key")
}
