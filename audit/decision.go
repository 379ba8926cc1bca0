package audit

import (
	"fmt"

	"github.com/riskforge/riskforge/audit/schema"
)

// The record schema lives in audit/schema (which the server imports
// without depending on the log); these names keep it reachable from here.
type (
	// Decision is schema.Decision: a decision record in full.
	Decision = schema.Decision
	// FiredRule is schema.FiredRule.
	FiredRule = schema.FiredRule
	// ModelOutput is schema.ModelOutput.
	ModelOutput = schema.ModelOutput
	// WindowRead is schema.WindowRead.
	WindowRead = schema.WindowRead
	// PolicyDict is schema.PolicyDict: a policy version's dictionary.
	PolicyDict = schema.PolicyDict
	// DictRule is schema.DictRule.
	DictRule = schema.DictRule
	// DictModel is schema.DictModel.
	DictModel = schema.DictModel
	// Compact is schema.Compact: a format 2 decision body.
	Compact = schema.Compact
	// RuleHit is schema.RuleHit.
	RuleHit = schema.RuleHit
	// ModelHit is schema.ModelHit.
	ModelHit = schema.ModelHit
	// WindowHit is schema.WindowHit.
	WindowHit = schema.WindowHit
	// Dict is schema.Dict: constants records refer to.
	Dict = schema.Dict
)

// NewDict is schema.NewDict.
func NewDict(body []byte) *Dict { return schema.NewDict(body) }

// AppendCompact is schema.AppendCompact.
func AppendCompact(b []byte, d *Compact) []byte { return schema.AppendCompact(b, d) }

// EncodePolicyDict is schema.EncodePolicyDict.
func EncodePolicyDict(d *PolicyDict) ([]byte, error) { return schema.EncodePolicyDict(d) }

// IsCompact is schema.IsCompact.
func IsCompact(body []byte) bool { return schema.IsCompact(body) }

// DecodeDecision is schema.DecodeDecision.
func DecodeDecision(requestID string, body, dict []byte) (*Decision, error) {
	return schema.DecodeDecision(requestID, body, dict)
}

// Decision decodes the record as a decision (format 1 or 2).
func (it *Item) Decision() (*Decision, error) {
	if it.Body == nil {
		return nil, fmt.Errorf("record %d is sealed and no key opened it", it.Index)
	}
	if it.IsDict {
		return nil, fmt.Errorf("record %d is a dictionary, not a decision", it.Index)
	}
	if it.HasRef && it.Dict == nil {
		return nil, fmt.Errorf("record %d refers to dictionary record %d, which is sealed and no key opened it", it.Index, it.Ref)
	}
	return DecodeDecision(it.RequestID, it.Body, it.Dict)
}

// ScanDecisions is Scan over the decision records alone: it passes the
// dictionary records over and calls fn with each decision decoded; a
// record that does not decode (sealed without kr, damaged) stops it with
// the error.
func ScanDecisions(dir string, kr *Keyring, fn func(it *Item, d *Decision) error) error {
	return Scan(dir, kr, func(it *Item) error {
		if it.IsDict {
			return nil
		}
		d, err := it.Decision()
		if err != nil {
			return err
		}
		return fn(it, d)
	})
}
