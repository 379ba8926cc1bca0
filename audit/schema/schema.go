// Package schema is the audit record schema: the full decision view, a
// policy version's dictionary and the compact (format 2) decision body,
// with their encoders and decoders, and the Dict a record refers to. It
// imports nothing of the project, so that the server can encode records
// without depending on the log (package audit) that stores them.
package schema

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Decision is a decision record in full, the view riskd audit show and
// tail print and window replay reads (and, in record format 1, the JSON
// body itself). It is also written for a request refused for its
// signature: Status 401 and Error, no decision. The schema is in
// docs/AUDIT.md.
type Decision struct {
	RequestID string `json:"request_id"`
	Endpoint  string `json:"endpoint"` // decide, batch or kafka
	// BatchID and Index place a batch item in its batch.
	BatchID string `json:"batch_id,omitempty"`
	Index   *int   `json:"index,omitempty"`
	Status  int    `json:"status"`
	Error   string `json:"error,omitempty"`
	// InputSM3 is the SM3 of the request body (the batch item) as received.
	InputSM3     string                     `json:"input_sm3"`
	Policy       string                     `json:"policy,omitempty"`
	Version      string                     `json:"version,omitempty"`
	PolicyDigest string                     `json:"policy_digest,omitempty"`
	Arm          string                     `json:"arm,omitempty"` // champion, challenger, pinned
	Decision     string                     `json:"decision,omitempty"`
	Score        float64                    `json:"score"`
	Degraded     bool                       `json:"degraded"`
	LatencyUS    int64                      `json:"latency_us"`
	Rules        []FiredRule                `json:"rules"`
	Models       []ModelOutput              `json:"models"`
	Windows      []WindowRead               `json:"windows"`
	Features     map[string]json.RawMessage `json:"features,omitempty"`
	// WindowGen is the window store generation the decision's
	// observations ran under (0 or absent: a store without generations,
	// such as Redis). A window snapshot records the generation of its
	// cut; replay skips records it already holds.
	WindowGen uint64 `json:"window_gen,omitempty"`
}

// FiredRule is a rule that fired.
type FiredRule struct {
	Name   string  `json:"name"`
	Reason string  `json:"reason"`
	Weight float64 `json:"weight"`
	Action string  `json:"action,omitempty"` // rules that force an action
}

// ModelOutput is a model of the policy: its file, digest and output.
type ModelOutput struct {
	Name     string  `json:"name"`
	Path     string  `json:"path"`
	SHA256   string  `json:"sha256,omitempty"`
	Ran      bool    `json:"ran"`
	Value    float64 `json:"value"`
	Degraded bool    `json:"degraded"`
}

// WindowRead is one velocity window observation: event (T, V, S) added
// under key to window number Window, whose aggregate then read Value.
// Replaying the reads of the records after a snapshot, in log order,
// rebuilds the windows.
type WindowRead struct {
	Window int     `json:"window"`
	Name   string  `json:"name"`
	Key    string  `json:"key"`
	KeyNum float64 `json:"key_num"`
	T      float64 `json:"t"`
	V      float64 `json:"v"`
	S      string  `json:"s,omitempty"`
	Value  float64 `json:"value"`
	// Counted is false (written only then) when the window read the
	// event without adding it: its on events or where condition
	// excluded it. Replay must not add such an event.
	Counted *bool `json:"counted,omitempty"`
}

// PolicyDict is the dictionary of one policy version (record format 2):
// what every decision made with it shares. Rules, Models and Windows are
// in the policy's order; decision records refer to them by position.
type PolicyDict struct {
	Kind         string      `json:"kind"` // "policy"
	Policy       string      `json:"policy"`
	Version      string      `json:"version"`
	PolicyDigest string      `json:"policy_digest"`
	Rules        []DictRule  `json:"rules"`
	Models       []DictModel `json:"models"`
	Windows      []string    `json:"windows"`
}

// DictRule is a rule's constants: its name, reason and, for a rule that
// forces an action, the action.
type DictRule struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
	Action string `json:"action,omitempty"`
}

// DictModel is a model's constants: its name, file and SHA-256.
type DictModel struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256,omitempty"`
}

// EncodePolicyDict returns the body of a policy version's dictionary.
func EncodePolicyDict(d *PolicyDict) ([]byte, error) {
	d.Kind = "policy"
	return json.Marshal(d)
}

// Compact is a decision in record format 2: only what varies from one
// decision to the next; the policy version's constants are in the
// dictionary the record refers to. AppendCompact encodes it, and
// DecodeDecision expands it back to the full Decision.
type Compact struct {
	Endpoint  string
	BatchID   string
	Index     int // position in its batch; -1 when not a batch item
	Status    int
	Error     string
	InputSM3  [32]byte
	Arm       string
	Decision  string
	Score     float64
	Degraded  bool
	LatencyUS int64
	WindowGen uint64
	Rules     []RuleHit
	Models    []ModelHit
	Windows   []WindowHit
	// Features is the request's features as a JSON object (masked), or
	// nil.
	Features []byte
}

