package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/riskforge/riskforge/vm"
)

// DecideRequest is the body of POST /v1/decide and one item of a batch:
//
//	{"event": "payment", "request_id": "r-1", "features": {"amount": 12.5}}
//
// Features the policy does not declare are ignored; null counts as absent.
type DecideRequest struct {
	// Event names what happened; required when the policy declares events.
	Event string `json:"event"`
	// RequestID identifies the decision (1 to 128 printable ASCII
	// characters); riskd makes one when it is absent.
	RequestID string `json:"request_id,omitempty"`
	// Features are the policy's inputs by name: numbers, strings, bools,
	// times as RFC 3339 text or Unix seconds.
	Features map[string]json.RawMessage `json:"features"`
}

// EventOf reads the event of a request body, "" when it has none or is
// not a request (the decoder reports that): riskd picks the policy by
// event before any version decodes the body.
func EventOf(body []byte) string {
	var r struct {
		Event string `json:"event"`
	}
	json.Unmarshal(body, &r) // a bad body is reported when it is decoded
	return r.Event
}

// requestKeys are the top-level keys of a request, matched exactly (as
// feature names are): encoding/json alone would take "Event" for "event"
// and ignore "feature".
var requestKeys = []string{"event", "request_id", "features"}

// DecodeJSON fills req from a JSON request
// {"event": "...", "request_id": "...", "features": {...}}. Features the
// policy does not declare are ignored; null counts as absent. A key given
// twice in one object, and a body that is not valid UTF-8, are refused
// (strict.go). Other top-level keys are ignored (data files keep labels
// and other columns there); decision requests use the stricter
// DecodeRequest. Every problem is a *vm.FieldError naming the field.
func DecodeJSON(p *vm.Program, data []byte, req *vm.Request) error {
	return decodeJSON(p, data, req, false)
}

// DecodeRequest is DecodeJSON for a decision request: a top-level key
// other than event, request_id and features is an error naming it (a
// misspelt "feature" would otherwise send a request without features).
// It is the reference decoder: Decoder's fast path must agree with it.
func DecodeRequest(p *vm.Program, data []byte, req *vm.Request) error {
	return decodeJSON(p, data, req, true)
}

func decodeJSON(p *vm.Program, data []byte, req *vm.Request, strict bool) error {
	req.Reset()
	var w DecideRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &vm.FieldError{Field: "body", Msg: "unexpected data after the JSON object"}
	}
	if err := checkDuplicates(data); err != nil {
		return err
	}
	if strict {
		if err := checkKeys(top); err != nil {
			return err
		}
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return decodeError(err)
	}
	if err := checkUTF8(p, data, w.Features); err != nil {
		return err
	}
	req.Event, req.ID = w.Event, w.RequestID
	if err := p.CheckEvent(req.Event); err != nil {
		return err
	}
	for i := range p.Inputs {
		raw, ok := w.Features[p.Inputs[i].Name]
		if !ok || string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		if err := setJSON(p, req, i, raw); err != nil {
			return err
		}
	}
	return p.Complete(req)
}

// checkKeys refuses a top-level key that is not one of requestKeys.
func checkKeys(top map[string]json.RawMessage) error {
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same key is named every time
	for _, k := range keys {
		known := false
		for _, r := range requestKeys {
			known = known || k == r
		}
		if known {
			continue
		}
		hint := ""
		for _, r := range requestKeys {
			if strings.EqualFold(k, r) || strings.EqualFold(strings.TrimSuffix(k, "s"), strings.TrimSuffix(r, "s")) {
				hint = fmt.Sprintf(" (did you mean %q?)", r)
			}
		}
		return &vm.FieldError{Field: k, Msg: "unknown key" + hint + `; a request has "event", "request_id" and "features"`}
	}
	return nil
}

// decodeError words a JSON decoding error in terms of the request.
func decodeError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &vm.FieldError{Field: "body", Msg: fmt.Sprintf("invalid JSON: %v (at byte %d)", se, se.Offset)}
	case errors.As(err, &te) && te.Field == "":
		return &vm.FieldError{Field: "body", Msg: "must be a JSON object, got " + te.Value}
	case errors.As(err, &te) && te.Field == "features":
		return &vm.FieldError{Field: "features", Msg: "must be an object of feature values, got " + te.Value}
	case errors.As(err, &te):
		return &vm.FieldError{Field: te.Field, Msg: "must be a string, got " + te.Value}
	case errors.Is(err, io.EOF):
		return &vm.FieldError{Field: "body", Msg: "empty; expected a JSON object"}
	}
	return &vm.FieldError{Field: "body", Msg: "invalid JSON: " + err.Error()}
}

// setJSON stores one feature's JSON value through the typed setters.
func setJSON(p *vm.Program, req *vm.Request, i int, raw json.RawMessage) error {
	in := &p.Inputs[i]
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return &vm.FieldError{Field: in.Name, Input: true, Msg: "invalid JSON value"}
	}
	switch x := v.(type) {
	case float64:
		return p.SetNumber(req, i, x)
	case string:
		return p.SetString(req, i, x)
	case bool:
		return p.SetBool(req, i, x)
	}
	return &vm.FieldError{Field: in.Name, Input: true, Msg: "must be " + in.Type.String() + ", got an object or array"}
}

// FieldPath is where a decoding error's field sits in a v1 request: an
// input of the policy is under "features".
func FieldPath(fe *vm.FieldError) string {
	if fe.Input {
		return "features." + fe.Field
	}
	return fe.Field
}

// ErrorText is a decoding error as a v1 client reads it: the field's path
// in the request, then the message.
func ErrorText(err error) string {
	if fe, ok := err.(*vm.FieldError); ok {
		return FieldPath(fe) + ": " + fe.Msg
	}
	return err.Error()
}
