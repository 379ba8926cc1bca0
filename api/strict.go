package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/riskforge/riskforge/vm"
)

// encoding/json takes the last of duplicate keys and folds invalid UTF-8
// into U+FFFD. In a decision request either would be silently wrong: the
// order of two "amount" keys would decide between approve and reject, and
// two different ids with invalid bytes would become one velocity-window
// key. The reference decoder refuses both, naming the field.

// checkDuplicates refuses a key that appears twice in one object, at any
// depth. Top-level keys are compared case-insensitively, as encoding/json
// matches them to the request's fields that way. Syntax errors are left
// to the decoder, which reports them in its words.
func checkDuplicates(data []byte) error {
	err := walkJSON(json.NewDecoder(bytes.NewReader(data)), "", 0)
	var fe *vm.FieldError
	if errors.As(err, &fe) {
		return fe
	}
	return nil
}

// walkJSON reads one value, checking the keys of every object in it.
func walkJSON(dec *json.Decoder, path string, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '[':
		for dec.More() {
			if err := walkJSON(dec, path, depth+1); err != nil {
				return err
			}
		}
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := kt.(string)
			field, norm := key, key
			if key == "" {
				field = `""` // the empty key, still named
			}
			if path != "" {
				field = path + "." + field
			}
			if depth == 0 {
				norm = strings.ToLower(key)
			}
			if seen[norm] {
				return &vm.FieldError{Field: field, Msg: "appears twice in the same object; send each key once"}
			}
			seen[norm] = true
			if err := walkJSON(dec, field, depth+1); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing bracket
	return err
}

// checkUTF8 refuses a body that is not valid UTF-8, naming the string
// feature that holds the invalid bytes when it is one the policy reads.
func checkUTF8(p *vm.Program, data []byte, features map[string]json.RawMessage) error {
	if utf8.Valid(data) {
		return nil
	}
	for i := range p.Inputs {
		in := &p.Inputs[i]
		if raw, ok := features[in.Name]; ok && !utf8.Valid(raw) {
			return &vm.FieldError{Field: in.Name, Input: true, Msg: "is not valid UTF-8"}
		}
	}
	return &vm.FieldError{Field: "body", Msg: "is not valid UTF-8 (in the event, the request_id or a feature the policy does not read)"}
}
