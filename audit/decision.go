package audit

import "encoding/json"

// Decision is the body riskd writes for each decision (and for a request
// refused for its signature: Status 401 and Error, no decision). It is the
// schema of docs/AUDIT.md; window replay reads Windows.
type Decision struct {
	RequestID string `json:"request_id"`
	Endpoint  string `json:"endpoint"` // decide or batch
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
