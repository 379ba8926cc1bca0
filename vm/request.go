package vm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FieldError is a request problem tied to one field.
type FieldError struct {
	Field string // e.g. "features.amount" or "event"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// wireRequest is the JSON shape of a decision request.
type wireRequest struct {
	Event     string                     `json:"event"`
	RequestID string                     `json:"request_id"`
	Features  map[string]json.RawMessage `json:"features"`
}

// DecodeJSON fills req from a JSON request
// {"event": "...", "request_id": "...", "features": {...}}. Features the
// policy does not declare are ignored; null counts as absent. A key given
// twice in one object, and a body that is not valid UTF-8, are refused
// (strict.go). Other top-level keys are ignored (data files keep labels
// and other columns there); decision requests use the stricter
// DecodeRequest. Every problem is a *FieldError naming the field.
func (p *Program) DecodeJSON(data []byte, req *Request) error { return p.decodeJSON(data, req, false) }

// DecodeRequest is DecodeJSON for a decision request: a top-level key
// other than event, request_id and features is an error naming it (a
// misspelt "feature" would otherwise send a request without features).
func (p *Program) DecodeRequest(data []byte, req *Request) error {
	return p.decodeJSON(data, req, true)
}

func (p *Program) decodeJSON(data []byte, req *Request, strict bool) error {
	req.Reset()
	var w wireRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &FieldError{Field: "body", Msg: "unexpected data after the JSON object"}
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
	if err := p.checkUTF8(data, w.Features); err != nil {
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
		if err := p.setJSON(req, i, raw); err != nil {
			return err
		}
	}
	return p.Complete(req)
}

// requestKeys are the top-level keys of a request, matched exactly (as
// feature names are): encoding/json alone would take "Event" for "event"
// and ignore "feature".
var requestKeys = []string{"event", "request_id", "features"}

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
		return &FieldError{Field: k, Msg: "unknown key" + hint + `; a request has "event", "request_id" and "features"`}
	}
	return nil
}

// decodeError words a JSON decoding error in terms of the request.
func decodeError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &FieldError{Field: "body", Msg: fmt.Sprintf("invalid JSON: %v (at byte %d)", se, se.Offset)}
	case errors.As(err, &te) && te.Field == "":
		return &FieldError{Field: "body", Msg: "must be a JSON object, got " + te.Value}
	case errors.As(err, &te) && te.Field == "features":
		return &FieldError{Field: "features", Msg: "must be an object of feature values, got " + te.Value}
	case errors.As(err, &te):
		return &FieldError{Field: te.Field, Msg: "must be a string, got " + te.Value}
	case errors.Is(err, io.EOF):
		return &FieldError{Field: "body", Msg: "empty; expected a JSON object"}
	}
	return &FieldError{Field: "body", Msg: "invalid JSON: " + err.Error()}
}

// CheckEvent reports an event the program does not handle.
func (p *Program) CheckEvent(event string) error {
	if !p.EventsDeclared {
		return nil
	}
	if event == "" {
		return &FieldError{Field: "event", Msg: "missing; this policy handles " + strings.Join(p.Events, ", ")}
	}
	if p.EventIndex(event) < 0 {
		return &FieldError{Field: "event", Msg: fmt.Sprintf("unknown event %q; this policy handles %s", event, strings.Join(p.Events, ", "))}
	}
	return nil
}

func (p *Program) setJSON(req *Request, i int, raw json.RawMessage) error {
	in := &p.Inputs[i]
	field := "features." + in.Name // only on this JSON path, which allocates anyway
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return &FieldError{Field: field, Msg: "invalid JSON value"}
	}
	switch x := v.(type) {
	case float64:
		if in.Type == TString || in.Type == TBool {
			return &FieldError{Field: field, Msg: "must be " + in.Type.String() + ", got a number"}
		}
		return p.setNumber(req, i, x)
	case string:
		switch in.Type {
		case TString:
			req.Str[in.Slot], req.Present[i] = x, true
			return nil
		case TTime:
			return p.SetText(req, i, x)
		}
		return &FieldError{Field: field, Msg: "must be " + in.Type.String() + ", got a string"}
	case bool:
		if in.Type != TBool {
			return &FieldError{Field: field, Msg: "must be " + in.Type.String() + ", got a bool"}
		}
		req.Num[in.Slot], req.Present[i] = b2f(x), true
		return nil
	}
	return &FieldError{Field: field, Msg: "must be " + in.Type.String() + ", got an object or array"}
}

