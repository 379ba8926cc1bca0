package vm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The typed setters below fill a Request input by input; each checks the
// value against the input's declared type and bounds and reports a
// *FieldError. Wire formats are parsed elsewhere (package api decodes the
// JSON request, package dataset reads CSV and JSON Lines) and call them.

// FieldError is a request problem tied to one field. vm names inputs by
// their declared names; a wire format says where an input sits in it
// (package api: "features.NAME"; a CSV file: the column of that name).
type FieldError struct {
	Field string // an input's name (Input set), or a request field such as "event"
	Msg   string
	// Input says Field names one of the program's inputs.
	Input bool
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

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

// SetNumber stores a number in input i after checking its type (not a
// string or bool input) and bounds.
func (p *Program) SetNumber(req *Request, i int, x float64) error {
	in := &p.Inputs[i]
	if in.Type == TString || in.Type == TBool {
		return &FieldError{Field: in.fieldName(), Input: true, Msg: "must be " + in.Type.String() + ", got a number"}
	}
	return p.setNumber(req, i, x)
}

// SetString stores a JSON string in input i: the text itself for a
// string input, a parsed time (RFC 3339 or Unix seconds) for a time input.
func (p *Program) SetString(req *Request, i int, s string) error {
	in := &p.Inputs[i]
	switch in.Type {
	case TString:
		req.Str[in.Slot], req.Present[i] = s, true
		return nil
	case TTime:
		return p.SetText(req, i, s)
	}
	return &FieldError{Field: in.fieldName(), Input: true, Msg: "must be " + in.Type.String() + ", got a string"}
}

// SetBool stores a bool in input i, which must be a bool input.
func (p *Program) SetBool(req *Request, i int, b bool) error {
	in := &p.Inputs[i]
	if in.Type != TBool {
		return &FieldError{Field: in.fieldName(), Input: true, Msg: "must be " + in.Type.String() + ", got a bool"}
	}
	req.Num[in.Slot], req.Present[i] = b2f(b), true
	return nil
}

// setNumber stores a numeric value after checking its bounds.
func (p *Program) setNumber(req *Request, i int, x float64) error {
	in := &p.Inputs[i]
	field := in.fieldName
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return &FieldError{Field: field(), Input: true, Msg: "must be a finite number"}
	case in.Type == TInt && (x != math.Trunc(x) || math.Abs(x) > 1<<53):
		return &FieldError{Field: field(), Input: true, Msg: fmt.Sprintf("must be an integer, got %v", x)}
	case x < in.Min || (in.MinOpen && x == in.Min):
		return &FieldError{Field: field(), Input: true, Msg: fmt.Sprintf("%v is below the minimum %s%v", x, openWord(in.MinOpen, ">", ">="), in.Min)}
	case x > in.Max || (in.MaxOpen && x == in.Max):
		return &FieldError{Field: field(), Input: true, Msg: fmt.Sprintf("%v is above the maximum %s%v", x, openWord(in.MaxOpen, "<", "<="), in.Max)}
	}
	req.Num[in.Slot], req.Present[i] = x, true
	return nil
}

// fieldName names the input in errors. A method value, so that callers
// build nothing unless an error is reported (decoding runs per row).
func (in *Input) fieldName() string { return in.Name }

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
			return &FieldError{Field: field(), Input: true, Msg: fmt.Sprintf("must be a bool, got %q", text)}
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
		return &FieldError{Field: field(), Input: true, Msg: fmt.Sprintf("must be %s, got %q", what, text)}
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
			return &FieldError{Field: in.Name, Input: true, Msg: "required feature is missing"}
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
