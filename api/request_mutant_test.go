package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/vm"
)

// The reference decoder's refusals, asserted in this package (vm's tests
// decode through it too, but only tests of package api count when its
// mutants are run): each error names the field a client must fix.

const refPolicy = `policy ref version "1"
events pay, refund
input {
  n  int
  s  string
  o  string optional
  b  bool optional
}
rule big
  when n > 5
  emit score 1 reason "big"
`

// refBody is a valid request with the features in feats spliced in.
func refBody(feats string) string {
	return `{"event":"pay","request_id":"r-1","features":{"n":1,"s":"x"` + feats + `}}`
}

func TestDecodeRequestRefusals(t *testing.T) {
	p := compileString(t, refPolicy)
	for _, tc := range []struct {
		name, body, field string
		frags             []string
	}{
		{"syntax error", `{"event": hello}`, "body", []string{"invalid JSON: invalid character 'h'", "(at byte 11)"}},
		{"cut short", `{"event": "pay", "features": {`, "body", []string{"invalid JSON: unexpected EOF"}},
		{"empty", ``, "body", []string{"empty; expected a JSON object"}},
		{"array", `[1]`, "body", []string{"must be a JSON object, got array"}},
		{"string", `"pay"`, "body", []string{"must be a JSON object, got string"}},
		{"event a number", `{"event": 5, "features": {}}`, "event", []string{"must be a string, got number"}},
		{"request_id a bool", `{"event": "pay", "request_id": true, "features": {}}`, "request_id", []string{"must be a string, got bool"}},
		{"features an array", `{"event": "pay", "features": [1]}`, "features", []string{"must be an object of feature values, got array"}},
		{"trailing data", refBody("") + ` {}`, "body", []string{"unexpected data after the JSON object"}},

		{"feature for features", `{"event": "pay", "feature": {"n": 1}}`, "feature", []string{`unknown key (did you mean "features"?); a request has "event", "request_id" and "features"`}},
		{"Event for event", `{"Event": "pay", "features": {}}`, "Event", []string{`unknown key (did you mean "event"?)`}},
		{"events for event", `{"events": "pay", "features": {}}`, "events", []string{`unknown key (did you mean "event"?)`}},
		{"request_ids", `{"event": "pay", "request_ids": "r", "features": {}}`, "request_ids", []string{`(did you mean "request_id"?)`}},
		{"unrelated key", `{"event": "pay", "features": {}, "amount": 5}`, "amount", []string{`unknown key; a request has`}},
		{"first unknown key by name", `{"zz": 1, "event": "pay", "aa": 2, "features": {}}`, "aa", []string{"unknown key; a request has"}},

		{"duplicate feature", refBody(`,"n":2`), "features.n", []string{"appears twice in the same object"}},
		{"duplicate null", refBody(`,"o":null,"o":null`), "features.o", []string{"appears twice"}},
		{"duplicate in a later array item", refBody(`,"zz":[{"a":1},{"a":1,"a":2}]`), "features.zz.a", []string{"appears twice"}},
		{"duplicate in an array in an array", refBody(`,"zz":[[{"q":{"a":1,"a":2}}]]`), "features.zz.q.a", []string{"appears twice"}},
		{"duplicate empty key", refBody(`,"":1,"":2`), `features.""`, []string{"appears twice"}},
		{"duplicate top-level key in another case", `{"event":"pay","EVENT":"refund","features":{}}`, "EVENT", []string{"appears twice"}},
		{"duplicate top-level key", `{"event":"pay","features":{},"event":"pay"}`, "event", []string{"appears twice"}},

		{"invalid UTF-8 in an input", refBody(",\"o\":\"x\xff\""), "features.o", []string{"is not valid UTF-8"}},
		{"invalid UTF-8 elsewhere", "{\"event\":\"pay\",\"request_id\":\"\xff\",\"features\":{\"n\":1,\"s\":\"x\"}}", "body", []string{"is not valid UTF-8 (in the event, the request_id or a feature the policy does not read)"}},
		{"invalid UTF-8 in an undeclared feature", refBody(",\"zz\":\"\xfe\""), "body", []string{"is not valid UTF-8 (in"}},

		{"number out of range", refBody(`,"b":1e400`), "features.b", []string{"invalid JSON value"}},
		{"object for int", `{"event":"pay","features":{"n":{"v":1},"s":"x"}}`, "features.n", []string{"must be int, got an object or array"}},
		{"array for string", `{"event":"pay","features":{"n":1,"s":["x"]}}`, "features.s", []string{"must be string, got an object or array"}},
		{"string for bool", refBody(`,"b":"true"`), "features.b", []string{"must be bool, got a string"}},
		{"null required", `{"event":"pay","features":{"n":null,"s":"x"}}`, "features.n", []string{"required feature is missing"}},
		{"unknown event", `{"event":"chargeback","features":{"n":1,"s":"x"}}`, "event", []string{`unknown event "chargeback"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := DecodeRequest(p, []byte(tc.body), p.NewRequest())
			var fe *vm.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%s: error %v (%T), want a *vm.FieldError", tc.body, err, err)
			}
			if got := FieldPath(fe); got != tc.field {
				t.Errorf("%s: field %q, want %q (%v)", tc.body, got, tc.field, err)
			}
			for _, f := range tc.frags {
				if !strings.Contains(fe.Msg, f) {
					t.Errorf("%s: message %q lacks %q", tc.body, fe.Msg, f)
				}
			}
			if want := tc.field + ": " + fe.Msg; ErrorText(err) != want {
				t.Errorf("ErrorText = %q, want %q", ErrorText(err), want)
			}
			// The fast path never takes a body the reference refuses.
			if d := NewDecoder(p); d.Decode([]byte(tc.body), p.NewRequest()) == nil {
				t.Errorf("Decoder accepted %s", tc.body)
			}
		})
	}
}

// TestDecodeRequestAccepts: what the reference decoder takes, and the
// keys it matches exactly (only top-level keys fold case, as
// encoding/json folds them onto the request's fields).
func TestDecodeRequestAccepts(t *testing.T) {
	p := compileString(t, refPolicy)
	for _, c := range []struct {
		body string
		n    float64
		s, o string
		b    float64
	}{
		{refBody(""), 1, "x", "", 0},
		{refBody(`,"o":"y","b":true`), 1, "x", "y", 1},
		{refBody(`,"o":null,"b":false`), 1, "x", "", 0},
		{refBody(`,"N":7,"S":"other"`), 1, "x", "", 0},                         // features match by exact name
		{refBody(`,"zz":[{"a":1},{"a":2}],"yy":{"a":{"a":1}}`), 1, "x", "", 0}, // the same key in different objects
		{refBody(`,"":1,"zz":{"":2}`), 1, "x", "", 0},
		{`{"features":{"s":"x","n":3},"event":"refund"}`, 3, "x", "", 0},
	} {
		req := p.NewRequest()
		if err := DecodeRequest(p, []byte(c.body), req); err != nil {
			t.Errorf("%s: %v", c.body, err)
			continue
		}
		in := func(name string) *vm.Input { return &p.Inputs[p.InputIndex(name)] }
		if req.Num[in("n").Slot] != c.n || req.Str[in("s").Slot] != c.s || req.Str[in("o").Slot] != c.o || req.Num[in("b").Slot] != c.b {
			t.Errorf("%s: decoded n=%v s=%q o=%q b=%v", c.body, req.Num[in("n").Slot], req.Str[in("s").Slot], req.Str[in("o").Slot], req.Num[in("b").Slot])
		}
		if req.Present[p.InputIndex("o")] != (c.o != "") {
			t.Errorf("%s: o present %v", c.body, req.Present[p.InputIndex("o")])
		}
	}
}

// TestDecodeJSONKeepsOtherKeys: data files keep labels beside the request,
// so DecodeJSON ignores top-level keys that DecodeRequest refuses, but
// refuses duplicates the same.
func TestDecodeJSONKeepsOtherKeys(t *testing.T) {
	p := compileString(t, refPolicy)
	body := []byte(`{"label":1,"event":"pay","features":{"n":1,"s":"x"}}`)
	if err := DecodeJSON(p, body, p.NewRequest()); err != nil {
		t.Errorf("DecodeJSON: %v", err)
	}
	if err := DecodeRequest(p, body, p.NewRequest()); ErrorText(err) != `label: unknown key; a request has "event", "request_id" and "features"` {
		t.Errorf("DecodeRequest: %v", err)
	}
	if err := DecodeJSON(p, []byte(`{"label":1,"LABEL":0,"event":"pay","features":{"n":1,"s":"x"}}`), p.NewRequest()); ErrorText(err) != "LABEL: appears twice in the same object; send each key once" {
		t.Errorf("DecodeJSON with a duplicate label: %v", err)
	}
}

func TestErrorTextAndFieldPath(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&vm.FieldError{Field: "amount", Input: true, Msg: "too big"}, "features.amount: too big"},
		{&vm.FieldError{Field: "event", Msg: "missing"}, "event: missing"},
		{errors.New("disk on fire"), "disk on fire"},
	} {
		if got := ErrorText(c.err); got != c.want {
			t.Errorf("ErrorText(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestEventOf(t *testing.T) {
	for body, want := range map[string]string{
		`{"event":"pay","features":{}}`: "pay",
		`{"features":{}}`:               "",
		`not json`:                      "",
		`{"event":5}`:                   "",
	} {
		if got := EventOf([]byte(body)); got != want {
			t.Errorf("EventOf(%s) = %q, want %q", body, got, want)
		}
	}
}

func TestCodeForStatus(t *testing.T) {
	for status, want := range map[int]Code{
		400: CodeInvalidRequest, 401: CodeUnauthorized, 403: CodeForbidden, 404: CodeNotFound,
		405: CodeMethodNotAllowed, 408: CodeTimeout, 413: CodeTooLarge, 429: CodeOverloaded,
		503: CodeUnavailable, 500: CodeInternal, 502: CodeInternal,
		// Other 4xx are the client's; everything else is ours.
		402: CodeInvalidRequest, 422: CodeInvalidRequest, 499: CodeInvalidRequest,
		399: CodeInternal, 200: CodeInternal, 0: CodeInternal,
	} {
		if got := CodeForStatus(status); got != want {
			t.Errorf("CodeForStatus(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestBatchResultFailed(t *testing.T) {
	if (&BatchResult{Decision: Decision{Decision: "approve"}}).Failed() {
		t.Error("a decision counts as failed")
	}
	if !(&BatchResult{ErrorText: "features.n: missing", Code: CodeInvalidRequest}).Failed() {
		t.Error("an error does not count as failed")
	}
}