// RuleHit is a fired rule: its position in the dictionary and weight.
type RuleHit struct {
	Rule   int
	Weight float64
}

// ModelHit is a model's output, in the dictionary's model order.
type ModelHit struct {
	Ran, Degraded bool
	Value         float64
}

// WindowHit is one window observation (see WindowRead).
type WindowHit struct {
	Window     int
	Key        string
	KeyNum     float64
	T, V       float64
	S          string
	NotCounted bool
	Value      float64
}

// compactTag starts a format 2 decision body; a format 1 body is JSON and
// starts with '{'.
const compactTag = 0xD2

// AppendCompact appends the format 2 body of d to b. Layout: the tag
// 0xD2, then in order endpoint, batch id, index+1, status, error, input
// SM3 (32 bytes), arm, decision, score, flags (bit 0 degraded), latency,
// window generation, the fired rules (count, then rule and weight), the
// models (count, then flags bit 0 ran, bit 1 degraded, and value), the
// windows (count, then window, key, key_num, t, v, s, flags bit 0 not
// counted, value) and the features. Strings are a uvarint length and
// bytes, integers uvarints (the index and latency zig-zag varints),
// floats 8 bytes little endian.
func AppendCompact(b []byte, d *Compact) []byte {
	b = append(b, compactTag)
	b = appendStr(b, d.Endpoint)
	b = appendStr(b, d.BatchID)
	b = binary.AppendVarint(b, int64(d.Index)+1)
	b = binary.AppendUvarint(b, uint64(d.Status))
	b = appendStr(b, d.Error)
	b = append(b, d.InputSM3[:]...)
	b = appendStr(b, d.Arm)
	b = appendStr(b, d.Decision)
	b = appendF64(b, d.Score)
	b = append(b, flag(d.Degraded, 1))
	b = binary.AppendVarint(b, d.LatencyUS)
	b = binary.AppendUvarint(b, d.WindowGen)
	b = binary.AppendUvarint(b, uint64(len(d.Rules)))
	for _, r := range d.Rules {
		b = binary.AppendUvarint(b, uint64(r.Rule))
		b = appendF64(b, r.Weight)
	}
	b = binary.AppendUvarint(b, uint64(len(d.Models)))
	for _, m := range d.Models {
		b = append(b, flag(m.Ran, 1)|flag(m.Degraded, 2))
		b = appendF64(b, m.Value)
	}
	b = binary.AppendUvarint(b, uint64(len(d.Windows)))
	for i := range d.Windows {
		w := &d.Windows[i]
		b = binary.AppendUvarint(b, uint64(w.Window))
		b = appendStr(b, w.Key)
		b = appendF64(b, w.KeyNum)
		b = appendF64(b, w.T)
		b = appendF64(b, w.V)
		b = appendStr(b, w.S)
		b = append(b, flag(w.NotCounted, 1))
		b = appendF64(b, w.Value)
	}
	return appendStr(b, string(d.Features))
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendF64(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

func flag(v bool, bit byte) byte {
	if v {
		return bit
	}
	return 0
}

// IsCompact reports whether a record body is a format 2 decision (which
// needs its dictionary to be read).
func IsCompact(body []byte) bool { return len(body) > 0 && body[0] == compactTag }

// DecodeDecision returns the full decision of a record body: a format 1
// JSON body, or a format 2 compact body expanded with dict, the body of
// the dictionary record it refers to (nil when it refers to none). It
// never panics on bad input.
func DecodeDecision(requestID string, body, dict []byte) (*Decision, error) {
	if len(body) > 0 && body[0] == '{' {
		var d Decision
		if err := json.Unmarshal(body, &d); err != nil {
			return nil, fmt.Errorf("decision record: %w", err)
		}
		return &d, nil
	}
	var c Compact
	if err := decodeCompact(body, &c); err != nil {
		return nil, err
	}
	var pd PolicyDict
	if dict != nil {
		if err := json.Unmarshal(dict, &pd); err != nil {
			return nil, fmt.Errorf("decision dictionary: %w", err)
		}
		if pd.Kind != "policy" {
			return nil, fmt.Errorf("decision dictionary of kind %q, not policy", pd.Kind)
		}
	}
	d := &Decision{RequestID: requestID, Endpoint: c.Endpoint, BatchID: c.BatchID, Status: c.Status, Error: c.Error,
		InputSM3: hex.EncodeToString(c.InputSM3[:]), Policy: pd.Policy, Version: pd.Version, PolicyDigest: pd.PolicyDigest,
		Arm: c.Arm, Decision: c.Decision, Score: c.Score, Degraded: c.Degraded, LatencyUS: c.LatencyUS, WindowGen: c.WindowGen,
		Rules: []FiredRule{}, Models: []ModelOutput{}, Windows: []WindowRead{}}
	if c.Index >= 0 {
		i := c.Index
		d.Index = &i
	}
	for _, r := range c.Rules {
		if r.Rule >= len(pd.Rules) {
			return nil, fmt.Errorf("decision record: fired rule %d is not in its dictionary (%d rules)", r.Rule, len(pd.Rules))
		}
		dr := pd.Rules[r.Rule]
		d.Rules = append(d.Rules, FiredRule{Name: dr.Name, Reason: dr.Reason, Weight: r.Weight, Action: dr.Action})
	}
	for i, m := range c.Models {
		if i >= len(pd.Models) {
			return nil, fmt.Errorf("decision record: model %d is not in its dictionary (%d models)", i, len(pd.Models))
		}
		dm := pd.Models[i]
		d.Models = append(d.Models, ModelOutput{Name: dm.Name, Path: dm.Path, SHA256: dm.SHA256, Ran: m.Ran, Value: m.Value, Degraded: m.Degraded})
	}
	for _, w := range c.Windows {
		if w.Window >= len(pd.Windows) {
			return nil, fmt.Errorf("decision record: window %d is not in its dictionary (%d windows)", w.Window, len(pd.Windows))
		}
		wr := WindowRead{Window: w.Window, Name: pd.Windows[w.Window], Key: w.Key, KeyNum: w.KeyNum, T: w.T, V: w.V, S: w.S, Value: w.Value}
		if w.NotCounted {
			f := false
			wr.Counted = &f
		}
		d.Windows = append(d.Windows, wr)
	}
	if len(c.Features) > 0 {
		if err := json.Unmarshal(c.Features, &d.Features); err != nil {
			return nil, fmt.Errorf("decision record features: %w", err)
		}
	}
	return d, nil
}

// errCompact is a format 2 body that does not decode.
var errCompact = errors.New("decision record: truncated or malformed compact body")

type reader struct {
	b   []byte
	err bool
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.err = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint(limit uint64) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > limit {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) f64() float64 {
	if len(r.b) < 8 {
		r.err = true
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint(math.MaxInt32)
	if r.err || n > uint64(len(r.b)) {
		r.err = true
		return ""
	}
	s := r.b[:n]
	r.b = r.b[n:]
	if !utf8.Valid(s) {
		r.err = true
	}
	return string(s)
}

// decodeCompact decodes a format 2 body into c.
func decodeCompact(body []byte, c *Compact) error {
	if len(body) == 0 || body[0] != compactTag {
		return errCompact
	}
	r := &reader{b: body[1:]}
	const maxInt = math.MaxInt32
	c.Endpoint = r.str()
	c.BatchID = r.str()
	idx := r.varint()
	if idx < 0 || idx > maxInt {
		r.err = true
	}
	c.Index = int(idx) - 1
	c.Status = int(r.uvarint(999))
	c.Error = r.str()
	if len(r.b) < 32 {
		return errCompact
	}
	copy(c.InputSM3[:], r.b)
	r.b = r.b[32:]
	c.Arm = r.str()
	c.Decision = r.str()
	c.Score = r.f64()
	fl := r.byte()
	c.Degraded = fl&1 != 0
	if fl&^1 != 0 {
		r.err = true
	}
	c.LatencyUS = r.varint()
	c.WindowGen = r.uvarint(math.MaxUint64)
	n := r.uvarint(uint64(len(r.b)))
	for range n {
		if r.err {
			break
		}
		c.Rules = append(c.Rules, RuleHit{Rule: int(r.uvarint(maxInt)), Weight: r.f64()})
	}
	n = r.uvarint(uint64(len(r.b)))
	for range n {
		if r.err {
			break
		}
		fl := r.byte()
		if fl&^3 != 0 {
			r.err = true
		}
		c.Models = append(c.Models, ModelHit{Ran: fl&1 != 0, Degraded: fl&2 != 0, Value: r.f64()})
	}
	n = r.uvarint(uint64(len(r.b)))
	for range n {
		if r.err {
			break
		}
		w := WindowHit{Window: int(r.uvarint(maxInt)), Key: r.str(), KeyNum: r.f64(), T: r.f64(), V: r.f64(), S: r.str()}
		fl := r.byte()
		if fl&^1 != 0 {
			r.err = true
		}
		w.NotCounted, w.Value = fl&1 != 0, r.f64()
		c.Windows = append(c.Windows, w)
	}
	if f := r.str(); f != "" {
		c.Features = []byte(f)
	}
	if r.err || len(r.b) != 0 {
		return errCompact
	}
	return nil
}

// A Dict is constants that many records share, such as a policy
// version's rule names and reasons and its model files. The audit log
// writes it once per segment, as a dictionary record before the first
// record that refers to it, and records appended with a Dict carry only
// its index: a smaller record is less to hash, write and sync. Its body
// must not change once made; the log tells dictionaries apart by
// pointer.
type Dict struct{ body []byte }

// NewDict returns a dictionary holding body (kept, not copied).
func NewDict(body []byte) *Dict { return &Dict{body: body} }

// Body returns the dictionary's bytes.
func (d *Dict) Body() []byte { return d.body }