// setNumber stores a numeric value after checking its type and bounds.
func (p *Program) setNumber(req *Request, i int, x float64) error {
	in := &p.Inputs[i]
	field := in.fieldName
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return &FieldError{Field: field(), Msg: "must be a finite number"}
	case in.Type == TInt && (x != math.Trunc(x) || math.Abs(x) > 1<<53):
		return &FieldError{Field: field(), Msg: fmt.Sprintf("must be an integer, got %v", x)}
	case x < in.Min || (in.MinOpen && x == in.Min):
		return &FieldError{Field: field(), Msg: fmt.Sprintf("%v is below the minimum %s%v", x, openWord(in.MinOpen, ">", ">="), in.Min)}
	case x > in.Max || (in.MaxOpen && x == in.Max):
		return &FieldError{Field: field(), Msg: fmt.Sprintf("%v is above the maximum %s%v", x, openWord(in.MaxOpen, "<", "<="), in.Max)}
	}
	req.Num[in.Slot], req.Present[i] = x, true
	return nil
}

// fieldName names the input in errors. A method value, so the string is
// only built when an error is reported (decoding runs per row).
func (in *Input) fieldName() string { return "features." + in.Name }

func openWord(open bool, a, b string) string {
	if open {
		return a + " "
	}
	return b + " "
}

// SetText stores input i parsed from text, as found in CSV files: numbers,
// true/false/1/0 for bools, RFC 3339 or Unix seconds for times. An empty
// text leaves the input absent.
func (p *Program) SetText(req *Request, i int, text string) error {
	in := &p.Inputs[i]
	field := in.fieldName
	text = strings.TrimSpace(text)
	if text == "" {
		return nil
	}
	switch in.Type {
	case TString:
		req.Str[in.Slot], req.Present[i] = text, true
		return nil
	case TBool:
		switch strings.ToLower(text) {
		case "true", "1":
			req.Num[in.Slot], req.Present[i] = 1, true
		case "false", "0":
			req.Num[in.Slot], req.Present[i] = 0, true
		default:
			return &FieldError{Field: field(), Msg: fmt.Sprintf("must be a bool, got %q", text)}
		}
		return nil
	case TTime:
		if t, err := time.Parse(time.RFC3339Nano, text); err == nil {
			// Not UnixNano, which overflows outside 1678–2262.
			return p.setNumber(req, i, float64(t.Unix())+float64(t.Nanosecond())/1e9)
		}
	}
	x, err := strconv.ParseFloat(text, 64)
	if err == nil && strings.ContainsAny(text, "xX_") {
		// ParseFloat also reads hex floats (0x1p30) and underscores,
		// which no data file or client means as a number or a time.
		err = strconv.ErrSyntax
	}
	if err != nil {
		what := "a number"
		if in.Type == TTime {
			what = "an RFC 3339 time or Unix seconds"
		}
		return &FieldError{Field: field(), Msg: fmt.Sprintf("must be %s, got %q", what, text)}
	}
	return p.setNumber(req, i, x)
}

// Complete applies defaults and reports the first missing required input.
func (p *Program) Complete(req *Request) error {
	for i := range p.Inputs {
		in := &p.Inputs[i]
		if req.Present[i] || in.Optional {
			continue
		}
		if in.Default == nil {
			return &FieldError{Field: "features." + in.Name, Msg: "required feature is missing"}
		}
		if in.Type == TString {
			req.Str[in.Slot] = in.Default.Str
		} else {
			req.Num[in.Slot] = in.Default.Num
		}
		req.Present[i] = true
	}
	return nil
}
