package server

import (
	"context"

	"github.com/riskforge/riskforge/vm"
)

// Tracer traces decisions; the telemetry package implements it with
// OpenTelemetry. Without one (Options.Tracer nil, the default) a decision
// pays one nil check.
type Tracer interface {
	// StartDecision begins the trace of one decision. source says where
	// the request came from ("http", "kafka", "batch" for an item of a
	// batch request); header reads its
	// propagation headers (traceparent, tracestate) and may be nil. It
	// returns nil when the decision is not sampled.
	StartDecision(ctx context.Context, source string, header func(key string) string) DecisionTrace
}

// DecisionTrace is the trace of one sampled decision.
type DecisionTrace interface {
	// Phase starts a child span (decode, evaluate, ...); call end when
	// the phase is over.
	Phase(name string) (end func())
	// Models and Windows wrap the version's model runner and window
	// store so that every model call and window update is a span.
	Models(prog *vm.Program, r vm.ModelRunner) vm.ModelRunner
	Windows(prog *vm.Program, w vm.WindowStore) vm.WindowStore
	// TraceID is the W3C trace id in hex, for logs and exemplars.
	TraceID() string
	// Inject writes the decision span's propagation headers with set,
	// so that what the decision produces continues its trace.
	Inject(set func(key, value string))
	// End records the outcome and ends the decision's span.
	End(o Outcome)
}

// Outcome is what a trace records about a decision.
type Outcome struct {
	RequestID string
	Policy    string
	Version   string
	Arm       string // rollout role of the version: champion, challenger, pinned
	Decision  string // approve, review, reject; empty when refused
	Score     float64
	Fired     int
	Degraded  bool
	Status    int    // HTTP-style status: 200, or the refusal's 4xx/5xx
	Error     string // why the request was refused
}

// trace is a nil-safe handle on a DecisionTrace plus the outcome being
// filled in; a nil *trace means not traced.
type trace struct {
	dt DecisionTrace
	o  Outcome
}

func (s *Server) startTrace(ctx context.Context, source string, header func(string) string) *trace {
	if s.tracer == nil {
		return nil
	}
	dt := s.tracer.StartDecision(ctx, source, header)
	if dt == nil {
		return nil
	}
	return &trace{dt: dt, o: Outcome{Status: 200}}
}

func noop() {}

func (t *trace) phase(name string) func() {
	if t == nil {
		return noop
	}
	return t.dt.Phase(name)
}

func (t *trace) id() string {
	if t == nil {
		return ""
	}
	return t.dt.TraceID()
}

// refused records a refusal.
func (t *trace) refused(e *httpError) {
	if t != nil && e != nil {
		t.o.Status, t.o.Error = e.status, e.msg
		if e.field != "" {
			t.o.Error = e.field + ": " + e.msg
		}
	}
}

// decided records a decision.
func (t *trace) decided(e *entry, d *vm.Decision) {
	if t == nil {
		return
	}
	t.o.Policy, t.o.Version, t.o.Arm = e.v.Policy, e.v.Version, e.role.String()
	t.o.Decision, t.o.Score, t.o.Fired, t.o.Degraded = d.Action.String(), d.Score, len(d.Fired), d.Degraded
}

func (t *trace) end(rid string) {
	if t != nil {
		t.o.RequestID = rid
		t.dt.End(t.o)
	}
}
