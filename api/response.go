package api

// Decision is the answer to one request: the 200 body of POST /v1/decide
// and each decided item of a batch.
type Decision struct {
	// Index is the item's position in a batch (absent for /v1/decide).
	Index *int `json:"index,omitempty"`
	// RequestID is the request's id, the one given or one riskd made.
	RequestID string `json:"request_id"`
	// Policy and Version name the policy version that decided (under a
	// rollout, a challenger's version; also in X-Policy-Version).
	Policy  string `json:"policy"`
	Version string `json:"version"`
	// Decision is the action: approve, review or reject.
	Decision string `json:"decision"`
	// Score is the decision's score (the sigmoid of the rules' weights
	// plus the bias, or the policy's own formula).
	Score float64 `json:"score"`
	// Rules are the rules that fired, in policy order.
	Rules []FiredRule `json:"rules"`
	// Models are the model calls that ran, in declaration order.
	Models []ModelOutput `json:"models"`
	// Degraded is true when a model call failed and its on_error value
	// was used.
	Degraded bool `json:"degraded"`
	// LatencyUS is riskd's time for the decision, in microseconds.
	LatencyUS int64 `json:"latency_us"`
}

// FiredRule is one rule that fired.
type FiredRule struct {
	Name   string  `json:"name"`
	Reason string  `json:"reason"`
	Weight float64 `json:"weight"`
	// Action is set when the rule forces an action (its weight is 0).
	Action string `json:"action,omitempty"`
}

// ModelOutput is one model call that ran.
type ModelOutput struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	// Degraded is true when the call failed and value is its on_error.
	Degraded bool `json:"degraded"`
}

// BatchResponse is the 200 body of POST /v1/decide/batch: one result
// per item, in order. A refused item does not fail the batch; it is an
// Error in its place.
type BatchResponse struct {
	// RequestID is the batch's id; items without their own id get
	// RequestID-INDEX.
	RequestID string `json:"request_id"`
	// Count is the number of items.
	Count int `json:"count"`
	// Results hold one decision or error per item.
	Results []BatchResult `json:"results"`
	// Errors counts the refused items.
	Errors int `json:"errors"`
	// Incomplete is true when the request deadline passed before every
	// item was evaluated (those items are errors with CodeDeadline).
	Incomplete bool `json:"incomplete"`
}

// BatchResult is one item of a batch: a Decision, or, when ErrorText is
// set, an error (with Index and RequestID from the Decision part).
type BatchResult struct {
	Decision
	// ErrorText, Field and Code are an Error's fields; empty for a
	// decision.
	ErrorText string `json:"error,omitempty"`
	Field     string `json:"field,omitempty"`
	Code      Code   `json:"code,omitempty"`
}

// Failed reports whether the item was refused.
func (r *BatchResult) Failed() bool { return r.ErrorText != "" }

// Error is the body of every refused request (4xx and 5xx), and of each
// refused batch item.
type Error struct {
	// Index is the item's position in a batch (absent otherwise).
	Index *int `json:"index,omitempty"`
	// RequestID identifies the request (one riskd made when the client
	// gave none), also in X-Request-Id.
	RequestID string `json:"request_id"`
	// Error is the message, prefixed with "FIELD: " when Field is set.
	Error string `json:"error"`
	// Field is the request field at fault: "body", "event",
	// "features.NAME", a header, or a top-level key.
	Field string `json:"field,omitempty"`
	// Code is stable for programs to branch on; the message may change.
	Code Code `json:"code"`
}

// Code classifies a refusal. The set only grows within v1.
type Code string

// The error codes; docs/OPERATIONS.md lists them with their statuses.
const (
	// CodeInvalidRequest (400): the body, a feature, the event, a header
	// or the request id is malformed or out of bounds; Field names it.
	CodeInvalidRequest Code = "invalid_request"
	// CodeUnauthorized (401): the admin token or the request signature
	// is missing or wrong.
	CodeUnauthorized Code = "unauthorized"
	// CodeForbidden (403): the caller may not do this (pin a version
	// that is not pinnable, use a disabled admin API).
	CodeForbidden Code = "forbidden"
	// CodeNotFound (404): no such endpoint, or the named policy is not
	// loaded (Field is "policy").
	CodeNotFound Code = "not_found"
	// CodeMethodNotAllowed (405): the endpoint takes another method
	// (see the Allow header).
	CodeMethodNotAllowed Code = "method_not_allowed"
	// CodeTimeout (408): the body did not arrive within the request
	// timeout.
	CodeTimeout Code = "timeout"
	// CodeTooLarge (413): the body or the batch is over its limit.
	CodeTooLarge Code = "too_large"
	// CodeOverloaded (429): the server is at max_inflight; retry after
	// the Retry-After header.
	CodeOverloaded Code = "overloaded"
	// CodeInternal (500): the evaluation or the server failed; the
	// server log has the details.
	CodeInternal Code = "internal"
	// CodeUnavailable (503): the decision could not be made durable
	// (audit) or the server cannot serve it now.
	CodeUnavailable Code = "unavailable"
	// CodeDeadline: a batch item not evaluated because the batch's
	// request deadline passed (batch items only).
	CodeDeadline Code = "deadline_exceeded"
)

// CodeForStatus is the code of a refusal with HTTP status status.
func CodeForStatus(status int) Code {
	switch status {
	case 400:
		return CodeInvalidRequest
	case 401:
		return CodeUnauthorized
	case 403:
		return CodeForbidden
	case 404:
		return CodeNotFound
	case 405:
		return CodeMethodNotAllowed
	case 408:
		return CodeTimeout
	case 413:
		return CodeTooLarge
	case 429:
		return CodeOverloaded
	case 503:
		return CodeUnavailable
	}
	if status >= 400 && status < 500 {
		return CodeInvalidRequest
	}
	return CodeInternal
}
